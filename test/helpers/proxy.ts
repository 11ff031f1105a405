/**
 * A loopback TCP proxy that misbehaves on purpose, to test what a client does when a registry
 * connection breaks: it forwards bytes both ways and, on the server-to-client side of a
 * connection, either cuts the connection once more than `cutAfter` bytes have passed (only the
 * first `cuts` times, default once; later connections pass untouched) or flips one byte at offset
 * `corruptAt` of every connection that gets that far.
 */
import { createServer, connect, type Socket } from 'node:net';

/** What the proxy does. */
export interface ProxyBehaviour {
  /** Cut a connection after this many server-to-client bytes. */
  readonly cutAfter?: number;
  /** How many connections to cut (default 1). */
  readonly cuts?: number;
  /** Flip the byte at this server-to-client offset, on every connection. */
  readonly corruptAt?: number;
}

/** A running proxy. */
export interface TestProxy {
  /** `127.0.0.1:<port>` */
  readonly host: string;
  /** How many connections were cut / corrupted so far. */
  readonly stats: { cut: number; corrupted: number; connections: number };
  stop(): Promise<void>;
}

/** Starts a proxy to `127.0.0.1:<targetPort>`; `t.after` stops it. */
export async function startProxy(
  targetPort: number,
  behaviour: ProxyBehaviour,
  t?: { after(fn: () => unknown): void },
): Promise<TestProxy> {
  const stats = { cut: 0, corrupted: 0, connections: 0 };
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    stats.connections++;
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    client.on('close', () => sockets.delete(client));
    upstream.on('close', () => sockets.delete(upstream));
    let sent = 0;
    client.on('data', (c: Buffer) => upstream.write(c));
    upstream.on('data', (c: Buffer) => {
      const before = sent;
      sent += c.length;
      if (behaviour.cutAfter !== undefined && stats.cut < (behaviour.cuts ?? 1) && sent > behaviour.cutAfter) {
        stats.cut++;
        client.write(c.subarray(0, Math.max(behaviour.cutAfter - before, 0)));
        client.resetAndDestroy();
        upstream.destroy();
        return;
      }
      if (behaviour.corruptAt !== undefined && before <= behaviour.corruptAt && sent > behaviour.corruptAt) {
        const copy = Buffer.from(c);
        const i = behaviour.corruptAt - before;
        copy[i] = copy[i]! ^ 0xff;
        stats.corrupted++;
        client.write(copy);
        return;
      }
      client.write(c);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const proxy: TestProxy = {
    host: `127.0.0.1:${port}`,
    stats,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  t?.after(() => proxy.stop());
  return proxy;
}
