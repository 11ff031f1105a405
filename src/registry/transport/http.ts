/**
 * HTTP for the registry client: one request with retries, exponential backoff and redirects, and
 * the reading of bodies with a size limit. Behaviour follows containers/image
 * `docker/docker_client.go` and go-containerregistry `pkg/v1/remote/transport/retry.go`:
 *
 * - 429, 500, 502, 503, 504 and connection errors (reset, refused, timeouts) are retried with
 *   exponential backoff, bounded by {@link RetryPolicy}; `Retry-After` (seconds) is honoured up to
 *   the maximum delay. A body that breaks or stalls is retried the same way ({@link retryBody}).
 * - Every request is watched by the low-speed limit (`low-speed.ts`): one whose transfer stays
 *   under the floor for the window is aborted and counts as a failed attempt.
 * - Redirects (301, 302, 303, 307, 308) to http(s) URLs are followed, at most 10. When a redirect
 *   leaves the origin, every header but `Accept`, `Range` and `User-Agent` is dropped, for the rest
 *   of the chain: blob storage behind a registry never sees its credentials. The response says
 *   which URL answered ({@link HttpResponse.url}), so the auth flow can tell the registry's own
 *   answers from another origin's.
 * - An abort of the caller's signal ends everything with `INTERRUPTED`, also during a backoff.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { OcikitError, interrupted, isOcikitError } from '../../errors.js';
import { escapeControl } from '../../internal/text.js';
import { type BodySink, type BodyTarget, type BulkBody, bulkGet } from './bulk.js';
import {
  type ConnectionSettings,
  type DispatcherPool,
  bulkRoute,
  dispatcherFor,
  request,
  untrustedCertificateHint,
} from './dispatcher.js';
import { LOW_SPEED_CODE, type LowSpeedLimit, type SpeedWatch, watchSpeed } from './low-speed.js';

/**
 * How often and how patiently failed requests are retried.
 * @category Registry
 */
export interface RetryPolicy {
  /** Attempts in total for one request (≥ 1); also the bound on resumes of one blob. */
  readonly attempts: number;
  /** Delay before the first retry; doubled for each further one. */
  readonly baseDelayMs: number;
  /** Upper bound of one delay (also caps `Retry-After`). */
  readonly maxDelayMs: number;
}

/** The default: 5 attempts, 200 ms, 400 ms, 800 ms, 1.6 s between them. */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 200, maxDelayMs: 5000 };

/** What a request needs from the client: its retry policy, low-speed limit, `User-Agent` and dispatchers. */
export interface HttpClient {
  readonly retry: RetryPolicy;
  readonly lowSpeed: LowSpeedLimit;
  readonly userAgent: string;
  /** The dispatchers, one per connection setting and proxy (`dispatcher.ts`). */
  readonly connections: DispatcherPool;
}

/** A response body, from undici or from a bulk GET (`bulk.ts`): a stream of Buffers with `dump()`. */
export type ResponseBody = Readable & {
  /** Reads and drops the rest of the body (a bounded amount; past it the connection is closed). */
  dump(): Promise<void>;
};

/** A response of {@link send}, body unread. */
export interface HttpResponse {
  readonly statusCode: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: ResponseBody;
  /** The URL that answered: the one asked for, or where its redirects ended. */
  readonly url: URL;
  /** The low-speed watch of the request; {@link pumpBody} counts the body's bytes into it. */
  readonly watch: SpeedWatch;
}

const MAX_REDIRECTS = 10;
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);
/** The only request headers kept when a redirect leaves the origin: none of them is a credential. */
const CROSS_ORIGIN_HEADERS = new Set(['accept', 'range', 'user-agent']);
const RETRY_ERRORS = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  LOW_SPEED_CODE,
]);

/** The first system or undici error code along the `cause` chain (an abort does not count). */
function errCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR_ABORTED') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** True for errors worth a retry (a reset, refused, timed-out or stalled connection). */
export function isRetryableError(err: unknown): boolean {
  if (isOcikitError(err)) return false;
  const code = errCode(err);
  return code !== undefined && RETRY_ERRORS.has(code);
}

