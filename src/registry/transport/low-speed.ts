/**
 * The low-speed limit of registry requests, after curl's `--speed-limit`/`--speed-time`
 * (`CURLOPT_LOW_SPEED_LIMIT`/`CURLOPT_LOW_SPEED_TIME`): a request whose transfer stays below a
 * floor of bytes per second for a whole window of seconds is aborted, so a server that stalls or
 * drips a byte now and then cannot keep a fetch running forever. The window runs from the moment
 * the request is sent, so a server that accepts the connection and never answers is caught too.
 *
 * The watch samples the bytes counted in fixed ticks (a fifth of the window, between 50 ms and
 * 1 s) and aborts when the bytes of the last whole window are fewer than `bytesPerSecond ×
 * seconds`. The abort reason is an `Error` with code {@link LOW_SPEED_CODE}, which the retry
 * logic of `http.ts` treats like a reset connection. Bytes are counted when the reader takes them:
 * a consumer that stops reading for the whole window (a stalled disk) is treated as a stall too,
 * as curl does.
 */
import { OcikitError } from '../../errors.js';

/**
 * The low-speed limit: a request is aborted (and retried) when fewer than `bytesPerSecond ×
 * seconds` bytes arrive in any window of `seconds` seconds from the moment it is sent.
 * @category Registry
 */
export interface LowSpeedLimit {
  /** The floor in bytes per second (0 turns the limit off). */
  readonly bytesPerSecond: number;
  /** The window in seconds over which the rate must stay under the floor before the request ends. */
  readonly seconds: number;
}

/**
 * The default: below 1 KiB/s for 30 s. 1 KiB/s is 8 kbit/s, far under any link a registry pull
 * works over, and 30 s is curl's default window; a working link never averages that little for
 * that long, a dead one is found in half a minute.
 */
export const DEFAULT_LOW_SPEED: LowSpeedLimit = { bytesPerSecond: 1024, seconds: 30 };

/** The `code` of the abort reason of a request that fell under the low-speed limit. */
export const LOW_SPEED_CODE = 'OCIKIT_LOW_SPEED';

/**
 * The limit with defaults filled in and checked.
 * @throws OcikitError `INVALID_INPUT` for a floor that is not an integer ≥ 0 or a window that is
 *   not a number of seconds > 0 (at most a day).
 */
export function lowSpeedLimit(given: Partial<LowSpeedLimit> | undefined): LowSpeedLimit {
  const limit = { ...DEFAULT_LOW_SPEED, ...given };
  if (!Number.isSafeInteger(limit.bytesPerSecond) || limit.bytesPerSecond < 0)
    throw new OcikitError(
      'INVALID_INPUT',
      `low-speed limit ${JSON.stringify(limit.bytesPerSecond)} is not a whole number of bytes per second`,
    );
  if (!Number.isFinite(limit.seconds) || limit.seconds <= 0 || limit.seconds > 86_400)
    throw new OcikitError(
      'INVALID_INPUT',
      `low-speed time ${JSON.stringify(limit.seconds)} is not a number of seconds from above 0 to 86400`,
    );
  return limit;
}

/** One request's watch: count its bytes, stop it when the request is over. */
export interface SpeedWatch {
  /** The signal to send the request with: the caller's, and aborted by the watch on a stall. */
  readonly signal: AbortSignal | undefined;
  /** Counts `n` bytes received. */
  add(n: number): void;
  /** Marks the response headers as received (only changes the wording of a stall). */
  answered(): void;
  /** Ends the watch (idempotent). */
  stop(): void;
}

const OFF: Omit<SpeedWatch, 'signal'> = { add: () => undefined, answered: () => undefined, stop: () => undefined };

/** Starts watching one request under `limit`; `signal` is the caller's. */
export function watchSpeed(limit: LowSpeedLimit, signal: AbortSignal | undefined): SpeedWatch {
  if (limit.bytesPerSecond === 0) return { ...OFF, signal };
  const windowMs = limit.seconds * 1000;
  const tickMs = Math.min(1000, Math.max(50, windowMs / 5));
  const ticks = Math.ceil(windowMs / tickMs);
  const floor = limit.bytesPerSecond * limit.seconds;
  const controller = new AbortController();
  const samples: number[] = [];
  let current = 0;
  let answered = false;
  const timer = setInterval(() => {
    samples.push(current);
    current = 0;
    if (samples.length > ticks) samples.shift();
    if (samples.length < ticks || samples.reduce((a, b) => a + b, 0) >= floor) return;
    clearInterval(timer);
    const rate = `below ${limit.bytesPerSecond} bytes/s for ${limit.seconds} s (the low-speed limit)`;
    const what = answered ? `the transfer stayed ${rate}` : `no response: the transfer stayed ${rate}`;
    controller.abort(Object.assign(new Error(what), { code: LOW_SPEED_CODE }));
  }, tickMs);
  timer.unref();
  return {
    signal: signal ? AbortSignal.any([signal, controller.signal]) : controller.signal,
    add: (n) => {
      current += n;
    },
    answered: () => {
      answered = true;
    },
    stop: () => clearInterval(timer),
  };
}
