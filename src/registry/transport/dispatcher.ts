/**
 * The dispatcher factory: the one function that builds the undici connection pools registry
 * traffic goes through, from one registry's TLS settings, and the one place that loads undici.
 *
 * Guarantees: verified connections trust the host's system store (as Go finds it) plus the
 * registry's certs.d CAs, never Node's bundled roots on Linux; a proxy that cannot be used (socks5)
 * is refused (`UNSUPPORTED`), never bypassed; undici is loaded from its own modules for a fast start, and
 * falls back to its public index when their layout changes (see the loader below, and
 * docs/fetch.md).
 */
import { createRequire } from 'node:module';
import { type SecureContext, createSecureContext, rootCertificates } from 'node:tls';
import type { Agent, Dispatcher, ProxyAgent } from 'undici';
import { OcikitError } from '../../errors.js';
import type { TlsMaterial } from '../../config/certs-d.js';
import { type SystemRoots, systemRoots } from '../../config/system-roots.js';
import { type BulkPool, closeBulkPool } from './bulk.js';
import { type ProxySpec, parseProxy, proxyAuthorization, proxyFor, proxyName } from './proxy.js';

export type { TlsMaterial };

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

let proxyAgentClass: typeof ProxyAgent | undefined;

/**
 * Loads undici's `ProxyAgent` once, the first time a proxy is used (most runs use none). Unlike the
 * Agent it comes from the package index: its tunnels call `connect()` on a Pool to the proxy, a
 * method that only the index installs (`Object.assign(Dispatcher.prototype, api)` in undici's
 * index.js), so its own module alone yields tunnels that fail with "connect is not a function".
 * The ~40 ms of the index are paid only by runs that use a proxy
 * (test/integration/fetch-proxy.test.ts runs in a process where nothing else loads the index).
 */
function undiciProxyAgent(): typeof ProxyAgent {
  proxyAgentClass ??= (createRequire(import.meta.url)('undici') as typeof import('undici')).ProxyAgent;
  return proxyAgentClass;
}

/**
 * Which way undici was loaded: `'lib'` for its private modules (the fast start-up), `'index'` for
 * the fallback to the package index after its layout changed. Loads undici if it is not loaded yet.
 */
export function undiciLoadPath(): 'lib' | 'index' {
  return undici().via;
}

/**
 * One registry's connection settings: certificate checks (skopeo's `--tls-verify`), the
 * registry's extra CA certificates and client certificate and key from its certs.d directory
 * (containers-certs.d(5), containers/image `pkg/tlsclientconfig`), where the system trust store
 * is looked up, and the proxy (undici's `ProxyAgent`).
 */
export interface DispatcherOptions {
  /** Check server certificates (default in every caller: true). False: accept any certificate. */
  readonly tlsVerify: boolean;
  /** Extra CA certificates (PEM; certs.d `*.crt`), trusted besides the system roots. */
  readonly ca?: string | Buffer | readonly (string | Buffer)[] | undefined;
  /** A client certificate (PEM; certs.d `*.cert`), sent when the server asks for one. */
  readonly cert?: string | Buffer | undefined;
  /** The client certificate's key (PEM; certs.d `*.key`). */
  readonly key?: string | Buffer | undefined;
  /**
   * The proxy every request goes through (`proxy.ts` chooses it per URL): an `http://` or
   * `https://` URL, read by Go's rules (`parseProxy`), credentials in it sent to the proxy only,
   * as `Proxy-Authorization: Basic`. A `socks5://` proxy is refused with `UNSUPPORTED`.
   */
  readonly proxy?: string | URL | undefined;
  /** The environment the system trust store is found from (`SSL_CERT_FILE`, `SSL_CERT_DIR`; default `process.env`). */
  readonly env?: NodeJS.ProcessEnv | undefined;
}

/** Keep-alive and timeouts shared by every dispatcher (a slow registry blob is not a dead one). */
const POOL_OPTIONS = { keepAliveTimeout: 10_000, headersTimeout: 60_000, bodyTimeout: 120_000 } as const;

/** The proxy of each proxy dispatcher, for the error messages of {@link request}. */
const proxies = new WeakMap<Dispatcher, ProxySpec>();

/**
 * Builds the dispatcher for one registry's settings: an undici Agent (a pool per origin), or with
 * `proxy` an undici ProxyAgent: https URLs through a CONNECT tunnel, inside which TLS to the
 * registry has that registry's settings ({@link connectOptions}); http URLs sent to the proxy as
 * absolute-form requests (`GET http://host/path`, no tunnel), as Go's `net/http` sends them. An
 * `https://` proxy is reached over TLS with the same settings (Go's Transport uses its one TLS
 * configuration for the proxy too). Close it with `close()` when the run ends.
 * @throws OcikitError `UNSUPPORTED` for a socks5 proxy; `CONFIG` for a proxy URL that cannot be used.
 */