/**
 * A lower error as message text: its message, with its system or undici code appended when the
 * message does not already name it (`other side closed (UND_ERR_SOCKET)`). Control characters are
 * escaped: a lower error's message may quote what a server sent.
 */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = errCode(err);
    const text =
      code && code !== LOW_SPEED_CODE && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
    return escapeControl(text) + untrustedCertificateHint(code);
  }
  return escapeControl(String(err));
}

/**
 * Waits before retry number `attempt + 1`: `baseDelayMs · 2^attempt`, or `retryAfter` seconds when
 * the server sent one, never more than `maxDelayMs`.
 * @throws OcikitError `INTERRUPTED` when `signal` aborts during the wait.
 */
export async function backoff(
  policy: RetryPolicy,
  attempt: number,
  what: string,
  signal: AbortSignal | undefined,
  retryAfter?: string | string[],
): Promise<void> {
  const ra = typeof retryAfter === 'string' ? Number(retryAfter) : Number.NaN;
  const base = Number.isFinite(ra) && ra >= 0 ? ra * 1000 : policy.baseDelayMs * 2 ** attempt;
  await sleep(Math.min(base, policy.maxDelayMs), undefined, signal ? { signal } : undefined).catch(() => {
    throw interrupted(what, signal);
  });
}

/** Options of {@link send}. */
export interface SendOptions {
  readonly method?: 'GET' | 'HEAD' | 'POST' | undefined;
  readonly headers?: Record<string, string> | undefined;
  /** The request body (a token request's form), sent again on each attempt. */
  readonly body?: string | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Attempts override (1 = no retry). */
  readonly attempts?: number | undefined;
  /** Follow redirects (default true). */
  readonly redirects?: boolean | undefined;
}

/**
 * Sends one hop: a GET that no proxy applies to by `bulk.ts`, anything else (a token POST, every
 * request through a proxy) by undici, which is then loaded on first use.
 */
async function sendHop(
  client: HttpClient,
  target: URL,
  conn: ConnectionSettings,
  opts: SendOptions,
  headers: Record<string, string>,
  signal: AbortSignal | undefined,
): Promise<{ statusCode: number; headers: IncomingHttpHeaders; body: ResponseBody }> {
  const route = (opts.method ?? 'GET') === 'GET' ? bulkRoute(client.connections, target, conn) : undefined;
  if (route !== undefined) {
    return bulkGet(client.connections.bulk, { url: target, headers, key: route.key, tls: route.tls, signal });
  }
  return request(dispatcherFor(client.connections, target, conn), {
    origin: target.origin,
    path: `${target.pathname}${target.search}`,
    method: opts.method ?? 'GET',
    headers,
    body: opts.body ?? null,
    signal: signal ?? null,
  });
}

/** The headers that may follow a redirect to another origin (see the module header). */
function crossOriginHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => CROSS_ORIGIN_HEADERS.has(k.toLowerCase())));
}

/** The next URL of a redirect, refusing anything but http(s). */
function redirectTarget(location: string, from: URL, what: string): URL {
  let next: URL;
  try {
    next = new URL(location, from);
  } catch (err) {
    throw new OcikitError('REGISTRY', `${what}: redirected to an invalid URL`, { cause: err });
  }
  if (next.protocol !== 'http:' && next.protocol !== 'https:')
    throw new OcikitError('REGISTRY', `${what}: redirected to a ${escapeControl(next.protocol)} URL`);
  return next;
}

/**
 * One HTTP request with retries and redirects, every hop through the dispatcher for its URL and
 * `conn` (the registry's TLS settings; a proxy when the environment names one for that URL).
 * `what` names the request in errors.
 * @returns the final response, body unread.
 * @throws OcikitError `REGISTRY` when every attempt failed, `INTERRUPTED`.
 */
