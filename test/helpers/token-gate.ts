/**
 * A token gate in front of a real registry (test/helpers/registry.ts): a Node HTTP server on a
 * free 127.0.0.1 port that answers `/v2/` requests without its bearer token with 401 and
 * `WWW-Authenticate: Bearer realm="http://127.0.0.1:P/token",service="test"`, issues that token at
 * `/token` for a GET with Basic `user:password` and for a POST of the OAuth2 refresh-token grant
 * with the right refresh token, and forwards authorised requests to the registry. Every request is
 * recorded as what was presented (`none`, `basic`, `bearer`, the grant type), never the secrets.
 */
import { type IncomingMessage, type Server, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the gate saw. */
export interface GateRequest {
  readonly method: string;
  /** The path, without the query (the query of a token GET is in `query`). */
  readonly path: string;
  /** What authorised it: `none`, `basic`, `bearer` (the right token) or `bad` (anything else). */
  readonly auth: 'none' | 'basic' | 'bearer' | 'bad';
  /** For token requests: `get`, or the `grant_type` of a POST. */
  readonly grant?: string;
  /** Whether a token request was granted. */
  readonly granted?: boolean;
}

/** A running gate. */
export interface TokenGate {
  /** `127.0.0.1:<port>`: what references name. */
  readonly host: string;
  readonly requests: GateRequest[];
  stop(): Promise<void>;
}

/** What the gate accepts. */
export interface GateSecrets {
  readonly user: string;
  readonly password: string;
  readonly refreshToken: string;
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Starts a gate in front of `registryHost`; `t.after` stops it. */
export async function startTokenGate(
  t: { after(fn: () => unknown): void },
  registryHost: string,
  secrets: GateSecrets,
): Promise<TokenGate> {
  const token = `gate-token-${Math.random().toString(36).slice(2)}`;
  const basic = `Basic ${Buffer.from(`${secrets.user}:${secrets.password}`).toString('base64')}`;
  const requests: GateRequest[] = [];
  let origin = '';
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://gate');
      const a = req.headers.authorization;
      const auth = a === undefined ? 'none' : a === `Bearer ${token}` ? 'bearer' : a === basic ? 'basic' : 'bad';
      const body = await readAll(req);
      if (url.pathname === '/token') {
        let granted = false;
        let grant = 'get';
        if (req.method === 'GET') granted = auth === 'basic';
        else if (req.method === 'POST') {
          const form = new URLSearchParams(body.toString('utf8'));
          grant = form.get('grant_type') ?? '';
          granted =
            req.headers['content-type'] === 'application/x-www-form-urlencoded' &&
            grant === 'refresh_token' &&
            form.get('refresh_token') === secrets.refreshToken &&
            form.get('service') === 'test' &&
            (form.get('client_id') ?? '') !== '';
        }
        requests.push({ method: req.method ?? '', path: url.pathname, auth, grant, granted });
        res.statusCode = granted ? 200 : 401;
        res.setHeader('content-type', 'application/json');
        return res.end(granted ? JSON.stringify({ access_token: token, expires_in: 300 }) : '{"details":"denied"}');
      }
      requests.push({ method: req.method ?? '', path: url.pathname, auth });
      if (auth !== 'bearer') {
        res.statusCode = 401;
        res.setHeader('www-authenticate', `Bearer realm="${origin}/token",service="test"`);
        res.setHeader('content-type', 'application/json');
        return res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      }
      const headers = { ...req.headers, host: registryHost };
      delete headers.authorization;
      const up = request(
        { host: '127.0.0.1', port: Number(registryHost.split(':')[1]), method: req.method, path: req.url, headers },
        (upRes) => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
        },
      );
      up.on('error', () => {
        res.statusCode = 502;
        res.end();
      });
      up.end(body);
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  origin = `http://127.0.0.1:${port}`;
  const stop = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  t.after(stop);
  return { host: `127.0.0.1:${port}`, requests, stop };
}
