/**
 * The proxy choice of the registry client: which proxy, if any, a request to a URL goes through.
 * The rules are those of Go's `http.ProxyFromEnvironment` as skopeo 1.9.3 (Go 1.19) applies them
 * (golang.org/x/net `http/httpproxy/proxy.go` as vendored in Go 1.19, x/net 2022-05-17; every
 * registry request of containers/image goes through it):
 *
 * - an https URL uses `HTTPS_PROXY`, else `https_proxy`; an http URL `HTTP_PROXY`, else
 *   `http_proxy`; a variable set to the empty string counts as unset;
 * - when `REQUEST_METHOD` is set (a CGI process), a set `HTTP_PROXY` is refused for http URLs
 *   (golang.org/s/cgihttpproxy), before any other rule;
 * - a value without one of the schemes `http`, `https`, `socks5` is read as `http://VALUE`;
 * - `localhost` and loopback IP addresses are never proxied;
 * - `NO_PROXY`, else `no_proxy`: comma-separated entries, trimmed and case-insensitive; `*` means
 *   no proxy at all; an IP address or CIDR; a domain name, matching that name and its
 *   subdomains (`.example.com` and `*.example.com`: subdomains only); each optionally with a
 *   `:port` (then only that port matches; the URL's port defaults to 80/443). Malformed entries
 *   are ignored, as Go ignores them.
 *
 * Stricter than Go, and why (docs/proxies.md): a proxy value Go cannot make sense of is silently
 * ignored by Go (a direct connection, bypassing the proxy the user meant) or turned into a
 * nonsense address (`ftp://p` becomes host `ftp`); ocikit refuses both with `CONFIG`. `socks5`
 * proxies are refused with `UNSUPPORTED` instead of connecting directly.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { domainToASCII } from 'node:url';
import { OcikitError } from '../../errors.js';

/** A parsed proxy URL. */
export interface ProxySpec {
  readonly scheme: 'http' | 'https' | 'socks5';
  /** The host as it goes into a URL (an IPv6 address in brackets). */
  readonly host: string;
  /** The port, explicit or the scheme's default (80, 443, 1080), as Go's `canonicalAddr`. */
  readonly port: number;
  /** The user name, percent-decoded; present whenever the URL has a `user@` part. */
  readonly username?: string | undefined;
  /** The password, percent-decoded; undefined when the user part has no `:`. */
  readonly password?: string | undefined;
}