export async function send(
  client: HttpClient,
  url: URL,
  conn: ConnectionSettings,
  what: string,
  opts: SendOptions = {},
): Promise<HttpResponse> {
  const attempts = Math.max(1, opts.attempts ?? client.retry.attempts);
  const signal = opts.signal;
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (signal?.aborted) throw interrupted(what, signal);
    let target = url;
    let headers: Record<string, string> = { 'user-agent': client.userAgent, ...opts.headers };
    let retryAfter: string | string[] | undefined;
    let watch: SpeedWatch | undefined;
    try {
      for (let hop = 0; ; hop++) {
        watch = watchSpeed(client.lowSpeed, signal);
        const res = await sendHop(client, target, conn, opts, headers, watch.signal);
        watch.answered();
        const loc = res.headers.location;
        if (opts.redirects !== false && REDIRECT_STATUS.has(res.statusCode) && typeof loc === 'string') {
          await res.body.dump();
          watch.stop();
          if (hop >= MAX_REDIRECTS) throw new OcikitError('REGISTRY', `${what}: more than ${MAX_REDIRECTS} redirects`);
          const next = redirectTarget(loc, target, what);
          // Once stripped, stays stripped: coming back to the origin does not bring credentials back.
          if (next.origin !== target.origin) headers = crossOriginHeaders(headers);
          target = next;
          continue;
        }
        if (RETRY_STATUS.has(res.statusCode) && attempt + 1 < attempts) {
          retryAfter = res.headers['retry-after'];
          await res.body.dump();
          watch.stop();
          lastError = new OcikitError('REGISTRY', `${what}: HTTP ${res.statusCode}`);
          break;
        }
        const w = watch;
        res.body.once('end', () => w.stop()).once('close', () => w.stop());
        return { statusCode: res.statusCode, headers: res.headers, body: res.body, url: target, watch: w };
      }
    } catch (err) {
      watch?.stop();
      if (signal?.aborted) throw interrupted(what, signal);
      if (isOcikitError(err)) throw err;
      if (!isRetryableError(err) || attempt + 1 >= attempts) {
        throw new OcikitError(
          'REGISTRY',
          `${what}: ${describeError(err)}${attempt > 0 ? ` (after ${attempt + 1} attempts)` : ''}`,
          { cause: err },
        );
      }
      lastError = err;
    }
    await backoff(client.retry, attempt, what, signal, retryAfter);
  }
  throw new OcikitError('REGISTRY', `${what}: ${describeError(lastError)} (after ${attempts} attempts)`, {
    cause: lastError,
  });
}

/** Errors of {@link pumpBody} for a body that broke or stalled: worth another attempt. */
const brokenBodies = new WeakSet<OcikitError>();

/** A `REGISTRY` error that {@link retryBody} retries: the body broke (`message`) or stalled. */
function brokenBody(cause: unknown, message?: string): OcikitError {
  const stalled = errCode(cause) === LOW_SPEED_CODE;
  const err = new OcikitError(
    'REGISTRY',
    message ?? (stalled ? describeError(cause) : `connection broke in the middle of the body: ${describeError(cause)}`),
    { cause },
  );
  brokenBodies.add(err);
  return err;
}

/**
 * Feeds a response body to `consume` chunk by chunk, counting it for the low-speed watch. A body
 * that breaks, stalls under the low-speed limit, or ends before undici saw all of it, becomes a
 * `REGISTRY` error that {@link retryBody} retries; an error of `consume` (a size check, a full
 * disk) passes through unchanged.
 */
export async function pumpBody(res: HttpResponse, consume: (chunk: Buffer) => void | Promise<void>): Promise<void> {
  const chunks = (res.body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<Buffer>;
    try {
      next = await chunks.next();
    } catch (err) {
      throw brokenBody(err);
    }
    if (next.done) break;
    res.watch.add(next.value.length);
    await consume(next.value);
  }
  if (!res.body.readableEnded) {
    throw brokenBody(
      Object.assign(new Error('premature close'), { code: 'UND_ERR_SOCKET' }),
      'connection closed before the end of the body',
    );
  }
}

/**
 * {@link pumpBody} for a `consume` that uses each chunk before it returns (it hashes and copies
 * it) and returns a promise only to ask for a pause: a bulk GET's body is then handed over
 * straight from the connection's read buffer (`bulk.ts` `drainTo`), or read into `target`'s memory
 * when one is given, any other body chunk by chunk as by {@link pumpBody}. Errors are classified the same way: what `consume` throws passes
 * through, a broken or stalled body is retried by {@link retryBody}.
 */
