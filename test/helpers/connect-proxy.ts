/**
 * A small logging HTTP proxy for tests: CONNECT tunnels (HTTPS through a proxy) and absolute-form
 * forwarding (plain HTTP through a proxy, `GET http://host:port/path HTTP/1.1`), optionally
 * requiring `Proxy-Authorization: Basic`. Every target host is mapped to 127.0.0.1 (its port
 * kept), so a registry can be addressed by an invented name (`registry.example:PORT`) that only
 * the proxy resolves: Go never proxies loopback names, so a test that wants a request to go
 * through the proxy must use such a name. Each request is recorded; it listens on 127.0.0.1 and
 * stops when the test ends.
 */
import { createServer, request, type IncomingMessage, type RequestListener } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { connect, type AddressInfo, type Socket } from 'node:net';

/** One request the proxy saw. */
export interface ProxiedRequest {
  /** `CONNECT` or the forwarded method. */
  readonly method: string;
  /** The request target: `host:port` for CONNECT, the absolute URL for forwarding. */
  readonly target: string;
  /** The `Proxy-Authorization` header as sent, if any. */
  readonly proxyAuthorization: string | undefined;
  /** Whether the proxy let it through (false: answered 407). */
  readonly allowed: boolean;
}

/** What the proxy requires or does. */
export interface ConnectProxyOptions {
  /** Require `Proxy-Authorization: Basic base64(user:password)` with exactly these. */
  readonly credentials?: { readonly user: string; readonly password: string };
  /** Answer every request with this status instead of forwarding (e.g. 502). */
  readonly refuse?: number;
  /** Speak TLS to clients with this key and certificate (an `https://` proxy). */
  readonly tls?: { readonly key: Buffer; readonly cert: Buffer };
}

/** A running proxy. */
export interface ConnectProxy {
  /** `127.0.0.1:<port>` */
  readonly host: string;
  readonly port: number;
  /** Every request so far, in arrival order. */
  readonly requests: ProxiedRequest[];
  /** The request lines so far, as `METHOD target`. */
  lines(): string[];
  stop(): Promise<void>;
}

/** The target port of `host:port` / `[v6]:port`, or `fallback`. */
function portOf(hostPort: string, fallback: number): number {
  const m = /:(\d+)$/.exec(hostPort);
  return m ? Number(m[1]) : fallback;
}

/** Starts a proxy on a free 127.0.0.1 port; `t.after` stops it. */
export async function startConnectProxy(
  t: { after(fn: () => unknown): void },
  opts: ConnectProxyOptions = {},
): Promise<ConnectProxy> {
  const requests: ProxiedRequest[] = [];
  const sockets = new Set<Socket>();
  const expected =
    opts.credentials === undefined
      ? undefined
      : `Basic ${Buffer.from(`${opts.credentials.user}:${opts.credentials.password}`).toString('base64')}`;
  const admit = (req: IncomingMessage): { status: number; reason: string } | undefined => {
    const auth = req.headers['proxy-authorization'];
    const allowed = expected === undefined || auth === expected;
    requests.push({ method: req.method ?? '', target: req.url ?? '', proxyAuthorization: auth, allowed });
    if (!allowed) return { status: 407, reason: 'Proxy Authentication Required' };
    if (opts.refuse !== undefined) return { status: opts.refuse, reason: 'Refused By Test Proxy' };
    return undefined;
  };
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  const forward: RequestListener = (req, res) => {
    const refusal = admit(req);
    if (refusal !== undefined) {
      res.writeHead(refusal.status, refusal.reason, {
        'proxy-authenticate': 'Basic realm="test"',
        'content-length': 0,
      });
      res.end();
      return;
    }
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      res.writeHead(400, { 'content-length': 0 }).end();
      return;
    }
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const upstream = request(
      {
        host: '127.0.0.1',
        port: Number(target.port || 80),
        method: req.method,
        path: `${target.pathname}${target.search}`,
        headers,
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  };
  const server = opts.tls === undefined ? createServer(forward) : createTlsServer(opts.tls, forward);
  server.on('connection', track);
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    track(client);
    const refusal = admit(req);
    if (refusal !== undefined) {
      client.end(
        `HTTP/1.1 ${refusal.status} ${refusal.reason}\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n`,
      );
      return;
    }
    const upstream = connect(portOf(req.url ?? '', 443), '127.0.0.1');
    track(upstream);
    upstream.once('connect', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  let stopped = false;
  const proxy: ConnectProxy = {
    host: `127.0.0.1:${port}`,
    port,
    requests,
    lines: () => requests.map((r) => `${r.method} ${r.target}`),
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  t.after(() => proxy.stop());
  return proxy;
}
