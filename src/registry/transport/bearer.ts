/**
 * The authentication flow of the registry client: anonymous access, HTTP Basic with the
 * credentials found (auth/auth-files.ts), and bearer tokens (the distribution project's token
 * authentication, `docs/spec/auth/token.md` and `docs/spec/auth/oauth.md`; containers/image
 * `docker/docker_client.go` `setupRequestAuth`; go-containerregistry
 * `pkg/v1/remote/transport/bearer.go`).
 *
 * A request is first authorised from the challenges of the ping. A `Bearer realm=…,service=…`
 * challenge is answered by a token from the realm for scope `repository:<name>:pull`: with an
 * identity token, by the OAuth2 refresh-token grant (a form POST, as c/image
 * `getBearerTokenOAuth2`, with ocikit's own `client_id`, which the spec lets any client choose);
 * otherwise by a GET with `account=<user>` and Basic credentials when there are a user and a
 * password (c/image `getBearerToken`). The token is read from `token` or `access_token` and cached
 * per origin, realm, service and scope. A `Basic` challenge is answered with the user and
 * password; credentials that are only an identity token are refused there (c/image would send an
 * empty user and password instead). When a request still gets a 401, it is authorised once more
 * from that 401's own challenges with a fresh token. Credentials are looked up once per domain
 * and repository, credential helpers asked once per registry.
 *
 * Where credentials go (docs/fetch.md, "Where credentials go"): the registry's credentials and
 * tokens are sent to the registry's origin, and the credentials to the token realm that the
 * registry itself named (in its ping or its own 401; the realm may be on another host, as
 * containers/image allows). Nothing else: challenges are learned only from responses of the
 * registry's origin (`res.url`, after redirects), so a 401 from another origin — blob storage the
 * registry redirected to — is an error naming that origin, never a reason to fetch a token from a
 * realm it names or to send its token back to the registry, as containers/image
 * `docker/docker_client.go` never re-authenticates against another host's challenge. Redirects
 * away from an origin drop `Authorization` (`http.ts`), also for the token request itself; the
 * refresh-token POST, whose body holds the identity token, follows no redirect at all.
 */
import { OcikitError } from '../../errors.js';
import { escapeControl } from '../../internal/text.js';
import {
  basicAuthorization,
  lookupCredentials,
  type AuthLookupOptions,
  type Credentials,
} from '../../auth/auth-files.js';
import type { HelperCache } from '../../auth/cred-helpers.js';
import { type Challenge, parseChallenges } from './challenge.js';
import type { ConnectionSettings, TlsMaterial } from './dispatcher.js';
import { type HttpResponse, readBody, registryErrorText, retryBody, send } from './http.js';
import { type HostState, type PingClient, hostState } from './ping.js';

/**
 * Where a repository lives.
 * @category Registry
 */
export interface RepositoryLocation {
  /** The host (and port) serving `/v2/`, e.g. `registry-1.docker.io`, `127.0.0.1:5000`. */
  readonly host: string;
  /** The domain credentials are filed under (`docker.io` for Docker Hub); defaults to `host`. */
  readonly authDomain?: string;
  /** Repository name, e.g. `library/fedora`. */
  readonly path: string;
  /** False: skip certificate checks and allow plain HTTP (default true). */
  readonly tlsVerify?: boolean;
  /** Extra CAs and a client certificate for this registry (certs.d). */
  readonly tls?: TlsMaterial | undefined;
}

/** How `loc` is connected to. */
export function connectionOf(loc: RepositoryLocation): ConnectionSettings {
  return { verify: loc.tlsVerify !== false, tls: loc.tls };
}

/** What the auth flow needs from the client: pinging, where credentials are, and its caches. */
export interface AuthClient extends PingClient {
  /** Where credentials are looked up. */
  readonly auth: AuthLookupOptions;
  /** Bearer tokens by origin, realm, service and scope; a failed fetch is forgotten. */
  readonly tokens: Map<string, Promise<string>>;
  /** Credentials by `<domain>/<repository>`. */
  readonly credentials: Map<string, Promise<Credentials | undefined>>;
  /** Credential helper answers by helper and registry. */
  readonly helperAnswers: HelperCache;
}

/** The `client_id` of ocikit's OAuth2 token requests (c/image sends `containers/image`). */
export const OAUTH_CLIENT_ID = 'ocikit';

function credentialsFor(
  client: AuthClient,
  loc: RepositoryLocation,
  signal: AbortSignal | undefined,
): Promise<Credentials | undefined> {
  const domain = loc.authDomain ?? loc.host;
  const key = `${domain}/${loc.path}`;
  let p = client.credentials.get(key);
  if (!p) {
    p = lookupCredentials(domain, loc.path, client.auth, { cache: client.helperAnswers, signal });
    client.credentials.set(key, p);
  }
  return p;
}

/**
 * Fetches a bearer token for `scope` from the challenge's realm. The token server is reached with
 * the registry's TLS setting (as containers/image does): with `tls-verify: false`, its certificate
 * is not checked either.
 */