export async function pumpBodyTo(res: HttpResponse, consume: BodySink, target?: BodyTarget): Promise<void> {
  const body = res.body as ResponseBody & Partial<Pick<BulkBody, 'drainTo'>>;
  if (body.drainTo === undefined) return pumpBody(res, consume);
  const thrown = new WeakSet<object>();
  const mark = (err: unknown): never => {
    if (typeof err === 'object' && err !== null) thrown.add(err);
    throw err;
  };
  const counted = (n: number, take: () => Promise<void> | undefined) => {
    res.watch.add(n);
    try {
      return take()?.catch(mark);
    } catch (err) {
      return mark(err);
    }
  };
  try {
    await body.drainTo(
      (chunk) => counted(chunk.length, () => consume(chunk)),
      target && { space: () => target.space(), commit: (n) => counted(n, () => target.commit(n)) },
    );
  } catch (err) {
    if (typeof err === 'object' && err !== null && thrown.has(err)) throw err;
    throw brokenBody(err);
  }
}

/**
 * Runs `attempt` (a request and the reading of its body) again, with backoff, while its body
 * breaks or stalls ({@link pumpBody}), at most `retry.attempts` times in all; `beforeRetry` runs
 * before each new attempt. Other errors pass through at once.
 * @throws OcikitError `REGISTRY` (`<what>: <why> (after N attempts)`), `INTERRUPTED`, or what
 *   `attempt` throws.
 */
export async function retryBody<T>(
  client: HttpClient,
  what: string,
  signal: AbortSignal | undefined,
  attempt: () => Promise<T>,
  beforeRetry?: () => Promise<void>,
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (signal?.aborted) throw interrupted(what, signal);
      if (!(err instanceof OcikitError && brokenBodies.has(err))) throw err;
      if (n >= client.retry.attempts) {
        throw new OcikitError('REGISTRY', `${what}: ${err.message}${n > 1 ? ` (after ${n} attempts)` : ''}`, {
          cause: err,
        });
      }
      await beforeRetry?.();
      await backoff(client.retry, n - 1, what, signal);
    }
  }
}

/**
 * Reads a whole response body, refusing more than `limit` bytes: at once when `Content-Length`
 * says so, else as soon as the count passes it.
 * @throws the error `tooLarge(n)` builds, with `n` the declared or counted size; a broken body
 *   as {@link pumpBody} does.
 */
export async function readBody(
  res: HttpResponse,
  limit: number,
  tooLarge: (n: number) => OcikitError,
): Promise<Buffer> {
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    res.body.destroy();
    throw tooLarge(declared);
  }
  const chunks: Buffer[] = [];
  let n = 0;
  await pumpBody(res, (chunk) => {
    n += chunk.length;
    if (n > limit) {
      res.body.destroy();
      throw tooLarge(n);
    }
    chunks.push(chunk);
  });
  return Buffer.concat(chunks);
}

/**
 * The registry's error text from an error body (`{"errors":[{"code","message"}]}`, the
 * distribution spec's error format) as ` (CODE: message; …)`, or `''` when there is none. The
 * text is the server's: control characters are escaped (`internal/text.ts`).
 */
export async function registryErrorText(res: HttpResponse): Promise<string> {
  try {
    const body = await readBody(res, 64 * 1024, () => new OcikitError('REGISTRY', 'error body too large'));
    const doc = JSON.parse(body.toString('utf8')) as { errors?: { code?: unknown; message?: unknown }[] };
    const errors = Array.isArray(doc.errors) ? doc.errors : [];
    const parts = errors
      .map((e) => [e?.code, e?.message].filter((v): v is string => typeof v === 'string' && v !== '').join(': '))
      .filter(Boolean);
    return parts.length > 0 ? ` (${escapeControl(parts.join('; '))})` : '';
  } catch {
    return '';
  }
}

/** The first byte position of a `Content-Range: bytes <first>-<last>/<size|*>` value, if it is one. */
export function contentRangeStart(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(value.trim());
  return m ? Number(m[1]) : undefined;
}
