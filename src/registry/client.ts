/**
 * A client for the OCI distribution API v2 (opencontainers/distribution-spec `spec.md`), on undici:
 * what pulling needs. `GET /v2/<name>/manifests/<reference>` with an Accept header naming every
 * manifest media type, and `GET /v2/<name>/blobs/<digest>` streamed into a file, verified as it
 * arrives, resumed (`Range: bytes=<received>-`) when the server answers 206 with a matching
 * `Content-Range` after a broken or stalled connection (the low-speed limit,
 * `transport/low-speed.ts`), and restarted from zero otherwise; the digest and size cover the
 * whole blob, so a resumed blob is verified exactly like a fresh one. Where credentials may go is
 * stated in `transport/bearer.ts`. Behaviour
 * follows containers/image `docker/docker_client.go` and `docker/docker_image_src.go`; the layers
 * below it (`transport/`, `blob-sink.ts`, split as go-containerregistry splits `pkg/v1/remote`
 * from `remote/transport`) are listed in docs/fetch.md. The client is a plain record holding two
 * dispatchers and caches; close it with {@link closeRegistryClient}.
 */
import type { Digest } from '../model/digest.js';
import type { BlobExpectation } from '../model/verify.js';
import { OcikitError, interrupted, isOcikitError } from '../errors.js';
import { MANIFEST_ACCEPT } from '../model/media-types.js';
import { MAX_MANIFEST_SIZE, manifestTooLarge } from '../model/manifest.js';
import type { AuthLookupOptions } from '../auth/auth-files.js';
import { type BlobSink, openBlobSink } from './blob-sink.js';
import { type AuthClient, type RepositoryLocation, authedGet } from './transport/bearer.js';
import { createBulkPool } from './transport/bulk.js';
import { closeDispatchers } from './transport/dispatcher.js';
import { hostEnvVars } from '../internal/host-env.js';
import {
  DEFAULT_RETRY,
  type HttpResponse,
  type RetryPolicy,
  contentRangeStart,
  describeError,
  pumpBodyTo,
  readBody,
  registryErrorText,
  retryBody,
} from './transport/http.js';
import { type LowSpeedLimit, lowSpeedLimit } from './transport/low-speed.js';

export { DEFAULT_RETRY, type RetryPolicy, isRetryableError } from './transport/http.js';
export { DEFAULT_LOW_SPEED, type LowSpeedLimit, lowSpeedLimit } from './transport/low-speed.js';
export type { RepositoryLocation } from './transport/bearer.js';

/** Options of {@link createRegistryClient}. */
export interface RegistryClientOptions extends AuthLookupOptions {
  readonly retry?: Partial<RetryPolicy> | undefined;
  /**
   * The low-speed limit of every request (manifest, blob, token, ping): below `bytesPerSecond`
   * for `seconds` aborts the attempt, which is retried under `retry`. Default
   * {@link DEFAULT_LOW_SPEED}; `bytesPerSecond: 0` turns it off.
   */
  readonly lowSpeed?: Partial<LowSpeedLimit> | undefined;
  /** The `User-Agent` sent (default `ocikit`). */
  readonly userAgent?: string | undefined;
}

/**
 * A registry client: dispatchers and caches shared by every request of one run (the fields are
 * documented where they are used, in transport/).
 */
export interface RegistryClient extends AuthClient {}

/**
 * Creates a client; nothing is contacted until the first request.
 * @throws OcikitError `INVALID_INPUT` for a bad `lowSpeed`.
 */
export function createRegistryClient(opts: RegistryClientOptions = {}): RegistryClient {
  const { retry, lowSpeed, userAgent, ...auth } = opts;
  return {
    retry: { ...DEFAULT_RETRY, ...retry },
    lowSpeed: lowSpeedLimit(lowSpeed),
    userAgent: userAgent ?? 'ocikit',
    auth,
    connections: { env: hostEnvVars(auth), dispatchers: new Map(), bulk: createBulkPool() },
    hosts: new Map(),
    tokens: new Map(),
    credentials: new Map(),
    helperAnswers: new Map(),
  };
}

/** Closes the client's connections. */
export async function closeRegistryClient(client: RegistryClient): Promise<void> {
  await closeDispatchers(client.connections);
}

/** The error for a response that is not the success asked for: 404 → `NOT_FOUND`, else `REGISTRY`. */
async function failure(res: HttpResponse, what: string, notFound: string): Promise<OcikitError> {
  const text = await registryErrorText(res);
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
 * Fetches the manifest `reference` (a digest or tag) of a repository, exactly as sent; a body
 * that breaks or stalls is asked for again, at most `retry.attempts` attempts in all. The caller
 * verifies the digest.
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
  return retryBody(client, what, signal, async () => {
    const res = await authedGet(
      client,
      loc,
      `manifests/${reference}`,
      what,
      { accept: MANIFEST_ACCEPT.join(', ') },
      signal,
    );
    if (res.statusCode !== 200) throw await failure(res, what, `manifest ${name}@${reference} not found`);
    const bytes = await readBody(res, MAX_MANIFEST_SIZE, (n) =>
      manifestTooLarge(`manifest ${name}@${reference}`, `at least ${n}`),
    );
    const ct = res.headers['content-type'];
    return { bytes, contentType: typeof ct === 'string' ? ct : undefined };
  });
}

/** Options of {@link downloadBlob}. */
export interface DownloadOptions {
  readonly signal?: AbortSignal;
  /** Called with the number of bytes received in each chunk (restarts included). */
  readonly onBytes?: (n: number) => void;
}

/**
 * Downloads blob `expect.digest` of a repository into `file`, verifying size and digest while
 * streaming; resumes (Range) or restarts after a broken or stalled connection, at most
 * `retry.attempts` attempts in all.
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
  const signal = opts.signal;
  let sink: BlobSink;
  try {
    sink = await openBlobSink(file, expect, label);
  } catch (err) {
    if (isOcikitError(err, 'NO_SPACE')) throw err;
    throw new OcikitError('IO', `${what}: ${describeError(err)}`, { cause: err });
  }
  const consume = (chunk: Buffer) => {
    const wait = sink.take(chunk);
    opts.onBytes?.(chunk.length);
    return wait;
  };
  // The body read straight into the sink's staging buffers (no copy), where the transport can.
  const target = {
    space: () => sink.space(),
    commit: (n: number) => {
      const wait = sink.commit(n);
      opts.onBytes?.(n);
      return wait;
    },
  };
  try {
    await retryBody(
      client,
      what,
      signal,
      async () => {
        const offset = sink.received;
        const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
        const res = await authedGet(client, loc, `blobs/${expect.digest}`, what, headers, signal);
        if (offset > 0 && res.statusCode === 206 && contentRangeStart(res.headers['content-range']) === offset) {
          // resume: append to what was received and hashed so far
        } else if (res.statusCode === 200) {
          // A fresh body (or a server that ignored the Range): start over with a fresh hash.
          if (offset > 0) await sink.reset();
        } else {
          throw await failure(res, what, `${label} not found`);
        }
        try {
          await pumpBodyTo(res, consume, target);
        } catch (err) {
          res.body.destroy();
          throw err;
        }
      },
      // Before a resume, the file must hold exactly what was hashed.
      () => sink.drain(),
    );
    await sink.finish();
  } catch (err) {
    await sink.close();
    if (isOcikitError(err)) throw err;
    if (signal?.aborted) throw interrupted(what, signal);
    throw new OcikitError('IO', `${what}: ${describeError(err)}`, { cause: err });
  }
}

export type { Digest };