export function createDispatcher(opts: DispatcherOptions, plain = false): Dispatcher {
  if (opts.proxy === undefined) {
    const { AgentClass } = undici();
    // Plain HTTP needs no TLS options: the system roots are not even read (about 80 ms).
    return new AgentClass(plain ? POOL_OPTIONS : { ...POOL_OPTIONS, connect: connectOptions(opts) });
  }
  const spec = parseProxy(String(opts.proxy), 'proxy');
  if (spec.scheme === 'socks5') {
    // undici 7 has a SOCKS5 agent, but Go resolves names differently through one; not done yet.
    throw new OcikitError('UNSUPPORTED', `proxy ${proxyName(spec)}: socks5 proxies are not supported`);
  }
  const token = proxyAuthorization(spec);
  const ProxyAgentClass = undiciProxyAgent();
  const tls = connectOptions(opts);
  const agent = new ProxyAgentClass({
    ...POOL_OPTIONS,
    uri: proxyName(spec),
    proxyTunnel: false,
    requestTls: tls,
    proxyTls: tls,
    ...(token !== undefined ? { token } : {}),
  });
  proxies.set(agent, spec);
  return agent;
}

/** The TLS options of a registry connection (what undici's `connect` and a proxy's `requestTls` take). */
export interface TlsConnectOptions {
  /** False: accept any server certificate. */
  readonly rejectUnauthorized?: boolean;
  /** The trusted CAs and the client certificate, built once for the settings. */
  readonly secureContext?: SecureContext;
}

/** Secure contexts without certs.d material, by system trust store (the common case, built once per process). */
const plainContexts = new Map<SystemRoots | undefined, SecureContext>();

/** The secure context of `tlsVerify: false` connections without a client certificate (built once). */
let unverifiedContext: SecureContext | undefined;

function listOf(v: DispatcherOptions['ca']): (string | Buffer)[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? [...(v as readonly (string | Buffer)[])] : [v as string | Buffer];
}

/**
 * The TLS options of connections to a registry (also of a registry reached through a proxy
 * tunnel): one secure context, built here once for these settings and shared by every
 * connection, so that the hundreds of system CA certificates are parsed once, not per connection.
 *
 * Verified connections trust the host's system trust store (`config/system-roots.ts`, as Go's
 * crypto/x509 finds it; Node's bundled roots on platforms other than Linux) plus `ca`, never
 * Node's bundled roots on Linux. `tlsVerify: false` accepts any certificate; the client
 * certificate is still offered then, as containers/image only turns verification off.
 */
export function connectOptions(opts: DispatcherOptions): TlsConnectOptions {
  const extra = listOf(opts.ca);
  const client = opts.cert !== undefined || opts.key !== undefined ? { cert: opts.cert, key: opts.key } : undefined;
  if (!opts.tlsVerify) {
    // No CA at all (`ca: []`): nothing is verified, and Node's default, its bundled roots, would
    // be parsed first (some 30 ms with OpenSSL 3, nodejs/node#40524) for every such process.
    if (client !== undefined)
      return { rejectUnauthorized: false, secureContext: createSecureContext({ ca: [], ...client }) };
    unverifiedContext ??= createSecureContext({ ca: [] });
    return { rejectUnauthorized: false, secureContext: unverifiedContext };
  }
  const roots = systemRoots({ env: opts.env });
  if (extra.length === 0 && client === undefined) {
    let ctx = plainContexts.get(roots);
    if (ctx === undefined) {
      ctx = createSecureContext({ ca: trustedCAs(roots, []) });
      plainContexts.set(roots, ctx);
    }
    return { secureContext: ctx };
  }
  return { secureContext: createSecureContext({ ca: trustedCAs(roots, extra), ...client }) };
}

/** OpenSSL's verification results that mean "signed by no CA this connection trusts". */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
]);

/** For an error `code` of a server certificate no trusted CA signed: what to do about it; else ''. */
export function untrustedCertificateHint(code: string | undefined): string {
  return code !== undefined && UNTRUSTED.has(code)
    ? ' (the server certificate is not signed by a trusted CA: put the CA in certs.d/HOST:PORT/*.crt or the system trust store, see docs/tls.md)'
    : '';
}

