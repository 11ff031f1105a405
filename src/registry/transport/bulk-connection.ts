/**
 * The connections of bulk GETs (`bulk.ts`): opening one (plain TCP reading into one 1 MiB
 * buffer through `net.connect`'s `onread`, or into a body's target while there is one, or TLS
 * with the options undici's would get, SNI and
 * ALPN `http/1.1`), the pool of idle kept-alive ones per origin and TLS settings (closed after
 * 10 s idle and when the client closes), and handing one out or back.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { coded } from './bulk-head.js';
import type { TlsConnectOptions } from './dispatcher.js';

/** Idle connections by pool key, and the TLS options built per key. */
export interface BulkPool {
  readonly idle: Map<string, Connection[]>;
  readonly tls: Map<string, TlsConnectOptions>;
}

/** A new, empty pool. */
export function createBulkPool(): BulkPool {
  return { idle: new Map(), tls: new Map() };
}

/** Closes every idle connection of `pool`. */
export function closeBulkPool(pool: BulkPool): void {
  for (const list of pool.idle.values()) for (const c of list) c.socket.destroy();
  pool.idle.clear();
}

/** Bytes of a plain TCP connection's read buffer. */
export const READ_BUFFER = 1024 * 1024;
/**
 * Bytes of a plain TCP connection's reads while no body is being consumed (a head is awaited, or
 * the connection is idle): what arrives with a head, before the body's consumer is ready for it,
 * is copied, so those reads are kept small.
 */
export const HEAD_READ = 16 * 1024;
const IDLE_MS = 10_000;

/** A connection: its socket and where its bytes go now (the exchange in progress, if any). */
export interface Connection {
  readonly socket: net.Socket;
  /** Takes received bytes; false asks to pause reading. */
  sink: Deliver | null;
  /** The socket is gone: `clean` when the server ended it, else with the error. */
  gone: ((err: Error, clean: boolean) => void) | null;
  /** The error code a socket timeout gets in the current phase. */
  timeoutCode: string;
  /**
   * Where the next read of a plain TCP connection goes instead of the connection's own buffer (a
   * body's sink's free memory, {@link BodyTarget}), or null.
   */
  readInto: (() => Buffer | undefined) | null;
  /** A body is being consumed: reads into the connection's own memory use its large buffer, else a small one ({@link HEAD_READ}). */
  bodyRead: boolean;
  idleTimer: NodeJS.Timeout | undefined;
  dead: boolean;
}

/** Takes received bytes (`owned`: false for a view of the read buffer, valid during the call only); false pauses. */
export type Deliver = (chunk: Buffer, owned: boolean) => boolean;

function openSocket(
  url: URL,
  tlsOptions: TlsConnectOptions | undefined,
  deliver: Deliver,
  next: () => Buffer | undefined,
  large: () => boolean,
): net.Socket {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (url.protocol === 'https:') {
    const socket = tls.connect({
      host,
      port: Number(url.port || 443),
      ...(net.isIP(host) === 0 ? { servername: host } : {}),
      ALPNProtocols: ['http/1.1'],
      ...tlsOptions,
    });
    socket.on('data', (chunk: Buffer) => {
      if (!deliver(chunk, true)) socket.pause();
    });
    return socket;
  }
  // One read buffer per connection, filled again after each callback: a body drained to a sink
  // is never copied (and the buffer's pages stay warm); a body read as a stream gets copies. Or,
  // while a body's sink offers its own free memory, the reads go straight there: Node asks for
  // the next read's buffer after each callback (`onread.buffer` as a function). Until a body's
  // consumer takes it, reads go to a small buffer: the bytes that come with a head are copied
  // (they are queued before the consumer is ready), and a 1 MiB read would copy up to 1 MiB.
  const buffer = Buffer.allocUnsafe(READ_BUFFER);
  const small = Buffer.allocUnsafe(HEAD_READ);
  return net.connect({
    host,
    port: Number(url.port || 80),
    onread: {
      buffer: () => next() ?? (large() ? buffer : small),
      callback: (n: number, buf: Uint8Array) => deliver(Buffer.from(buf.buffer, buf.byteOffset, n), false),
    },
  });
}

/** Opens a connection for `req`'s URL (not yet used by any request). */
export function connect(url: URL, tlsOptions: TlsConnectOptions | undefined): Connection {
  let conn: Connection | undefined;
  const socket = openSocket(
    url,
    tlsOptions,
    (chunk, owned) => {
      if (conn?.sink) return conn.sink(chunk, owned);
      // Bytes nobody asked for (on an idle connection): it cannot be trusted for another request.
      conn?.socket.destroy();
      return false;
    },
    () => conn?.readInto?.(),
    () => conn?.bodyRead === true,
  );
  const c: Connection = {
    socket,
    sink: null,
    gone: null,
    timeoutCode: 'UND_ERR_SOCKET',
    readInto: null,
    bodyRead: false,
    idleTimer: undefined,
    dead: false,
  };
  conn = c;
  socket.setNoDelay(true);
  const fail = (err: Error, clean: boolean) => {
    if (c.dead) return;
    c.dead = true;
    const g = c.gone;
    c.gone = null;
    c.sink = null;
    c.readInto = null;
    c.bodyRead = false;
    socket.destroy();
    g?.(err, clean);
  };
  socket.on('error', (err) => fail(err, false));
  socket.on('end', () => fail(coded('other side closed', 'UND_ERR_SOCKET'), true));
  socket.on('close', () => fail(coded('other side closed', 'UND_ERR_SOCKET'), false));
  socket.on('timeout', () => fail(coded('timed out waiting for the server', c.timeoutCode), false));
  return c;
}

/** An idle connection of `key` that is still open, taken out of the pool. */
export function takeIdle(pool: BulkPool, key: string): Connection | undefined {
  const list = pool.idle.get(key);
  while (list && list.length > 0) {
    const c = list.pop()!;
    clearTimeout(c.idleTimer);
    if (!c.dead && !c.socket.destroyed) return c;
  }
  return undefined;
}

/** Puts `c` back into the pool as an idle connection of `key`. */
export function release(pool: BulkPool, key: string, c: Connection): void {
  c.sink = null;
  c.gone = () => {
    const list = pool.idle.get(key);
    const i = list?.indexOf(c) ?? -1;
    if (i >= 0) list!.splice(i, 1);
  };
  c.socket.setTimeout(0);
  c.idleTimer = setTimeout(() => c.socket.destroy(), IDLE_MS);
  c.idleTimer.unref();
  c.socket.unref();
  let list = pool.idle.get(key);
  if (!list) {
    list = [];
    pool.idle.set(key, list);
  }
  list.push(c);
}
