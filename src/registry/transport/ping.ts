/**
 * The registry ping, `GET /v2/` (distribution spec, "Determining support"), once per host: it
 * finds the origin that works and the authentication challenges the registry sends.
 *
 * As containers/image `docker/docker_client.go` does: HTTPS with certificate checks; when TLS
 * verification is off (skopeo's `--tls-verify=false`), one quick HTTPS try without certificate
 * checks and then plain HTTP, for a registry that does not speak TLS at all. A 200 and a 401 both
 * mean "a registry is here"; anything else is an error.
 *
 * Challenges are learned only from the registry's own origin: when the ping is redirected to
 * another origin, that origin's `WWW-Authenticate` is ignored (the first request that needs
 * credentials gets the registry's own 401 and its challenges), so another host can never name the
 * realm that the registry's credentials are sent to. containers/image takes the challenges of
 * whatever answered the ping; this is stricter.
 */
import { OcikitError, isOcikitError } from '../../errors.js';
import { type Challenge, parseChallenges } from './challenge.js';
import { type ConnectionSettings, connectionKey } from './dispatcher.js';
import { type HttpClient, registryErrorText, send } from './http.js';

/** What the ping found out about one host. */
export interface HostState {
  /** `https://host` or `http://host`. */
  readonly origin: string;
  /** How this origin is reached (certificates not checked when the ping fell back to that). */
  readonly conn: ConnectionSettings;
  /** Challenges from the ping; replaced by those of a later 401. */
  challenges: Challenge[];
  /**
   * The ping's `X-Registry-Supports-Signatures: 1` (the registry signature API extension), as
   * containers/image `docker/docker_client.go` `detectPropertiesHelper` reads it (the first value).
   */
  readonly supportsSignatures: boolean;
}

/** What pinging needs from the client: HTTP, and the cache of pinged hosts. */
export interface PingClient extends HttpClient {
  /** Pings by connection key and host; a failed ping is forgotten so the next request retries it. */
  readonly hosts: Map<string, Promise<HostState>>;
}

/**
 * Pings `/v2/` of `host` once per client and connection setting and remembers the working origin
 * and the challenges.
 * @throws OcikitError `REGISTRY` (no registry answers, an unexpected status), `INTERRUPTED`.
 */
export function hostState(
  client: PingClient,
  host: string,
  conn: ConnectionSettings,
  signal?: AbortSignal,
): Promise<HostState> {
  const key = `${connectionKey(conn)} ${host}`;
  let p = client.hosts.get(key);
  if (!p) {
    p = ping(client, host, conn, signal);
    client.hosts.set(key, p);
    p.catch(() => client.hosts.delete(key));
  }
  return p;
}

async function ping(
  client: PingClient,
  host: string,
  conn: ConnectionSettings,
  signal?: AbortSignal,
): Promise<HostState> {
  const tryOrigin = async (origin: string, attempts?: number): Promise<HostState> => {
    const res = await send(client, new URL('/v2/', origin), conn, `pinging registry ${origin}`, {
      signal,
      attempts,
    });
    const text = res.statusCode === 200 || res.statusCode === 401 ? '' : await registryErrorText(res);
    if (text === '') await res.body.dump().catch(() => undefined);
    if (res.statusCode !== 200 && res.statusCode !== 401) {
      throw new OcikitError('REGISTRY', `pinging registry ${origin}: HTTP ${res.statusCode}${text}`);
    }
    const own = res.url.origin === origin;
    const xrss = res.headers['x-registry-supports-signatures'];
    return {
      origin,
      conn,
      challenges: own ? parseChallenges(res.headers['www-authenticate']) : [],
      supportsSignatures: (Array.isArray(xrss) ? xrss[0] : xrss) === '1',
    };
  };
  if (conn.verify) return tryOrigin(`https://${host}`);
  try {
    // One quick HTTPS try without certificate checks; a plain-HTTP registry fails it at once.
    return await tryOrigin(`https://${host}`, 1);
  } catch (err) {
    // A setting ocikit cannot honour (a bad or unsupported proxy) stops the pull, never a fallback.
    if (isOcikitError(err, 'INTERRUPTED') || isOcikitError(err, 'CONFIG') || isOcikitError(err, 'UNSUPPORTED'))
      throw err;
    return tryOrigin(`http://${host}`);
  }
}
