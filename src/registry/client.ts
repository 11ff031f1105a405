/**
 * A client for the OCI distribution API v2 (opencontainers/distribution-spec `spec.md`), on undici.
 *
 * Covers what pulling needs: `GET /v2/` (the ping that finds the scheme and the auth challenge),
 * `GET /v2/<name>/manifests/<digest>` with an Accept header naming every manifest media type,
 * and `GET /v2/<name>/blobs/<digest>` hashed and size-checked as it streams into a
 * file. Behaviour follows containers/image's `docker/docker_client.go`:
 *
 * - HTTPS first; when TLS verification is off, HTTPS without certificate checks and then plain
 *   HTTP if the registry does not speak TLS at all (the `--tls-verify=false` behaviour).
 * - Anonymous access, HTTP Basic with auth-file credentials, and the bearer-token flow: a 401
 *   carrying `WWW-Authenticate: Bearer realm=…,service=…` is answered by fetching a token from
 *   the realm for scope `repository:<name>:pull` (with Basic credentials when there are any) and
 *   repeating the request with `Authorization: Bearer <token>`; the token is read from `token` or
 *   `access_token` and cached per registry and scope.
 * - Retries with exponential backoff (bounded) on 429, 500, 502, 503, 504 and on connection
 *   errors (reset, refused, timeouts); `Retry-After` is honoured up to the maximum delay.
 * - Redirects (301, 302, 303, 307, 308) are followed, at most 10; `Authorization` is dropped
 *   when the redirect leaves the registry's origin (blob storage gets no registry credentials).
 * - A blob download that breaks mid-body resumes with `Range: bytes=<received>-` when the server
 *   answers 206 with a matching `Content-Range`, and restarts from zero otherwise; the digest and
 *   size are checked over the whole, so a resumed blob is verified exactly like a fresh one.
 *
 * The client is a plain record holding two undici agents and caches; close it with
 * {@link closeRegistryClient}.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRequire } from 'node:module';
import type { Agent, Dispatcher } from 'undici';
import type { Digest } from '../model/digest.js';
import type { BlobExpectation } from '../model/verify.js';
import { OcikitError, isOcikitError } from '../errors.js';
import { MANIFEST_ACCEPT } from '../model/media-types.js';
import { MAX_MANIFEST_SIZE } from '../model/manifest.js';
import {
  basicAuthorization,
  lookupCredentials,
  parseChallenges,
  type AuthLookupOptions,
  type Challenge,
  type Credentials,
} from '../auth/auth-files.js';

type RequestFn = (this: Dispatcher, opts: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;

/**
 * undici's Agent and its promise `request`. Loading only the dispatcher and the API module saves
 * ~40 ms of start-up over the package index (which also loads fetch, WebSocket, caches); the index
 * is the fallback should that layout ever move.
 */
const undici: { readonly AgentClass: typeof Agent; readonly request: RequestFn } = (() => {
  const require = createRequire(import.meta.url);
  try {
    const AgentClass = require('undici/lib/dispatcher/agent.js') as typeof Agent;
    const api = require('undici/lib/api/index.js') as { request?: unknown };
    if (typeof AgentClass !== 'function' || typeof api.request !== 'function')
      throw new Error('unexpected undici layout');
    return { AgentClass, request: api.request as RequestFn };
  } catch {
    const u = require('undici') as typeof import('undici');
    return { AgentClass: u.Agent, request: u.Agent.prototype.request as unknown as RequestFn };
  }
})();

/** How often and how patiently failed requests are retried. */
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

const MAX_REDIRECTS = 10;
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

/** Options of {@link createRegistryClient}. */
export interface RegistryClientOptions extends AuthLookupOptions {
  readonly retry?: Partial<RetryPolicy>;
  /** The `User-Agent` sent (default `ocikit`). */
  readonly userAgent?: string;
}

interface HostState {
  /** `https://host` or `http://host`. */
  readonly origin: string;
  /** Whether certificates are checked on this origin. */
  readonly verify: boolean;
  /** Challenges from the ping. */
  challenges: Challenge[];
}

