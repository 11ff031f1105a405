/**
 * HTTP for the registry client: one request with retries, exponential backoff and redirects, and
 * the reading of bodies with a size limit. Behaviour follows containers/image
 * `docker/docker_client.go` and go-containerregistry `pkg/v1/remote/transport/retry.go`:
 *
 * - 429, 500, 502, 503, 504 and connection errors (reset, refused, timeouts) are retried with
 *   exponential backoff, bounded by {@link RetryPolicy}; `Retry-After` (seconds) is honoured up to
 *   the maximum delay.
 * - Redirects (301, 302, 303, 307, 308) are followed, at most 10. `Authorization` is dropped when a
 *   redirect leaves the origin, so blob storage behind a registry never sees its credentials.
 * - An abort of the caller's signal ends everything with `INTERRUPTED`, also during a backoff.
 */
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Agent, Dispatcher } from 'undici';
import { OcikitError, interrupted, isOcikitError } from '../../errors.js';
import { request } from './dispatcher.js';

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

/** What a request needs from the client: its retry policy, `User-Agent` and dispatchers. */
export interface HttpClient {
  readonly retry: RetryPolicy;
  readonly userAgent: string;
  /** The dispatcher that checks certificates (also used for every plain-HTTP request). */
  readonly agent: Agent;
  /** The dispatcher that accepts any certificate (`tls-verify: false`). */
  readonly insecureAgent: Agent;
}

const MAX_REDIRECTS = 10;
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);
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

/** True for errors worth a retry (a reset, refused or timed-out connection). */
export function isRetryableError(err: unknown): boolean {
  if (isOcikitError(err)) return false;
  const code = errCode(err);
  return code !== undefined && RETRY_ERRORS.has(code);
}

/**
 * A lower error as message text: its message, with its system or undici code appended when the
 * message does not already name it (`other side closed (UND_ERR_SOCKET)`).
 */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = errCode(err);
    return code && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
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
  readonly method?: 'GET' | 'HEAD' | undefined;
  readonly headers?: Record<string, string> | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Attempts override (1 = no retry). */
  readonly attempts?: number | undefined;
  /** Follow redirects (default true). */
  readonly redirects?: boolean | undefined;
}

/**
 * One HTTP request with retries and redirects; `verify` false sends HTTPS through the dispatcher
 * that accepts any certificate. `what` names the request in errors.
 * @returns the final response, body unread.
 * @throws OcikitError `REGISTRY` when every attempt failed, `INTERRUPTED`.
 */
export async function send(
  client: HttpClient,
  url: URL,
  verify: boolean,
  what: string,
  opts: SendOptions = {},
): Promise<Dispatcher.ResponseData> {
  const attempts = Math.max(1, opts.attempts ?? client.retry.attempts);
  const signal = opts.signal;
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (signal?.aborted) throw interrupted(what, signal);
    let target = url;
    let headers: Record<string, string> = { 'user-agent': client.userAgent, ...opts.headers };
    let retryAfter: string | string[] | undefined;
    try {
      for (let hop = 0; ; hop++) {
        const agent = verify || target.protocol === 'http:' ? client.agent : client.insecureAgent;
        const res = await request(agent, {
          origin: target.origin,
          path: `${target.pathname}${target.search}`,
          method: opts.method ?? 'GET',
          headers,
          signal: signal ?? null,
        });
        const loc = res.headers.location;
        if (opts.redirects !== false && REDIRECT_STATUS.has(res.statusCode) && typeof loc === 'string') {
          await res.body.dump();
          if (hop >= MAX_REDIRECTS) throw new OcikitError('REGISTRY', `${what}: more than ${MAX_REDIRECTS} redirects`);
          const next = new URL(loc, target);
          if (next.origin !== target.origin) {
            const { authorization: _drop, ...rest } = headers;
            headers = rest;
          }
          target = next;
          continue;
        }
        if (RETRY_STATUS.has(res.statusCode) && attempt + 1 < attempts) {
          retryAfter = res.headers['retry-after'];
          await res.body.dump();
          lastError = new OcikitError('REGISTRY', `${what}: HTTP ${res.statusCode}`);
          break;
        }
        return res;
      }
    } catch (err) {
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

/**
 * Reads a whole response body, refusing more than `limit` bytes: at once when `Content-Length`
 * says so, else as soon as the count passes it.
 * @throws the error `tooLarge(n)` builds, with `n` the declared or counted size.
 */
export async function readBody(
  res: Dispatcher.ResponseData,
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
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > limit) {
      res.body.destroy();
      throw tooLarge(n);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * The registry's error text from an error body (`{"errors":[{"code","message"}]}`, the
 * distribution spec's error format) as ` (CODE: message; …)`, or `''` when there is none.
 */
export async function registryErrorText(res: Dispatcher.ResponseData): Promise<string> {
  try {
    const body = await readBody(res, 64 * 1024, () => new OcikitError('REGISTRY', 'error body too large'));
    const doc = JSON.parse(body.toString('utf8')) as { errors?: { code?: string; message?: string }[] };
    const parts = (doc.errors ?? []).map((e) => [e.code, e.message].filter(Boolean).join(': ')).filter(Boolean);
    return parts.length > 0 ? ` (${parts.join('; ')})` : '';
  } catch {
    return '';
  }
}

/**
 * Feeds a response body to `consume` chunk by chunk. A body that breaks, or ends before undici
 * saw all of it, becomes a `REGISTRY` error whose cause is retryable ({@link isRetryableError});
 * an error of `consume` (a size check, a full disk) passes through unchanged.
 */
export async function pumpBody(body: Readable, consume: (chunk: Buffer) => Promise<void>): Promise<void> {
  const chunks = (body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<Buffer>;
    try {
      next = await chunks.next();
    } catch (err) {
      throw new OcikitError('REGISTRY', `connection broke in the middle of the body: ${describeError(err)}`, {
        cause: err,
      });
    }
    if (next.done) break;
    await consume(next.value);
  }
  if (!body.readableEnded) {
    throw new OcikitError('REGISTRY', 'connection closed before the end of the body', {
      cause: Object.assign(new Error('premature close'), { code: 'UND_ERR_SOCKET' }),
    });
  }
}

/** The first byte position of a `Content-Range: bytes <first>-<last>/<size|*>` value, if it is one. */
export function contentRangeStart(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(value.trim());
  return m ? Number(m[1]) : undefined;
}
