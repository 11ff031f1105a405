/**
 * The dispatcher factory: the one function that builds the undici connection pools registry
 * traffic goes through, from one registry's TLS settings, and the one place that loads undici.
 *
 * Guarantees: a setting that is not implemented yet is refused (`UNSUPPORTED`), never quietly
 * dropped ({@link DispatcherOptions}); undici is loaded from its own modules for a fast start, and
 * falls back to its public index when their layout changes (see the loader below, and
 * docs/fetch.md).
 */
import { createRequire } from 'node:module';
import type { Agent, Dispatcher } from 'undici';
import { OcikitError } from '../../errors.js';
import { proxyFor } from './proxy.js';

type RequestFn = (this: Dispatcher, opts: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;

interface Undici {
  readonly AgentClass: typeof Agent;
  readonly request: RequestFn;
  /** `'lib'`: the private modules were loaded; `'index'`: the fallback to the package index. */
  readonly via: 'lib' | 'index';
}

/** Error codes that mean "that private module is not there (any more)". */
const LAYOUT_ERRORS = new Set(['MODULE_NOT_FOUND', 'ERR_PACKAGE_PATH_NOT_EXPORTED']);

let loaded: Undici | undefined;

/**
 * Loads undici once, on first use (not on import of this module). Its package index also loads
 * fetch, WebSocket, EventSource, the cache and mock agents; that costs about 40 ms on every
 * `ocikit fetch` start (measured with `node -e`). Only the Agent class and the promise `request`
 * are needed, so they are required from their own modules, `undici/lib/dispatcher/agent.js` and
 * `undici/lib/api/index.js`: undici's private file layout, reachable only because undici 7
 * publishes no `exports` map.
 *
 * If that layout changes (a file moves: `MODULE_NOT_FOUND`; an `exports` map hides it:
 * `ERR_PACKAGE_PATH_NOT_EXPORTED`; a module no longer has the expected shape), requests still
 * work: the loader falls back to the public package index, and only start-up gets slower. The
 * change is not silent: test/registry/transport/dispatcher.test.ts asserts that the private path
 * was taken and that it yields the very class the index exports, so the first test run after an
 * undici upgrade fails and names this file. Any other error while loading (a module that throws)
 * is raised, not swallowed.
 */
function undici(): Undici {
  if (loaded !== undefined) return loaded;
  const require = createRequire(import.meta.url);
  try {
    const AgentClass = require('undici/lib/dispatcher/agent.js') as unknown;
    const api = require('undici/lib/api/index.js') as { request?: unknown } | undefined;
    if (
      typeof AgentClass === 'function' &&
      typeof (AgentClass.prototype as { dispatch?: unknown }).dispatch === 'function' &&
      typeof api?.request === 'function'
    ) {
      loaded = { AgentClass: AgentClass as typeof Agent, request: api.request as RequestFn, via: 'lib' };
      return loaded;
    }
  } catch (err) {
    if (!LAYOUT_ERRORS.has((err as { code?: unknown }).code as string)) throw err;
  }
  const u = require('undici') as typeof import('undici');
  loaded = { AgentClass: u.Agent, request: u.Agent.prototype.request as unknown as RequestFn, via: 'index' };
  return loaded;
}

/**
 * Which way undici was loaded: `'lib'` for its private modules (the fast start-up), `'index'` for
 * the fallback to the package index after its layout changed. Loads undici if it is not loaded yet.
 */
export function undiciLoadPath(): 'lib' | 'index' {
  return undici().via;
}

/**
 * One registry's connection settings. Only `tlsVerify` (skopeo's `--tls-verify`) is implemented;
 * the other fields are the places host configuration will plug in: per-registry CA certificates
 * and a client certificate and key from a certs.d directory (containers-certs.d(5), containers/image
 * `pkg/tlsclientconfig`), and a proxy (undici's `ProxyAgent` / `EnvHttpProxyAgent`). Giving one
 * today is refused with `UNSUPPORTED`.
 */
export interface DispatcherOptions {
  /** Check server certificates (default in every caller: true). False: accept any certificate. */
  readonly tlsVerify: boolean;
  /** Not implemented yet (certs.d `*.crt`): extra CA certificates, PEM. Refused with `UNSUPPORTED`. */
  readonly ca?: string | Buffer | readonly (string | Buffer)[] | undefined;
  /** Not implemented yet (certs.d `*.cert`): a client certificate, PEM. Refused with `UNSUPPORTED`. */
  readonly cert?: string | Buffer | undefined;
  /** Not implemented yet (certs.d `*.key`): the client certificate's key, PEM. Refused with `UNSUPPORTED`. */
  readonly key?: string | Buffer | undefined;
  /** Not implemented yet: an HTTP(S) proxy URL. Refused with `UNSUPPORTED`. */
  readonly proxy?: string | URL | undefined;
}

/** Keep-alive and timeouts shared by every dispatcher (a slow registry blob is not a dead one). */
const POOL_OPTIONS = { keepAliveTimeout: 10_000, headersTimeout: 60_000, bodyTimeout: 120_000 } as const;

const NOT_YET: readonly (keyof DispatcherOptions)[] = ['ca', 'cert', 'key', 'proxy'];

/**
 * Builds the dispatcher (an undici Agent: a pool per origin) for one registry's settings.
 * Close it with `close()` when the run ends.
 * @throws OcikitError `UNSUPPORTED` when a setting that is not implemented yet is given.
 */
export function createDispatcher(opts: DispatcherOptions): Agent {
  for (const field of NOT_YET) {
    if (opts[field] !== undefined) {
      throw new OcikitError('UNSUPPORTED', `registry connection setting "${field}" is not supported yet`);
    }
  }
  const { AgentClass } = undici();
  return new AgentClass({ ...POOL_OPTIONS, connect: connectOptions(opts) });
}

/**
 * The TLS options of connections to a registry (also of a registry reached through a proxy
 * tunnel): certificate checks on or off.
 */
function connectOptions(opts: DispatcherOptions): { rejectUnauthorized?: boolean } {
  return opts.tlsVerify ? {} : { rejectUnauthorized: false };
}

/**
 * One registry's TLS material from its certs.d directory (containers-certs.d(5)): extra CA
 * certificates trusted besides the system roots, and a client certificate with its key.
 */
export interface TlsMaterial {
  /** Extra CA certificates (PEM), added to the host's system roots. */
  readonly ca?: readonly Buffer[] | undefined;
  /** The client certificate (PEM). */
  readonly cert?: Buffer | undefined;
  /** The client certificate's key (PEM). */
  readonly key?: Buffer | undefined;
}

/**
 * How to connect to one registry: whether certificates are checked and its TLS material. The
 * token realm and redirect targets of that registry are reached with the same settings, as
 * containers/image uses one `http.Client` per registry.
 */
export interface ConnectionSettings {
  /** Check server certificates. */
  readonly verify: boolean;
  /** Extra CAs and the client certificate (certs.d). */
  readonly tls?: TlsMaterial | undefined;
}

/** The dispatchers of one client, built on first use and shared by every request with the same settings. */
export interface DispatcherPool {
  /** The environment the proxy is chosen from (`proxy.ts`). */
  readonly env: NodeJS.ProcessEnv;
  /** Dispatchers by {@link connectionKey} and proxy. */
  readonly dispatchers: Map<string, Dispatcher>;
}

const tlsIds = new WeakMap<TlsMaterial, number>();
let nextTlsId = 1;

/** A key naming `conn` (the TLS material by identity): equal keys may share connections. */
export function connectionKey(conn: ConnectionSettings): string {
  let id = 0;
  if (conn.tls !== undefined) {
    id = tlsIds.get(conn.tls) ?? nextTlsId++;
    tlsIds.set(conn.tls, id);
  }
  return `${conn.verify ? 'verify' : 'insecure'}:${id}`;
}

/**
 * The dispatcher for a request to `target` with `conn`: direct or through the proxy that
 * `proxyFor` chooses for that URL, with `conn`'s TLS settings for an https URL.
 */
export function dispatcherFor(pool: DispatcherPool, target: URL, conn: ConnectionSettings): Dispatcher {
  const https = target.protocol === 'https:';
  const proxy = proxyFor(target, pool.env);
  const key = `${https ? `https ${connectionKey(conn)}` : 'http'} ${proxy ?? ''}`;
  let d = pool.dispatchers.get(key);
  if (d === undefined) {
    d = createDispatcher({
      tlsVerify: !https || conn.verify,
      ...(https && conn.tls !== undefined ? conn.tls : {}),
      proxy,
    });
    pool.dispatchers.set(key, d);
  }
  return d;
}

/** Closes every dispatcher of `pool`. */
export async function closeDispatchers(pool: DispatcherPool): Promise<void> {
  const all = [...pool.dispatchers.values()];
  pool.dispatchers.clear();
  await Promise.all(all.map((d) => d.close()));
}

/** Sends one request through `dispatcher` (undici's promise `request`); the body is left unread. */
export function request(dispatcher: Dispatcher, opts: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
  return undici().request.call(dispatcher, opts);
}