const SCHEMES = new Set(['http', 'https', 'socks5']);
const DEFAULT_PORT: Record<ProxySpec['scheme'], number> = { http: 80, https: 443, socks5: 1080 };
/** Characters Go's `net/url` accepts in a user-info part (`validUserinfo`), `%` escapes included. */
const USERINFO = /^[A-Za-z0-9\-._:~!$&'()*+,;=%@]*$/;
/** A host name of a proxy URL: RFC 3986 reg-name characters, without percent-escapes. */
const REG_NAME = /^[A-Za-z0-9\-._~!$&'()*+,;=]+$/;

/** Percent-decodes user-info text, or undefined on a malformed `%` escape (as Go's `unescape`). */
function unescapeUserinfo(s: string): string | undefined {
  return /%(?![0-9A-Fa-f]{2})/.test(s) ? undefined : decodePercent(s);
}

/** Decodes `%XX` escapes as bytes, then the bytes as UTF-8 (Go keeps bytes; a string is UTF-8 here). */
function decodePercent(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; ) {
    if (s[i] === '%') {
      bytes.push(Number.parseInt(s.slice(i + 1, i + 3), 16));
      i += 3;
    } else {
      for (const b of Buffer.from(s[i]!)) bytes.push(b);
      i++;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** What a proxy value is called in messages: its variable, never its text (it may hold a password). */
function bad(variable: string, why: string): OcikitError {
  return new OcikitError('CONFIG', `proxy setting ${variable}: ${why}`);
}

/**
 * Parses a proxy value as Go's `httpproxy` reads it: a URL with scheme `http`, `https` or
 * `socks5`, or a `host[:port]` that gets `http://` prefixed. `variable` names the value in errors.
 * @throws OcikitError `CONFIG` for a value that is not a usable proxy URL (see the module header).
 */
export function parseProxy(value: string, variable: string): ProxySpec {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(value);
  const scheme = m?.[1]?.toLowerCase();
  if (scheme !== undefined && !SCHEMES.has(scheme)) {
    throw bad(variable, `unsupported proxy scheme "${scheme}" (http, https or socks5)`);
  }
  const rest = scheme === undefined ? value : value.slice(m![0].length);
  const authority = /^[^/?#]*/.exec(rest)![0];
  const at = authority.lastIndexOf('@');
  const hostPort = authority.slice(at + 1);
  let username: string | undefined;
  let password: string | undefined;
  if (at >= 0) {
    const info = authority.slice(0, at);
    if (!USERINFO.test(info)) throw bad(variable, 'invalid character in the user name or password');
    const colon = info.indexOf(':');
    const user = unescapeUserinfo(colon < 0 ? info : info.slice(0, colon));
    const pass = colon < 0 ? '' : unescapeUserinfo(info.slice(colon + 1));
    if (user === undefined || pass === undefined) throw bad(variable, 'invalid % escape in the user name or password');
    username = user;
    if (colon >= 0) password = pass;
  }
  const hp = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(hostPort);
  const host = hp?.[1] ?? '';
  const ipv6 = host.startsWith('[');
  if (host === '' || (ipv6 ? !isGoIP(host.slice(1, -1)) || isIPv4(host.slice(1, -1)) : !REG_NAME.test(host))) {
    throw bad(variable, hostPort === '' ? 'no proxy host' : 'invalid proxy host or port');
  }
  const s = (scheme ?? 'http') as ProxySpec['scheme'];
  const port = hp?.[2] ? Number(hp[2]) : DEFAULT_PORT[s];
  if (port < 1 || port > 65535) throw bad(variable, `invalid proxy port ${port}`);
  return { scheme: s, host: host.toLowerCase(), port, username, password };
}

/** The proxy URL of `spec` with its credentials percent-encoded (what {@link parseProxy} reads back). */
export function formatProxy(spec: ProxySpec): string {
  let user = '';
  if (spec.username !== undefined) {
    user = encodeURIComponent(spec.username);
    if (spec.password !== undefined) user += `:${encodeURIComponent(spec.password)}`;
    user += '@';
  }
  return `${spec.scheme}://${user}${spec.host}:${spec.port}`;
}

/** The proxy of `spec` as messages name it: scheme, host and port, no credentials. */
export function proxyName(spec: ProxySpec): string {
  return `${spec.scheme}://${spec.host}:${spec.port}`;
}

/** The proxy URL of `spec` with the password replaced by `xxxxx` (as Go's `URL.Redacted`). */
export function redactedProxy(spec: ProxySpec): string {
  if (spec.username === undefined) return proxyName(spec);
  const user = encodeURIComponent(spec.username) + (spec.password !== undefined ? ':xxxxx' : '');
  return `${spec.scheme}://${user}@${spec.host}:${spec.port}`;
}

/** The `Proxy-Authorization` value for `spec`: Basic with `user:password`, sent whenever a user part is given (as Go does). */
export function proxyAuthorization(spec: ProxySpec): string | undefined {
  if (spec.username === undefined) return undefined;
  return `Basic ${Buffer.from(`${spec.username}:${spec.password ?? ''}`).toString('base64')}`;
}

// ---- IP addresses, as Go's net.ParseIP: 16 bytes, IPv4 as IPv4-mapped IPv6 ----

/** True when `s` is an address Go's `net.ParseIP` accepts (no zone, no leading zeros in IPv4). */
function isGoIP(s: string): boolean {
  return isIPv4(s) || (!s.includes('%') && isIPv6(s));
}

/** The 16 bytes of an IP address, or undefined when `s` is not one (see {@link isGoIP}). */
function ipBytes(s: string): Uint8Array | undefined {
  const out = new Uint8Array(16);
  if (isIPv4(s)) {
    out[10] = 0xff;
    out[11] = 0xff;
    out.set(s.split('.').map(Number), 12);
    return out;
  }
  if (!isGoIP(s)) return undefined;
  let text = s;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = ipBytes(v4[1]!)!;
    text = `${text.slice(0, -v4[1]!.length)}${((b[12]! << 8) | b[13]!).toString(16)}:${((b[14]! << 8) | b[15]!).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const words = (x: string | undefined) => (x ? x.split(':').map((w) => Number.parseInt(w, 16)) : []);
  const h = words(head);
  const t = words(tail);
  const all = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  all.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** Whether `ip` is an IPv4 address (IPv4-mapped form), as Go's `To4() != nil`. */
function isV4(ip: Uint8Array): boolean {
  return ip.subarray(0, 10).every((b) => b === 0) && ip[10] === 0xff && ip[11] === 0xff;
}

/** Go's `IsLoopback`: 127.0.0.0/8, or `::1`. */
function isLoopback(ip: Uint8Array): boolean {
  return isV4(ip) ? ip[12] === 127 : ip.subarray(0, 15).every((b) => b === 0) && ip[15] === 1;
}

/** Whether the first `bits` bits of `a` and `b` agree. */
function samePrefix(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  for (let i = 0; i < bits; i++) {
    const mask = 0x80 >> (i % 8);
    if ((a[i >> 3]! & mask) !== (b[i >> 3]! & mask)) return false;
  }
  return true;
}

// ---- NO_PROXY ----

type Matcher =
  | { readonly kind: 'all' }
  | { readonly kind: 'cidr'; readonly v4: boolean; readonly ip: Uint8Array; readonly bits: number }
  | { readonly kind: 'ip'; readonly ip: Uint8Array; readonly port: string }
  | {
      readonly kind: 'domain';
      readonly suffix: string;
      readonly exact: boolean;
      readonly port: string;
      readonly entry: string;
    };

/** Go's `net.SplitHostPort`, or undefined when `s` is not `host:port` / `[host]:port`. */
function splitHostPort(s: string): [string, string] | undefined {
  const colon = s.lastIndexOf(':');
  if (colon < 0) return undefined;
  let host: string;
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0 || end + 1 !== colon) return undefined;
    host = s.slice(1, end);
  } else {
    host = s.slice(0, colon);
    if (host.includes(':')) return undefined;
  }
  if (/[[\]]/.test(host) || s.slice(colon).includes(']')) return undefined;
  return [host, s.slice(colon + 1)];
}

/** The entries of a `NO_PROXY` value, as Go's `httpproxy` reads them (malformed ones skipped). */
function noProxyMatchers(value: string): readonly (Matcher & { readonly entry?: string })[] {
  const out: (Matcher & { entry?: string })[] = [];
  for (const raw of value.split(',')) {
    const p = raw.trim().toLowerCase();
    if (p === '') continue;
    if (p === '*') return [{ kind: 'all' }];
    const cidr = /^([^/]+)\/(\d+)$/.exec(p);
    const cidrIp = cidr ? ipBytes(cidr[1]!) : undefined;
    if (cidr && cidrIp) {
      const v4 = isIPv4(cidr[1]!);
      const bits = Number(cidr[2]);
      if (bits <= (v4 ? 32 : 128)) {
        out.push({ kind: 'cidr', v4, ip: cidrIp, bits, entry: p });
        continue;
      }
    }
    const hp = splitHostPort(p);
    let host = hp ? hp[0] : p;
    const port = hp ? hp[1] : '';
    if (hp && host === '') continue;
    const ip = ipBytes(host);
    if (ip) {
      out.push({ kind: 'ip', ip, port, entry: p });
      continue;
    }
    if (host === '') continue;
    if (host.startsWith('*.')) host = host.slice(1);
    const exact = !host.startsWith('.');
    let suffix = exact ? `.${host}` : host;
    const ascii = Buffer.byteLength(suffix) === suffix.length ? suffix : `.${domainToASCII(suffix.slice(1))}`;
    if (ascii !== '.') suffix = ascii;
    out.push({ kind: 'domain', suffix, exact, port, entry: p });
  }
  return out;
}

/** Whether matcher `m` covers host `host` (lower case), port `port`, IP `ip` (if the host is one). */
function matches(m: Matcher, host: string, port: string, ip: Uint8Array | undefined): boolean {
  switch (m.kind) {
    case 'all':
      return true;
    case 'cidr':
      return (
        ip !== undefined &&
        isV4(ip) === m.v4 &&
        samePrefix(m.v4 ? ip.subarray(12) : ip, m.v4 ? m.ip.subarray(12) : m.ip, m.bits)
      );
    case 'ip':
      return ip?.every((b, i) => b === m.ip[i]) === true && (m.port === '' || m.port === port);
    case 'domain':
      return (host.endsWith(m.suffix) || (m.exact && host === m.suffix.slice(1))) && (m.port === '' || m.port === port);
  }
}

// ---- the decision ----

/** The first non-empty of `names` in `env`, with its name. */
function envAny(env: NodeJS.ProcessEnv, ...names: string[]): [string, string] | undefined {
  for (const n of names) {
    const v = env[n];
    if (v !== undefined && v !== '') return [n, v];
  }
  return undefined;
}

/** Where a request to a URL goes, and why. */
export interface ProxyDecision {
  /** The proxy, or undefined for a direct connection. */
  readonly proxy: ProxySpec | undefined;
  /** The variable that named the proxy (when there is one). */
  readonly variable?: string | undefined;
  /** Why the connection is direct or proxied, in words (no secret). */
  readonly reason: string;
}

/**
 * Decides the proxy of a request to `target` under `env` by Go's rules (module header).
 * @throws OcikitError `CONFIG` for a proxy value that cannot be used, or `HTTP_PROXY` in a CGI
 *   environment; `UNSUPPORTED` for a socks5 proxy.
 */
export function decideProxy(target: URL, env: NodeJS.ProcessEnv): ProxyDecision {
  const https = target.protocol === 'https:';
  if (!https && target.protocol !== 'http:')
    return { proxy: undefined, reason: `no proxy for ${target.protocol} URLs` };
  const names = https ? ['HTTPS_PROXY', 'https_proxy'] : ['HTTP_PROXY', 'http_proxy'];
  const set = envAny(env, ...names);
  if (set === undefined) return { proxy: undefined, reason: `${names.join(' and ')} unset` };
  const [variable, value] = set;
  if (!https && env.REQUEST_METHOD !== undefined && env.REQUEST_METHOD !== '') {
    throw bad(variable, 'refused in a CGI environment (REQUEST_METHOD is set; see golang.org/s/cgihttpproxy)');
  }
  const hostname = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
  const port = target.port || (https ? '443' : '80');
  const ip = ipBytes(hostname);
  if (hostname === 'localhost' || (ip !== undefined && isLoopback(ip))) {
    return { proxy: undefined, variable, reason: 'localhost and loopback addresses are never proxied' };
  }
  const noProxy = envAny(env, 'NO_PROXY', 'no_proxy');
  const host = hostname.trim().toLowerCase();
  for (const m of noProxy === undefined ? [] : noProxyMatchers(noProxy[1])) {
    if (matches(m, host, port, ip)) {
      const entry = m.kind === 'all' ? '*' : m.entry;
      return { proxy: undefined, variable, reason: `${noProxy![0]} entry "${entry}" matches` };
    }
  }
  const proxy = parseProxy(value, variable);
  if (proxy.scheme === 'socks5') {
    throw new OcikitError('UNSUPPORTED', `proxy setting ${variable}: socks5 proxies are not supported`);
  }
  return { proxy, variable, reason: `${variable} applies` };
}

/**
 * The proxy URL for a request to `target` under environment `env` (credentials percent-encoded,
 * for the dispatcher), or undefined to connect directly.
 * @throws as {@link decideProxy}.
 */
export function proxyFor(target: URL, env: NodeJS.ProcessEnv): string | undefined {
  const { proxy } = decideProxy(target, env);
  return proxy === undefined ? undefined : formatProxy(proxy);
}

/** How a request to a URL would be sent, for display (`ocikit registries`): never a password. */
export interface ProxyDescription {
  /** The proxy URL with the password redacted, or undefined for a direct connection. */
  readonly proxy: string | undefined;
  /** The variable that named the proxy. */
  readonly variable?: string | undefined;
  /** Why, in words; for a refused setting the error message. */
  readonly reason: string;
  /** The error a request to that URL would fail with (a refused proxy setting). */
  readonly error?: OcikitError | undefined;
}

/** Describes the proxy choice for `target` under `env` without throwing and without secrets. */
export function describeProxy(target: URL, env: NodeJS.ProcessEnv): ProxyDescription {
  try {
    const d = decideProxy(target, env);
    return { proxy: d.proxy && redactedProxy(d.proxy), variable: d.variable, reason: d.reason };
  } catch (err) {
    if (!(err instanceof OcikitError)) throw err;
    return { proxy: undefined, reason: err.message, error: err };
  }
}