async function fetchToken(
  client: AuthClient,
  challenge: Challenge,
  scope: string,
  creds: Credentials | undefined,
  conn: ConnectionSettings,
  signal?: AbortSignal,
): Promise<string> {
  const realm = challenge.params.realm;
  if (!realm) throw new OcikitError('REGISTRY', 'bearer challenge without a realm');
  let url: URL;
  try {
    url = new URL(realm);
  } catch (err) {
    throw new OcikitError('REGISTRY', `bearer realm ${escapeControl(JSON.stringify(realm))} is not a URL`, {
      cause: err,
    });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new OcikitError('REGISTRY', `bearer realm ${escapeControl(JSON.stringify(realm))} is not an http(s) URL`);
  const scopes = [scope];
  const extra = challenge.params.scope;
  if (extra && extra !== scope) scopes.push(extra);
  const headers: Record<string, string> = { accept: 'application/json' };
  let form: URLSearchParams | undefined;
  if (creds?.identityToken) {
    // The OAuth2 refresh-token grant: the realm's own query, then ours, in the form body.
    form = new URLSearchParams(url.search);
    if (challenge.params.service) form.append('service', challenge.params.service);
    for (const s of scopes) form.append('scope', s);
    form.append('grant_type', 'refresh_token');
    form.append('refresh_token', creds.identityToken);
    form.append('client_id', OAUTH_CLIENT_ID);
    headers['content-type'] = 'application/x-www-form-urlencoded';
  } else {
    if (creds?.username) url.searchParams.append('account', creds.username);
    if (challenge.params.service) url.searchParams.append('service', challenge.params.service);
    for (const s of scopes) url.searchParams.append('scope', s);
    if (creds?.username && creds.password) headers.authorization = basicAuthorization(creds);
  }
  const what = `requesting a token from ${url.origin}${url.pathname}`;
  const body = await retryBody(client, what, signal, async () => {
    const res = await send(
      client,
      url,
      conn,
      what,
      form ? { method: 'POST', headers, body: form.toString(), redirects: false, signal } : { headers, signal },
    );
    if (res.statusCode !== 200) {
      const text = await registryErrorText(res);
      const how = form ? ' (refresh-token grant with an identity token)' : creds ? '' : ' (no credentials found)';
      throw new OcikitError('REGISTRY', `${what}: HTTP ${res.statusCode}${text}${how}`);
    }
    return readBody(res, 1024 * 1024, () => new OcikitError('REGISTRY', `${what}: token response too large`));
  });
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

/** The `Authorization` value answering `challenges`, or undefined for an anonymous request. */
async function authorization(
  client: AuthClient,
  state: HostState,
  loc: RepositoryLocation,
  challenges: Challenge[],
  fresh: boolean,
  signal?: AbortSignal,
): Promise<string | undefined> {
  const bearer = challenges.find((c) => c.scheme === 'bearer');
  const creds = await credentialsFor(client, loc, signal);
  if (bearer) {
    const scope = `repository:${loc.path}:pull`;
    const key = `${state.origin} ${bearer.params.realm ?? ''} ${bearer.params.service ?? ''} ${scope}`;
    let p = fresh ? undefined : client.tokens.get(key);
    if (!p) {
      p = fetchToken(client, bearer, scope, creds, state.conn, signal);
      client.tokens.set(key, p);
      p.catch(() => client.tokens.delete(key));
    }
    return `Bearer ${await p}`;
  }
  if (!challenges.some((c) => c.scheme === 'basic') || !creds) return undefined;
  if (creds.identityToken && !creds.username && !creds.password) {
    throw new OcikitError(
      'REGISTRY',
      `${state.origin} asks for Basic authentication, but the credentials for ${loc.authDomain ?? loc.host} ` +
        'are an identity token, which is only exchanged at a bearer token realm (ocikit never sends it as Basic)',
    );
  }
  return basicAuthorization(creds);
}

/**
 * Sends an authorised GET for `/v2/<path>/<suffix>`: authorises from the ping's challenges, and on
 * a 401 authorises once more from the 401's own challenges.
 * @returns the final response, body unread (a 401 that remains is returned, not thrown).
 * @throws OcikitError `REGISTRY` (ping, token or transport failure), `CONFIG` (a bad auth file),
 *   `INTERRUPTED`.
 */
export function authedGet(
  client: AuthClient,
  loc: RepositoryLocation,
  suffix: string,
  what: string,
  headers: Record<string, string>,
  signal?: AbortSignal,
): Promise<HttpResponse> {
  return authedPathGet(client, loc, `/v2/${loc.path}/${suffix}`, what, headers, signal);
}

/**
 * {@link authedGet} of any absolute path on the registry's origin, authorised for `loc`'s
 * repository (the signature API extension's `/extensions/v2/<name>/signatures/<digest>`).
 */
export async function authedPathGet(
  client: AuthClient,
  loc: RepositoryLocation,
  pathname: string,
  what: string,
  headers: Record<string, string>,
  signal?: AbortSignal,
): Promise<HttpResponse> {
  const state = await hostState(client, loc.host, connectionOf(loc), signal);
  const url = new URL(pathname, state.origin);
  let auth = await authorization(client, state, loc, state.challenges, false, signal);
  const go = (a: string | undefined) =>
    send(client, url, state.conn, what, { headers: { ...headers, ...(a ? { authorization: a } : {}) }, signal });
  let res = await go(auth);
  if (res.statusCode === 401) {
    await refuseForeign(res, state.origin, what);
    const challenges = parseChallenges(res.headers['www-authenticate']);
    await res.body.dump().catch(() => undefined);
    if (challenges.length > 0) {
      state.challenges = challenges;
      auth = await authorization(client, state, loc, challenges, true, signal);
    }
    res = await go(auth);
    if (res.statusCode === 401) await refuseForeign(res, state.origin, what);
  }
  return res;
}

/**
 * Throws for a 401 that another origin sent (the registry redirected the request there): its
 * challenge is not followed and no credentials are offered to it (module header).
 * @throws OcikitError `REGISTRY` naming that origin.
 */
async function refuseForeign(res: HttpResponse, origin: string, what: string): Promise<void> {
  if (res.url.origin === origin) return;
  await res.body.dump().catch(() => undefined);
  throw new OcikitError(
    'REGISTRY',
    `${what}: redirected to ${escapeControl(res.url.origin)}, which answered HTTP 401; ` +
      'ocikit sends no credentials to an origin other than the registry',
  );
}
