/**
 * Tests for src/registry/transport/bulk.ts, against raw TCP servers that write exact bytes:
 * framing (Content-Length, chunked, close-delimited, 1xx, 204), headers as undici shapes them,
 * keep-alive reuse and the retry of a connection the server closed while idle, refusals
 * (a bad status line, too large a head, a bad chunk), backpressure, aborts, and `drainTo`, with
 * and without a target that the body is read into.
 */
import * as assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { describe, it } from 'node:test';
import {
  type BodySink,
  type BodyTarget,
  type BulkPool,
  bulkGet,
  closeBulkPool,
  createBulkPool,
} from '../../../src/registry/transport/bulk.js';
import { HEAD_READ } from '../../../src/registry/transport/bulk-connection.js';

interface RawServer {
  readonly url: URL;
  /** Connections accepted so far. */
  readonly connections: () => number;
  /** Request heads received so far, in order. */
  readonly requests: string[];
}

/**
 * A TCP server on loopback; `answer` gets each request head and the socket, and writes what it
 * wants. Closed (with its sockets) when the test ends.
 */
async function rawServer(
  t: { after: (fn: () => unknown) => void },
  answer: (head: string, socket: net.Socket, n: number) => void,
): Promise<RawServer> {
  const sockets = new Set<net.Socket>();
  const requests: string[] = [];
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = '';
    socket.on('data', (d) => {
      buf += d.toString('latin1');
      for (let i = buf.indexOf('\r\n\r\n'); i >= 0; i = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, i);
        buf = buf.slice(i + 4);
        requests.push(head);
        answer(head, socket, requests.length);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${port}/v2/x/blobs/sha256:abc?q=1`),
    connections: () => connections,
    requests,
  };
}

function pool(t: { after: (fn: () => unknown) => void }): BulkPool {
  const p = createBulkPool();
  t.after(() => closeBulkPool(p));
  return p;
}

async function readAll(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

const get = (p: BulkPool, url: URL, headers: Record<string, string> = {}, signal?: AbortSignal) =>
  bulkGet(p, { url, headers, key: url.origin, signal });

describe('bulkGet', () => {
  it('sends GET with Host and the headers, and reads a Content-Length body; headers as undici shapes them', async (t) => {
    const body = randomBytes(3_000_000);
    const srv = await rawServer(t, (_h, s) => {
      s.write(
        `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nX-Two: a\r\nx-two: b\r\nContent-Type: application/octet-stream\r\n\r\n`,
      );
      // in pieces, so the client sees several reads
      for (let i = 0; i < body.length; i += 100_000) s.write(body.subarray(i, i + 100_000));
    });
    const p = pool(t);
    const res = await get(p, srv.url, { authorization: 'Bearer t', accept: 'x/y' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.headers['x-two'], ['a', 'b']);
    assert.equal(res.headers['content-type'], 'application/octet-stream');
    assert.deepEqual(await readAll(res.body), body);
    const lines = srv.requests[0]!.split('\r\n');
    assert.equal(lines[0], 'GET /v2/x/blobs/sha256:abc?q=1 HTTP/1.1');
    assert.ok(lines.includes(`host: ${srv.url.host}`));
    assert.ok(lines.includes('authorization: Bearer t'));
    assert.ok(lines.includes('accept: x/y'));
  });

  it('reuses a kept-alive connection, and not one the server asked to close', async (t) => {
    const srv = await rawServer(t, (_h, s, n) => {
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n${n === 2 ? 'Connection: close\r\n' : ''}\r\nok`);
      if (n === 2) s.end();
    });
    const p = pool(t);
    for (let i = 0; i < 3; i++) assert.equal((await readAll((await get(p, srv.url)).body)).toString(), 'ok');
    assert.equal(srv.connections(), 2);
  });

  it('retries once on a new connection when the server closed the idle one', async (t) => {
    const srv = await rawServer(t, (_h, s, n) => {
      if (n === 2) return s.destroy(); // the kept-alive connection is gone when the 2nd request comes
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const p = pool(t);
    assert.equal((await readAll((await get(p, srv.url)).body)).toString(), 'ok');
    assert.equal((await readAll((await get(p, srv.url)).body)).toString(), 'ok');
    assert.equal(srv.connections(), 2);
    assert.equal(srv.requests.length, 3);
  });

  it('decodes a chunked body (extensions, trailers), split at every byte', async (t) => {
    const wire = Buffer.from(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-T: y\r\n\r\n',
    );
    const srv = await rawServer(t, (_h, s) => {
      let i = 0;
      const next = () => {
        if (i >= wire.length) return;
        s.write(wire.subarray(i, i + 1));
        i++;
        setImmediate(next);
      };
      next();
    });
    const p = pool(t);
    assert.equal((await readAll((await get(p, srv.url)).body)).toString(), 'hello 0123456789');
    // the connection went back to the pool after the trailers: the next request uses it
    assert.equal((await readAll((await get(p, srv.url)).body)).toString(), 'hello 0123456789');
    assert.equal(srv.connections(), 1);
  });

  it('reads a body without a length until the server closes; skips a 1xx answer; a 204 has no body', async (t) => {
    const srv = await rawServer(t, (h, s) => {
      if (h.includes('/close')) {
        s.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n\r\nall of it');
        s.end();
      } else s.write('HTTP/1.1 204 No Content\r\n\r\n');
    });
    const p = pool(t);
    const res = await get(p, new URL('/close', srv.url));
    assert.equal(res.statusCode, 200);
    assert.equal((await readAll(res.body)).toString(), 'all of it');
    const empty = await get(p, new URL('/none', srv.url));
    assert.equal(empty.statusCode, 204);
    assert.equal((await readAll(empty.body)).length, 0);
  });

  it('a body cut short fails the stream with a retryable socket error', async (t) => {
    const srv = await rawServer(t, (_h, s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
      setTimeout(() => s.destroy(), 20);
    });
    const res = await get(pool(t), srv.url);
    await assert.rejects(readAll(res.body), { code: 'UND_ERR_SOCKET' });
  });

  it('refuses a bad status line, a head over 64 KiB, a bad chunk size and a header with CR/LF', async (t) => {
    const srv = await rawServer(t, (h, s) => {
      if (h.includes('/status')) s.write('HTTP/2 200 OK\r\n\r\n');
      else if (h.includes('/big')) s.write(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(70_000)}\r\n\r\n`);
      else s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
    });
    const p = pool(t);
    await assert.rejects(get(p, new URL('/status', srv.url)), { code: 'HPE_INVALID_CONSTANT' });
    await assert.rejects(get(p, new URL('/big', srv.url)), { code: 'UND_ERR_HEADERS_OVERFLOW' });
    const res = await get(p, new URL('/chunk', srv.url));
    await assert.rejects(readAll(res.body), { code: 'HPE_INVALID_CHUNK_SIZE' });
    assert.throws(() => get(p, srv.url, { x: 'a\r\nevil: 1' }), { code: 'UND_ERR_INVALID_ARG' });
  });

  it('stops reading while the consumer does not read (backpressure), and goes on when it does', async (t) => {
    const total = 64 * 1024 * 1024;
    let sent = 0;
    let drainedAfterStall = false;
    const srv = await rawServer(t, (_h, s) => {
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${total}\r\n\r\n`);
      const piece = Buffer.alloc(1024 * 1024, 7);
      const pump = () => {
        while (sent < total) {
          sent += piece.length;
          if (!s.write(piece)) {
            s.once('drain', () => {
              drainedAfterStall = true;
              pump();
            });
            return;
          }
        }
      };
      pump();
    });
    const res = await get(pool(t), srv.url);
    await new Promise((r) => setTimeout(r, 300));
    // nothing read: the server could not send it all (socket buffers hold far less than 64 MiB)
    assert.ok(sent < total, `sent ${sent} of ${total} without a reader`);
    assert.equal((await readAll(res.body)).length, total);
    assert.ok(drainedAfterStall);
  });

  it('an abort of the signal fails the request, or the body, with the reason', async (t) => {
    const srv = await rawServer(t, (h, s) => {
      if (h.includes('/slow-body')) s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nab');
      // else: never answers
    });
    const p = pool(t);
    const ac = new AbortController();
    const pending = get(p, new URL('/silent', srv.url), {}, ac.signal);
    setTimeout(() => ac.abort(Object.assign(new Error('stop'), { code: 'X_STOP' })), 20);
    await assert.rejects(pending, { code: 'X_STOP' });
    const ac2 = new AbortController();
    const res = await get(p, new URL('/slow-body', srv.url), {}, ac2.signal);
    setTimeout(() => ac2.abort(Object.assign(new Error('stop'), { code: 'X_STOP' })), 20);
    await assert.rejects(readAll(res.body), { code: 'X_STOP' });
  });

  it("times out a silent server with undici's codes: before the head, and within a body", async (t) => {
    const srv = await rawServer(t, (h, s) => {
      if (h.includes('/body')) s.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab');
      // else: says nothing
    });
    const p = pool(t);
    const timeouts = { headersMs: 100, bodyMs: 100 };
    await assert.rejects(bulkGet(p, { url: new URL('/head', srv.url), headers: {}, key: 'k', timeouts }), {
      code: 'UND_ERR_HEADERS_TIMEOUT',
    });
    const res = await bulkGet(p, { url: new URL('/body', srv.url), headers: {}, key: 'k', timeouts });
    await assert.rejects(readAll(res.body), { code: 'UND_ERR_BODY_TIMEOUT' });
  });

  it('drainTo hands every byte over once, in order, and waits while the sink asks to', async (t) => {
    const body = randomBytes(5_000_000);
    const srv = await rawServer(t, (_h, s) => {
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`);
      s.write(body);
    });
    const res = await get(pool(t), srv.url);
    await new Promise((r) => setTimeout(r, 50)); // some pieces queue in the stream first
    const hash = createHash('sha256');
    let n = 0;
    let calls = 0;
    await (res.body as unknown as { drainTo: (s: (c: Buffer) => Promise<void> | undefined) => Promise<void> }).drainTo(
      (chunk) => {
        hash.update(chunk);
        n += chunk.length;
        // every other piece asks for a pause
        return ++calls % 2 === 0 ? new Promise((r) => setTimeout(r, 1)) : undefined;
      },
    );
    assert.equal(n, body.length);
    assert.equal(hash.digest('hex'), createHash('sha256').update(body).digest('hex'));
    assert.ok(calls >= 2, `${calls} pieces`);
    await new Promise((r) => setImmediate(r));
    assert.ok(res.body.readableEnded, 'the stream ended');
  });

  it('drainTo rejects with what the sink threw and closes the connection', async (t) => {
    const srv = await rawServer(t, (_h, s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n');
      s.write(Buffer.alloc(1_000_000));
    });
    const p = pool(t);
    const res = await get(p, srv.url);
    const mine = new Error('sink says no');
    await assert.rejects(
      (res.body as unknown as { drainTo: (s: (c: Buffer) => undefined) => Promise<void> }).drainTo(() => {
        throw mine;
      }),
      (e) => e === mine,
    );
    // the next request needs a new connection
    const next = await rawServer(t, (_h, s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    await get(p, next.url);
    assert.equal(p.idle.get(srv.url.origin)?.length ?? 0, 0);
  });

  /**
   * A target over one large buffer handed out in pieces of at most `piece` bytes, recording what
   * was committed where, and a sink for the bytes that arrive elsewhere (copied).
   */
  function recorder(piece: number) {
    const memory = Buffer.alloc(16 * 1024 * 1024);
    let fill = 0;
    const order: Buffer[] = [];
    let committed = 0;
    let copied = 0;
    const sink: BodySink = (chunk) => {
      copied += chunk.length;
      order.push(Buffer.from(chunk));
      return undefined;
    };
    const target: BodyTarget = {
      space: () => memory.subarray(fill, Math.min(fill + piece, memory.length)),
      commit: (n) => {
        order.push(Buffer.from(memory.subarray(fill, fill + n)));
        fill += n;
        committed += n;
        return committed % 3 === 0 ? new Promise((r) => setTimeout(r, 1)) : undefined;
      },
    };
    return { sink, target, all: () => Buffer.concat(order), committed: () => committed, copied: () => copied };
  }

  const drainInto = (res: { body: unknown }, sink: BodySink, target: BodyTarget) =>
    (res.body as { drainTo: (s: BodySink, t: BodyTarget) => Promise<void> }).drainTo(sink, target);

  it('drainTo with a target reads a Content-Length body into the target, every byte once, in order', async (t) => {
    const body = randomBytes(6_000_000);
    const srv = await rawServer(t, (_h, s) => {
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`);
      s.write(body);
    });
    const p = pool(t);
    const res = await get(p, srv.url);
    const r = recorder(64 * 1024 + 7);
    await drainInto(res, r.sink, r.target);
    assert.ok(r.all().equals(body), 'the body, in order');
    assert.equal(r.committed() + r.copied(), body.length);
    assert.ok(r.committed() > body.length / 2, `${r.committed()} of ${body.length} bytes read in place`);
    // The connection went back to the pool and reads into its own buffer again.
    assert.equal(p.idle.get(srv.url.origin)?.length, 1);
  });

  it('copies only the few bytes that arrive with the head: the reads before the consumer is ready are small', async (t) => {
    const body = randomBytes(6_000_000);
    const srv = await rawServer(t, (_h, s) => {
      // Head and body in one write, so that they are there together for the first read.
      s.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body]));
    });
    const p = pool(t);
    // Twice on one connection: the second head comes on a connection reused after a body.
    for (let round = 0; round < 2; round++) {
      const res = await get(p, srv.url);
      const r = recorder(256 * 1024);
      await drainInto(res, r.sink, r.target);
      assert.ok(r.all().equals(body), 'the body, in order');
      assert.ok(
        r.copied() <= 4 * HEAD_READ,
        `round ${round}: ${r.copied()} bytes copied (a 1 MiB read would copy up to 1 MiB)`,
      );
    }
    assert.equal(p.idle.get(srv.url.origin)?.length, 1);
  });

  it('never reads past a body into a target: bytes after it are not taken, and the connection is not reused', async (t) => {
    const body = randomBytes(3_000_000);
    const srv = await rawServer(t, (_h, s) => {
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`);
      s.write(Buffer.concat([body, Buffer.from('EXTRA BYTES NOBODY ASKED FOR')]));
    });
    const p = pool(t);
    const res = await get(p, srv.url);
    const r = recorder(1024 * 1024);
    await drainInto(res, r.sink, r.target);
    assert.ok(r.all().equals(body));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(p.idle.get(srv.url.origin)?.length ?? 0, 0, 'a connection with stray bytes is closed');
  });

  it('drainTo with a target takes a chunked body through the sink (copied), as before', async (t) => {
    const body = randomBytes(200_000);
    const srv = await rawServer(t, (_h, s) => {
      s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
      s.write(`${body.length.toString(16)}\r\n`);
      s.write(body);
      s.write('\r\n0\r\n\r\n');
    });
    const res = await get(pool(t), srv.url);
    const r = recorder(4096);
    await drainInto(res, r.sink, r.target);
    assert.ok(r.all().equals(body));
    assert.equal(r.committed(), 0);
  });
});