/** A registry client: agents and caches shared by every request of one run. */
export interface RegistryClient {
  readonly retry: RetryPolicy;
  readonly userAgent: string;
  readonly auth: AuthLookupOptions;
  readonly agent: Agent;
  readonly insecureAgent: Agent;
  readonly hosts: Map<string, Promise<HostState>>;
  readonly tokens: Map<string, Promise<string>>;
  readonly credentials: Map<string, Promise<Credentials | undefined>>;
}

/** Where a repository lives. */
export interface RepositoryLocation {
  /** The host (and port) serving `/v2/`, e.g. `registry-1.docker.io`, `127.0.0.1:5000`. */
  readonly host: string;
  /** The domain credentials are filed under (`docker.io` for Docker Hub); defaults to `host`. */
  readonly authDomain?: string;
  /** Repository name, e.g. `library/fedora`. */
  readonly path: string;
  /** False: skip certificate checks and allow plain HTTP (default true). */
  readonly tlsVerify?: boolean;
}

/** Creates a client; nothing is contacted until the first request. */
export function createRegistryClient(opts: RegistryClientOptions = {}): RegistryClient {
  const common = { keepAliveTimeout: 10_000, headersTimeout: 60_000, bodyTimeout: 120_000 };
  return {
    retry: { ...DEFAULT_RETRY, ...opts.retry },
    userAgent: opts.userAgent ?? 'ocikit',
    auth: {
      ...(opts.authFile !== undefined ? { authFile: opts.authFile } : {}),
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.home ? { home: opts.home } : {}),
    },
    agent: new undici.AgentClass(common),
    insecureAgent: new undici.AgentClass({ ...common, connect: { rejectUnauthorized: false } }),
    hosts: new Map(),
    tokens: new Map(),
    credentials: new Map(),
  };
}

/** Closes the client's connections. */
export async function closeRegistryClient(client: RegistryClient): Promise<void> {
  await Promise.all([client.agent.close(), client.insecureAgent.close()]);
}

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

function backoffDelay(policy: RetryPolicy, attempt: number, retryAfter?: string | string[]): number {
  const ra = typeof retryAfter === 'string' ? Number(retryAfter) : NaN;
  const base = Number.isFinite(ra) && ra >= 0 ? ra * 1000 : policy.baseDelayMs * 2 ** attempt;
  return Math.min(base, policy.maxDelayMs);
}

function aborted(signal: AbortSignal | undefined, what: string): OcikitError {
  return new OcikitError('INTERRUPTED', `${what}: interrupted`, { cause: signal?.reason });
}

interface SendOptions {
  readonly method?: 'GET' | 'HEAD';
  readonly headers?: Record<string, string>;
  readonly signal?: AbortSignal;
  /** Attempts override (1 = no retry). */
  readonly attempts?: number;
  /** Follow redirects (default true). */
  readonly redirects?: boolean;
}

/**
 * One HTTP request with retries and redirects. Returns the final response with an unread body.
 * @throws OcikitError `REGISTRY` when every attempt failed, `INTERRUPTED`.
 */
