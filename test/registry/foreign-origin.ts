/**
 * The credential-leak scenario, on loopback: a registry that wants credentials (Basic, or a bearer
 * token from its own token server) and redirects every blob request to a *foreign origin* — another
 * port of 127.0.0.1, or 127.0.0.2 — which answers 401 with its own `WWW-Authenticate: Bearer
 * realm=…` naming a *foreign token server*. Every request each server receives is recorded, so a
 * test can assert where credentials and tokens went; {@link leaks} finds them.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { TestContext } from 'node:test';
import { serve } from './fake-registry.js';

/** One request a server received. */
export interface Recorded {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
}

/** The scenario's servers and secrets. */
export interface ForeignOriginScenario {
  /** `127.0.0.1:<port>` of the registry. */
  readonly host: string;
  /** The foreign origin's `http://<address>:<port>`. */
  readonly foreignOrigin: string;
  readonly registry: Recorded[];
  readonly foreign: Recorded[];
  readonly foreignTokens: Recorded[];
  /** The registry's credentials and the `Authorization` values that carry them. */
  readonly user: string;
  readonly password: string;
  readonly basic: string;
  /** The token the registry's token server issues. */
  readonly registryToken: string;
  /** The token the foreign token server issues. */
  readonly foreignToken: string;
}

/** Options of {@link foreignOriginScenario}. */
export interface ScenarioOptions {
  /** How the registry authenticates: `basic` (the credentials themselves) or `bearer` (its own token server). */
  readonly auth: 'basic' | 'bearer';
  /** Where the foreign origin listens: another port of 127.0.0.1, or 127.0.0.2. */
  readonly foreignAddress: '127.0.0.1' | '127.0.0.2';
  /** Manifests by digest and tag, served by the registry. */
  readonly manifests: ReadonlyMap<string, Buffer>;
  /** Blobs by digest, served by the foreign origin to a request bearing the foreign token. */
  readonly blobs: ReadonlyMap<string, Buffer>;
}

/** Starts the three servers of the scenario; they stop when the test ends. */
export async function foreignOriginScenario(t: TestContext, opts: ScenarioOptions): Promise<ForeignOriginScenario> {
  const user = 'alice';
  const password = 'S3CRET-PASSWORD';
  const basic = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const registryToken = 'REGISTRY-TOKEN-1234';
  const foreignToken = 'FOREIGN-TOKEN-5678';
  const registry: Recorded[] = [];
  const foreign: Recorded[] = [];
  const foreignTokens: Recorded[] = [];
  const tokens = await serve(t, (req, res) => {
    foreignTokens.push({ path: req.url!, headers: req.headers });
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ token: foreignToken, access_token: foreignToken }));
  });
  const other = await serve(
    t,
    (req, res) => {
      foreign.push({ path: req.url!, headers: req.headers });
      const digest = /\/storage\/(sha256:[0-9a-f]{64})$/.exec(req.url!)?.[1];
      if (req.headers.authorization === `Bearer ${foreignToken}` && digest && opts.blobs.has(digest)) {
        return res.end(opts.blobs.get(digest));
      }
      res.statusCode = 401;
      res.setHeader(
        'www-authenticate',
        `Bearer realm="${tokens.origin}/token",service="foreign-storage",scope="repository:ns/repo:pull"`,
      );
      res.setHeader('content-type', 'application/json');
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"foreign storage wants its own token"}]}');
    },
    opts.foreignAddress,
  );
  let origin = '';
  const reg = await serve(t, (req, res) => {
    registry.push({ path: req.url!, headers: req.headers });
    const url = new URL(req.url!, 'http://x');
    if (url.pathname === '/token') {
      if (req.headers.authorization !== basic) {
        res.statusCode = 401;
        return res.end();
      }
      res.setHeader('content-type', 'application/json');
      return res.end(JSON.stringify({ token: registryToken }));
    }
    const wanted = opts.auth === 'basic' ? basic : `Bearer ${registryToken}`;
    if (req.headers.authorization !== wanted) {
      res.statusCode = 401;
      res.setHeader(
        'www-authenticate',
        opts.auth === 'basic' ? 'Basic realm="registry"' : `Bearer realm="${origin}/token",service="registry"`,
      );
      return res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
    }
    if (url.pathname === '/v2/') return res.end('{}');
    const m = /^\/v2\/ns\/repo\/(manifests|blobs)\/(.+)$/.exec(url.pathname);
    if (m?.[1] === 'manifests' && opts.manifests.has(m[2]!)) {
      const body = opts.manifests.get(m[2]!)!;
      res.setHeader('content-type', JSON.parse(body.toString()).mediaType as string);
      return res.end(body);
    }
    if (m?.[1] === 'blobs') {
      res.statusCode = 307;
      res.setHeader('location', `${other.origin}/storage/${m[2]}`);
      return res.end();
    }
    res.statusCode = 404;
    res.end('{"errors":[{"code":"NAME_UNKNOWN","message":"not here"}]}');
  });
  origin = reg.origin;
  return {
    host: reg.host,
    foreignOrigin: other.origin,
    registry,
    foreign,
    foreignTokens,
    user,
    password,
    basic,
    registryToken,
    foreignToken,
  };
}

/** The requests of `records` that carry any of `secrets` in a header value or in the URL. */
export function leaks(records: readonly Recorded[], secrets: readonly string[]): Recorded[] {
  return records.filter((r) =>
    secrets.some(
      (s) =>
        r.path.includes(s) ||
        Object.values(r.headers).some((v) => (Array.isArray(v) ? v.join('\n') : String(v)).includes(s)),
    ),
  );
}

/** Every secret of the registry: the password, the Basic value (and its base64) and its token. */
export function registrySecrets(s: ForeignOriginScenario): string[] {
  return [s.password, s.basic, s.basic.slice('Basic '.length), s.registryToken];
}