/** The CA certificates a verified connection trusts: the system store (or Node's bundled roots off Linux) and `extra`. */
function trustedCAs(roots: SystemRoots | undefined, extra: readonly (string | Buffer)[]): (string | Buffer)[] {
  return [...(roots === undefined ? rootCertificates : roots.pems), ...extra];
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
  /** The connections of bulk GETs (`bulk.ts`). */
  readonly bulk: BulkPool;
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
 * `proxyFor` chooses for that URL, with `conn`'s TLS settings for an https URL. An http URL
 * through a proxy takes `conn`'s certificate check for TLS to an `https://` proxy, as Go's
 * Transport uses the registry client's TLS configuration for the proxy too.
 * @throws OcikitError `CONFIG`, `UNSUPPORTED` for a proxy setting that cannot be used (`proxy.ts`).
 */
export function dispatcherFor(pool: DispatcherPool, target: URL, conn: ConnectionSettings): Dispatcher {
  const https = target.protocol === 'https:';
  const proxy = proxyFor(target, pool.env);
  const verify = https || proxy !== undefined ? conn.verify : true;
  const key = `${https ? `https ${connectionKey(conn)}` : `http ${verify}`} ${proxy ?? ''}`;
  let d = pool.dispatchers.get(key);
  if (d === undefined) {
    d = createDispatcher(
      {
        tlsVerify: verify,
        ...(https && conn.tls !== undefined ? conn.tls : {}),
        proxy,
        env: pool.env,
      },
      !https && proxy === undefined,
    );
    pool.dispatchers.set(key, d);
  }
  return d;
}

/**
 * How a bulk GET (`bulk.ts`) of `target` with `conn` connects: its pool key and TLS options, or
 * undefined when a proxy applies to that URL (then the request goes through undici's proxy agent,
 * {@link dispatcherFor}). The TLS options are what {@link dispatcherFor}'s dispatcher would use.
 * @throws OcikitError `CONFIG`, `UNSUPPORTED` for a proxy setting that cannot be used (`proxy.ts`).
 */
export function bulkRoute(
  pool: DispatcherPool,
  target: URL,
  conn: ConnectionSettings,
): { readonly key: string; readonly tls?: TlsConnectOptions } | undefined {
  if (proxyFor(target, pool.env) !== undefined) return undefined;
  if (target.protocol !== 'https:') return { key: target.origin };
  const key = `${target.origin} ${connectionKey(conn)}`;
  let tls = pool.bulk.tls.get(key);
  if (tls === undefined) {
    tls = connectOptions({ tlsVerify: conn.verify, ...(conn.tls ?? {}), env: pool.env });
    pool.bulk.tls.set(key, tls);
  }
  return { key, tls };
}

/** Closes every dispatcher of `pool`, and its bulk connections. */
export async function closeDispatchers(pool: DispatcherPool): Promise<void> {
  closeBulkPool(pool.bulk);
  const all = [...pool.dispatchers.values()];
  pool.dispatchers.clear();
  await Promise.all(all.map((d) => d.close()));
}

/**
 * Sends one request through `dispatcher` (undici's promise `request`); the body is left unread.
 * Through a proxy, a failure names the proxy (never its credentials): a connection error, a
 * refused CONNECT (`through proxy http://p:3128: CONNECT answered HTTP 407`) or a 407 answer to a
 * forwarded request. The error keeps the lower error's code, so a refused connection is retried.
 */
export async function request(
  dispatcher: Dispatcher,
  opts: Dispatcher.RequestOptions,
): Promise<Dispatcher.ResponseData> {
  const spec = proxies.get(dispatcher);
  if (spec === undefined) return undici().request.call(dispatcher, opts);
  let res: Dispatcher.ResponseData;
  try {
    res = await undici().request.call(dispatcher, opts);
  } catch (err) {
    throw proxyError(spec, err);
  }
  if (res.statusCode === 407) {
    await res.body.dump().catch(() => undefined);
    throw proxyError(spec, new Error('answered HTTP 407 (Proxy Authentication Required)'));
  }
  return res;
}

/** `err` as an error naming proxy `spec`, its code kept, the proxy's password scrubbed from the text. */
function proxyError(spec: ProxySpec, err: unknown): Error {
  let text = err instanceof Error ? err.message : String(err);
  const status = /^Proxy response \((\d+)\) !== 200 when HTTP Tunneling$/.exec(text);
  if (status) text = `CONNECT answered HTTP ${status[1]}`;
  if (text === 'Proxy Authentication Required (407)') text = 'answered HTTP 407 (Proxy Authentication Required)';
  if (spec.password !== undefined && spec.password !== '') {
    for (const secret of [spec.password, encodeURIComponent(spec.password)]) text = text.split(secret).join('xxxxx');
  }
  const out = new Error(`through proxy ${proxyName(spec)}: ${text}`, { cause: err });
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') Object.assign(out, { code });
  return out;
}