async function send(
  client: RegistryClient,
  url: URL,
  verify: boolean,
  what: string,
  opts: SendOptions = {},
): Promise<Dispatcher.ResponseData> {
  const attempts = Math.max(1, opts.attempts ?? client.retry.attempts);
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (opts.signal?.aborted) throw aborted(opts.signal, what);
    let target = url;
    let headers: Record<string, string> = { 'user-agent': client.userAgent, ...opts.headers };
    let retryAfter: string | string[] | undefined;
    try {
      for (let hop = 0; ; hop++) {
        const agent = verify || target.protocol === 'http:' ? client.agent : client.insecureAgent;
        const res = await undici.request.call(agent, {
          origin: target.origin,
          path: `${target.pathname}${target.search}`,
          method: opts.method ?? 'GET',
          headers,
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
        const loc = res.headers.location;
        if (opts.redirects !== false && [301, 302, 303, 307, 308].includes(res.statusCode) && typeof loc === 'string') {
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
      if (opts.signal?.aborted) throw aborted(opts.signal, what);
      if (isOcikitError(err)) throw err;
      if (!isRetryableError(err) || attempt + 1 >= attempts) {
        throw new OcikitError(
          'REGISTRY',
          `${what}: ${describe(err)}${attempt > 0 ? ` (after ${attempt + 1} attempts)` : ''}`,
          { cause: err },
        );
      }
      lastError = err;
    }
    await sleep(
      backoffDelay(client.retry, attempt, retryAfter),
      undefined,
      opts.signal ? { signal: opts.signal } : undefined,
    ).catch(() => {
      throw aborted(opts.signal, what);
    });
  }
  throw new OcikitError('REGISTRY', `${what}: ${describe(lastError)} (after ${attempts} attempts)`, {
    cause: lastError,
  });
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = errCode(err);
    return code && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}

/** Reads a whole response body, refusing more than `limit` bytes. */
async function readBody(
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

/** The registry's error text (`{"errors":[{"code","message"}]}`), if any. */
async function errorText(res: Dispatcher.ResponseData): Promise<string> {
  try {
    const body = await readBody(res, 64 * 1024, () => new OcikitError('REGISTRY', 'error body too large'));
    const doc = JSON.parse(body.toString('utf8')) as { errors?: { code?: string; message?: string }[] };
    const parts = (doc.errors ?? []).map((e) => [e.code, e.message].filter(Boolean).join(': ')).filter(Boolean);
    return parts.length > 0 ? ` (${parts.join('; ')})` : '';
  } catch {
    return '';
  }
}

/** Pings `/v2/` once per host and remembers the working origin and the challenges. */
function hostState(client: RegistryClient, host: string, tlsVerify: boolean, signal?: AbortSignal): Promise<HostState> {
  const key = `${tlsVerify ? 'verify' : 'insecure'} ${host}`;
  let p = client.hosts.get(key);
  if (!p) {
    p = ping(client, host, tlsVerify, signal);
    client.hosts.set(key, p);
    p.catch(() => client.hosts.delete(key));
  }
  return p;
}

async function ping(
  client: RegistryClient,
  host: string,
  tlsVerify: boolean,
  signal?: AbortSignal,
): Promise<HostState> {
  const tryOrigin = async (origin: string, verify: boolean, attempts?: number): Promise<HostState> => {
    const res = await send(client, new URL('/v2/', origin), verify, `pinging registry ${origin}`, {
      ...(signal ? { signal } : {}),
      ...(attempts !== undefined ? { attempts } : {}),
    });
    const text = res.statusCode === 200 || res.statusCode === 401 ? '' : await errorText(res);
    if (text === '') await res.body.dump().catch(() => undefined);
    if (res.statusCode !== 200 && res.statusCode !== 401) {
      throw new OcikitError('REGISTRY', `pinging registry ${origin}: HTTP ${res.statusCode}${text}`);
    }
    return { origin, verify, challenges: parseChallenges(res.headers['www-authenticate']) };
  };
  if (tlsVerify) return tryOrigin(`https://${host}`, true);
  try {
    // One quick HTTPS try without certificate checks; a plain-HTTP registry fails it at once.
    return await tryOrigin(`https://${host}`, false, 1);
  } catch (err) {
    if (isOcikitError(err, 'INTERRUPTED')) throw err;
    return tryOrigin(`http://${host}`, false);
  }
}

function credentialsFor(client: RegistryClient, loc: RepositoryLocation): Promise<Credentials | undefined> {
  const domain = loc.authDomain ?? loc.host;
  const key = `${domain}/${loc.path}`;
  let p = client.credentials.get(key);
  if (!p) {
    p = lookupCredentials(domain, loc.path, client.auth);
    client.credentials.set(key, p);
  }
  return p;
}

/** Fetches a bearer token for `scope` from the challenge's realm. */
/**
 * Fetches a bearer token from the challenge's realm. The token server is reached with the
 * registry's TLS setting (as containers/image does): with `tls-verify: false`, its certificate is
 * not checked either.
 */
async function fetchToken(
  client: RegistryClient,
  challenge: Challenge,
  scope: string,
  creds: Credentials | undefined,
  verify: boolean,
  signal?: AbortSignal,
): Promise<string> {
  const realm = challenge.params.realm;
  if (!realm) throw new OcikitError('REGISTRY', 'bearer challenge without a realm');
  let url: URL;
  try {
    url = new URL(realm);
  } catch (err) {
    throw new OcikitError('REGISTRY', `bearer realm ${JSON.stringify(realm)} is not a URL`, { cause: err });
  }
  if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
  url.searchParams.append('scope', scope);
  const extra = challenge.params.scope;
  if (extra && extra !== scope) url.searchParams.append('scope', extra);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (creds) headers.authorization = basicAuthorization(creds);
  const what = `requesting a token from ${url.origin}${url.pathname}`;
  const res = await send(client, url, verify, what, { headers, ...(signal ? { signal } : {}) });
  if (res.statusCode !== 200) {
    const text = await errorText(res);
    throw new OcikitError(
      'REGISTRY',
      `${what}: HTTP ${res.statusCode}${text}${creds ? '' : ' (no credentials found in the auth file)'}`,
    );
  }
  const body = await readBody(res, 1024 * 1024, () => new OcikitError('REGISTRY', `${what}: token response too large`));
  let doc: { token?: unknown; access_token?: unknown };
  try {
    doc = JSON.parse(body.toString('utf8')) as typeof doc;
  } catch (err) {
    throw new OcikitError('REGISTRY', `${what}: the answer is not JSON`, { cause: err });
  }
  const token = typeof doc.token === 'string' && doc.token !== '' ? doc.token : doc.access_token;
  if (typeof token !== 'string' || token === '')
    throw new OcikitError('REGISTRY', `${what}: the answer holds neither "token" nor "access_token"`);
  return token;
}

async function authorization(
  client: RegistryClient,
  state: HostState,
  loc: RepositoryLocation,
  challenges: Challenge[],
  fresh: boolean,
  signal?: AbortSignal,
): Promise<string | undefined> {
  const bearer = challenges.find((c) => c.scheme === 'bearer');
  const creds = await credentialsFor(client, loc);
  if (bearer) {
    const scope = `repository:${loc.path}:pull`;
    const key = `${state.origin} ${bearer.params.realm ?? ''} ${bearer.params.service ?? ''} ${scope}`;
    let p = fresh ? undefined : client.tokens.get(key);
    if (!p) {
      p = fetchToken(client, bearer, scope, creds, loc.tlsVerify !== false, signal);
      client.tokens.set(key, p);
      p.catch(() => client.tokens.delete(key));
    }
    return `Bearer ${await p}`;
  }
  if (challenges.some((c) => c.scheme === 'basic') && creds) return basicAuthorization(creds);
  return undefined;
}

/**
 * Sends an authorised GET for `/v2/<path>/<suffix>`: authorises from the ping's challenge, and on
 * a 401 authorises once more from the 401's own challenge.
 */
async function authedGet(
  client: RegistryClient,
  loc: RepositoryLocation,
  suffix: string,
  what: string,
  headers: Record<string, string>,
  signal?: AbortSignal,
): Promise<Dispatcher.ResponseData> {
  const state = await hostState(client, loc.host, loc.tlsVerify !== false, signal);
  const url = new URL(`/v2/${loc.path}/${suffix}`, state.origin);
  let auth = await authorization(client, state, loc, state.challenges, false, signal);
  const go = (a: string | undefined) =>
    send(client, url, state.verify, what, {
      headers: { ...headers, ...(a ? { authorization: a } : {}) },
      ...(signal ? { signal } : {}),
    });
  let res = await go(auth);
  if (res.statusCode === 401) {
    const challenges = parseChallenges(res.headers['www-authenticate']);
    await res.body.dump().catch(() => undefined);
    if (challenges.length > 0) {
      state.challenges = challenges;
      auth = await authorization(client, state, loc, challenges, true, signal);
      if (auth) res = await go(auth);
      else res = await go(undefined);
    } else {
      res = await go(auth);
    }
  }
  return res;
}

async function failure(res: Dispatcher.ResponseData, what: string, notFound: string): Promise<OcikitError> {
  const text = await errorText(res);
  if (res.statusCode === 404) return new OcikitError('NOT_FOUND', `${notFound}${text}`);
  if (res.statusCode === 401 || res.statusCode === 403)
    return new OcikitError('REGISTRY', `${what}: access denied, HTTP ${res.statusCode}${text}`);
  return new OcikitError('REGISTRY', `${what}: HTTP ${res.statusCode}${text}`);
}

/** A manifest as the registry sent it. */
export interface FetchedManifest {
  /** The exact bytes. */
  readonly bytes: Buffer;
  /** The Content-Type the registry declared (informative; the bytes decide). */
  readonly contentType: string | undefined;
}

/**
 * Fetches the manifest `reference` (a digest or tag) of a repository, exactly as sent.
 * The caller verifies the digest.
 * @throws OcikitError `NOT_FOUND` (404), `MANIFEST_TOO_LARGE` (over 4 MiB), `REGISTRY`, `INTERRUPTED`, `CONFIG` (bad auth file).
 */
export async function getManifest(
  client: RegistryClient,
  loc: RepositoryLocation,
  reference: string,
  signal?: AbortSignal,
): Promise<FetchedManifest> {
  const name = `${loc.host}/${loc.path}`;
  const what = `fetching manifest ${reference} of ${name}`;
  const res = await authedGet(
    client,
    loc,
    `manifests/${reference}`,
    what,
    { accept: MANIFEST_ACCEPT.join(', ') },
    signal,
  );
  if (res.statusCode !== 200) throw await failure(res, what, `manifest ${name}@${reference} not found`);
  const bytes = await readBody(
    res,
    MAX_MANIFEST_SIZE,
    (n) =>
      new OcikitError(
        'MANIFEST_TOO_LARGE',
        `manifest ${name}@${reference} is ${n} bytes or more, more than ${MAX_MANIFEST_SIZE}`,
      ),
  );
  const ct = res.headers['content-type'];
  return { bytes, contentType: typeof ct === 'string' ? ct : undefined };
}

/** Options of {@link downloadBlob}. */
export interface DownloadOptions {
  readonly signal?: AbortSignal;
  /** Called with the number of bytes received in each chunk (restarts included). */
  readonly onBytes?: (n: number) => void;
}

/**
 * Where a blob's bytes go: hashed as they arrive, gathered into large batches and written with
 * positional writes, one write in flight while the next batch fills (far fewer calls than a
 * stream pipeline). The byte count and hash survive a broken connection, so a download can resume
 * where it stopped; `reset()` starts over when the server ignores the Range request.
 */
interface BlobSink {
  /** Bytes received and hashed so far. */
  readonly received: number;
  push(chunk: Buffer): Promise<void>;
  /** Writes what is gathered and waits for it. */
  drain(): Promise<void>;
  /** Forgets everything received (hash and file) to start over. */
  reset(): Promise<void>;
  /** Drains, closes the file and verifies size and digest. */
  finish(): Promise<void>;
  /** Closes the file after a failure (idempotent). */
  close(): Promise<void>;
}

const SINK_BATCH = 4 * 1024 * 1024;

async function openBlobSink(file: string, expect: BlobExpectation, label: string): Promise<BlobSink> {
  const fh = await fs.open(file, 'w', 0o644);
  let hash = createHash('sha256');
  let received = 0;
  let written = 0;
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let inflight: Promise<unknown> = Promise.resolve();
  let closed = false;
  const flush = async () => {
    await inflight;
    if (batchBytes === 0) return;
    const bufs = batch;
    const at = written;
    written += batchBytes;
    batch = [];
    batchBytes = 0;
    inflight = fh.writev(bufs, at);
  };
  return {
    get received() {
      return received;
    },
    async push(chunk) {
      received += chunk.length;
      if (received > expect.size) {
        throw new OcikitError('DIGEST_MISMATCH', `${label}: expected ${expect.size} bytes, got at least ${received}`, {
          expected: String(expect.size),
          actual: `at least ${received}`,
        });
      }
      hash.update(chunk);
      batch.push(chunk);
      batchBytes += chunk.length;
      if (batchBytes >= SINK_BATCH) await flush();
    },
    async drain() {
      await flush();
      await inflight;
    },
    async reset() {
      await inflight.catch(() => undefined);
      await fh.truncate(0);
      hash = createHash('sha256');
      received = 0;
      written = 0;
      batch = [];
      batchBytes = 0;
    },
    async finish() {
      await flush();
      await inflight;
      closed = true;
      await fh.close();
      if (received !== expect.size) {
        throw new OcikitError('DIGEST_MISMATCH', `${label}: expected ${expect.size} bytes, got ${received}`, {
          expected: String(expect.size),
          actual: String(received),
        });
      }
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== expect.digest) {
        throw new OcikitError('DIGEST_MISMATCH', `${label}: expected digest ${expect.digest}, got ${actual}`, {
          expected: expect.digest,
          actual,
        });
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await inflight.catch(() => undefined);
      await fh.close().catch(() => undefined);
    },
  };
}

/**
 * Feeds `body` into `sink`, reporting each chunk's size. A broken body becomes a retryable
 * `REGISTRY` error; a failing sink (size, disk) passes its own error through.
 */
async function pump(body: Readable, sink: BlobSink, onBytes: (n: number) => void): Promise<void> {
  const chunks = (body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<Buffer>;
    try {
      next = await chunks.next();
    } catch (err) {
      throw new OcikitError('REGISTRY', `connection broke in the middle of the body: ${describe(err)}`, { cause: err });
    }
    if (next.done) break;
    await sink.push(next.value);
    onBytes(next.value.length);
  }
  if (!body.readableEnded) {
    throw new OcikitError('REGISTRY', 'connection closed before the end of the body', {
      cause: Object.assign(new Error('premature close'), { code: 'UND_ERR_SOCKET' }),
    });
  }
}

/**
 * Downloads blob `expect.digest` of a repository into `file`, verifying size and digest while
 * streaming; resumes (Range) or restarts after a broken connection, at most `retry.attempts` times.
 * On failure `file` may hold partial data; the caller owns and removes it.
 * @throws OcikitError `DIGEST_MISMATCH` (wrong content or size), `NOT_FOUND` (404), `REGISTRY`, `INTERRUPTED`, `IO`.
 */
export async function downloadBlob(
  client: RegistryClient,
  loc: RepositoryLocation,
  expect: BlobExpectation,
  file: string,
  opts: DownloadOptions = {},
): Promise<void> {
  const name = `${loc.host}/${loc.path}`;
  const label = `blob ${expect.digest} of ${name}`;
  const what = `fetching ${label}`;
  let sink: BlobSink;
  try {
    sink = await openBlobSink(file, expect, label);
  } catch (err) {
    throw new OcikitError('IO', `${what}: ${describe(err)}`, { cause: err });
  }
  let breaks = 0;
  try {
    for (;;) {
      const offset = sink.received;
      const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
      const res = await authedGet(client, loc, `blobs/${expect.digest}`, what, headers, opts.signal);
      if (offset > 0 && res.statusCode === 206 && contentRangeStart(res.headers['content-range']) === offset) {
        // resume: append to what was received and hashed so far
      } else if (res.statusCode === 200) {
        // A fresh body (or a server that ignored the Range): start over with a fresh hash.
        if (offset > 0) await sink.reset();
      } else {
        throw await failure(res, what, `${label} not found`);
      }
      try {
        await pump(res.body, sink, (n) => opts.onBytes?.(n));
        break;
      } catch (err) {
        res.body.destroy();
        if (opts.signal?.aborted) throw aborted(opts.signal, what);
        if (!isOcikitError(err, 'REGISTRY')) throw err;
        await sink.drain();
        breaks++;
        if (breaks >= client.retry.attempts) {
          throw new OcikitError(
            'REGISTRY',
            `${what}: the connection broke ${breaks} times (${describe(err.cause ?? err)})`,
            { cause: err },
          );
        }
        await sleep(
          backoffDelay(client.retry, breaks - 1),
          undefined,
          opts.signal ? { signal: opts.signal } : undefined,
        ).catch(() => {
          throw aborted(opts.signal, what);
        });
      }
    }
    await sink.finish();
  } catch (err) {
    await sink.close();
    if (isOcikitError(err)) throw err;
    if (opts.signal?.aborted) throw aborted(opts.signal, what);
    throw new OcikitError('IO', `${what}: ${describe(err)}`, { cause: err });
  }
}

function contentRangeStart(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(value.trim());
  return m ? Number(m[1]) : undefined;
}

export type { Digest };
