/**
 * A lookaside signature server for the trust tests: static files of a directory over HTTP on a
 * free 127.0.0.1 port (what `lookaside-staging: file://DIR` wrote, served as `lookaside:
 * http://127.0.0.1:P/`, or over HTTPS with a given certificate), every request path recorded, and a switch that makes it answer 500 to
 * everything. Stopped when the test ends.
 */
import { readFile } from 'node:fs/promises';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join, resolve, sep } from 'node:path';
import type { TestContext } from 'node:test';

/** A running lookaside server. */
export interface LookasideServer {
  /** `http://127.0.0.1:P/` */
  readonly url: string;
  /** The raw request paths, in order. */
  readonly requests: string[];
  /** When true, every request gets a 500. */
  failing: boolean;
}

/** Serves the files under `root` until `t` ends. */
export async function startLookasideServer(
  t: TestContext,
  root: string,
  opts: { tls?: { readonly cert: Buffer; readonly key: Buffer } } = {},
): Promise<LookasideServer> {
  const base = resolve(root);
  const state: { -readonly [K in keyof LookasideServer]: LookasideServer[K] } = {
    url: '',
    requests: [],
    failing: false,
  };
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const raw = req.url ?? '/';
    state.requests.push(raw);
    if (state.failing) {
      res.writeHead(500).end('failing on purpose');
      return;
    }
    const file = resolve(join(base, decodeURIComponent(raw.split('?')[0] ?? '/')));
    if (!file.startsWith(base + sep)) {
      res.writeHead(403).end();
      return;
    }
    readFile(file).then(
      (body) => res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body),
      () => res.writeHead(404).end('not here'),
    );
  };
  const server = opts.tls ? createHttpsServer(opts.tls, handler) : createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  state.url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return state;
}
