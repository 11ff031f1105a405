/**
 * Bulk GETs: the small HTTP/1.1 client that every registry GET goes through when no proxy applies
 * to its URL (pings, manifests, blobs, signatures, token GETs). undici carries the rest: token
 * POSTs and everything through a proxy, and is then loaded on first use.
 *
 * Why it exists: undici and `node:http` receive a body in the pieces Node's socket reads yield
 * (64 KiB on TCP) and pass each one through a stream, so a 300 MB blob costs about 4,800 rounds of
 * parser, stream and promise work: on loopback that was twice the CPU of the transfer itself
 * (bench/fetch.mjs). Here a plain TCP socket reads into one 1 MiB buffer (`net.connect`'s
 * `onread`), the response is parsed by a small state machine, and the body reaches the caller in
 * pieces of up to 1 MiB, or straight from that buffer to a sink that hashes and copies it
 * ({@link BulkBody.drainTo}). Runs that use no proxy and no token POST do not load undici at all
 * (about 40 ms of start-up).
 *
 * What it does, as undici did for these requests: `GET` with the caller's headers and `Host`;
 * HTTP/1.1 keep-alive, connections reused per origin and TLS settings (idle ones closed after
 * 10 s and when the client closes); `Content-Length`, `chunked` and close-delimited bodies; 1xx
 * answers skipped; repeated headers as arrays (undici's shape); a reused connection that the
 * server had closed retried once on a new one; a header timeout of 60 s and a body inactivity
 * timeout of 120 s (undici's error codes, so `http.ts` retries them); the caller's signal aborts
 * with its reason. TLS connections get the same options undici's would (`dispatcher.ts`
 * {@link TlsConnectOptions}), with SNI and ALPN `http/1.1`. Redirects, retries, authentication
 * and the low-speed watch stay in `http.ts` and `bearer.ts`, above both clients.
 *
 * The protocol is RFC 9112 (message framing: section 6; chunked coding: section 7.1). Here: the
 * exchange (a request, its response's framing, the body); in `bulk-connection.ts` the
 * connections and their pool; in `bulk-head.ts` the heads written and parsed.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { type Connection, type BulkPool, connect, release, takeIdle } from './bulk-connection.js';
import { type Head, coded, parseHead, requestHead } from './bulk-head.js';
import type { TlsConnectOptions } from './dispatcher.js';

export { type BulkPool, closeBulkPool, createBulkPool } from './bulk-connection.js';

/** One bulk GET. */
export interface BulkRequest {
  readonly url: URL;
  readonly headers: Record<string, string>;
  /** Pool key: connections are shared only between equal keys (origin and TLS settings). */
  readonly key: string;
  /** For an https URL: the TLS options of the connection. */
  readonly tls?: TlsConnectOptions | undefined;
  readonly signal?: AbortSignal | null | undefined;
  /** Milliseconds of silence before the response head (default 60 s) and within a body (default 120 s). */
  readonly timeouts?: { readonly headersMs?: number; readonly bodyMs?: number } | undefined;
}

/** A response body: a stream of Buffers, with undici's `dump()`. */
export interface BulkBody extends Readable {
  /** Reads and drops the rest of the body (at most 128 KiB, then the connection is closed). */
  dump(): Promise<void>;
  /**
   * Hands the rest of the body to `sink`, synchronously, as it arrives: pieces already queued
   * first, then each one straight from the connection's read buffer (a view valid only during
   * the call: the buffer is filled again afterwards). Nothing is copied. A promise returned by
   * `sink` pauses reading until it settles. The stream itself then only ends (or fails). With a
   * `target`, a body of a declared length on plain TCP is read straight into the target's memory
   * (and committed there) from the next read on, never more than the body's remaining bytes.
   * @returns when the body has ended; rejects with what `sink` threw (and the connection is
   *   closed), or with the transport's error.
   */
  drainTo(sink: BodySink, target?: BodyTarget): Promise<void>;
}

/**
 * Takes body bytes synchronously (`chunk` is valid only during the call); a returned promise
 * pauses reading until it settles (a rejection fails the body with its error).
 */
export type BodySink = (chunk: Buffer) => Promise<void> | undefined;

/**
 * A sink's own memory for the body to be read into, so that it is not copied there: `space()`
 * gives a view of free memory (at least one byte), which the sink leaves alone until the next
 * `commit` or `space`; `commit(n)` takes the first `n` bytes of the last view given, as a
 * {@link BodySink} takes a chunk (and returns a promise to pause in the same way).
 */
export interface BodyTarget {
  space(): Buffer;
  commit(n: number): Promise<void> | undefined;
}

/** A response, its body unread. */
export interface BulkResponse {
  readonly statusCode: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: BulkBody;
}

const MAX_HEAD = 64 * 1024;
const HEADERS_TIMEOUT_MS = 60_000;
const BODY_TIMEOUT_MS = 120_000;
const DUMP_LIMIT = 128 * 1024;
/** Received pieces queued in a body before reading pauses. */
const BODY_QUEUE = 8;

/**
 * Sends one GET and resolves with the response once its head arrived. The body must be read,
 * dumped or destroyed; a body read to its end gives the connection back to the pool.
 * @throws an error with a `code` (a system error, or undici's `UND_ERR_*` codes) when the request
 *   could not be sent or no response head arrived; the signal's reason when it aborted.
 */
export function bulkGet(pool: BulkPool, req: BulkRequest): Promise<BulkResponse> {
  const head = requestHead(req.url, req.headers);
  const attempt = (reused: Connection | undefined): Promise<BulkResponse> =>
    exchange(pool, req, head, reused ?? connect(req.url, req.tls), reused !== undefined).catch((err: unknown) => {
      // A kept-alive connection the server closed meanwhile: once more on a new one.
      if (reused !== undefined && (err as { beforeResponse?: boolean }).beforeResponse && !req.signal?.aborted)
        return attempt(undefined);
      throw err;
    });
  return attempt(takeIdle(pool, req.key));
}

/** Body framing state: what is left of a `Content-Length` body, or where a chunked body is. */
interface Framing {
  left: number;
  chunk: 'size' | 'data' | 'crlf' | 'trailer';
  line: string;
}

/**
 * One request and its response on `c`. Received bytes go, in order: into the head until its
 * blank line, then through the body framing to the body (queued in the stream, or straight to a
 * sink after `drainTo`). The connection goes back to the pool at the body's end when the
 * response allows it (keep-alive, nothing after the body).
 */
function exchange(
  pool: BulkPool,
  req: BulkRequest,
  headText: string,
  c: Connection,
  reused: boolean,
): Promise<BulkResponse> {
  return new Promise<BulkResponse>((resolve, reject) => {
    const { socket } = c;
    socket.ref();
    let received = false;
    let headParts: Buffer[] = [];
    let headBytes = 0;
    let parsed: Head | undefined;
    let body: BulkBody | undefined;
    const f: Framing = { left: 0, chunk: 'size', line: '' };
    let done = false;
    let failure: Error | undefined;
    let paused = false;
    let direct: BodySink | undefined;
    let target: BodyTarget | undefined;
    /** The view of the target's memory that the socket reads into next. */
    let view: Buffer | undefined;
    let drained: { resolve: () => void; reject: (err: Error) => void } | undefined;

    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      failure = err;
      req.signal?.removeEventListener('abort', onAbort);
      c.sink = null;
      // The read after this one goes to the connection's own (small) buffer again.
      c.readInto = null;
      c.bodyRead = false;
      target = undefined;
      view = undefined;
      if (err || !parsed!.keepAlive || c.dead) {
        c.gone = null;
        socket.destroy();
      } else {
        release(pool, req.key, c);
      }
      if (err) {
        if (!body) {
          reject(Object.assign(err, { beforeResponse: !received && reused }));
          return;
        }
        drained?.reject(err);
        body.destroy(err);
        return;
      }
      body!.push(null);
      if (drained) {
        body!.resume(); // nothing is queued: lets the stream end
        drained.resolve();
      }
    };
    const onAbort = () =>
      finish(req.signal!.reason instanceof Error ? req.signal!.reason : coded('aborted', 'ABORT_ERR'));
    if (req.signal?.aborted) {
      onAbort();
      return;
    }
    req.signal?.addEventListener('abort', onAbort, { once: true });

    /** Reading paused for the consumer (a full queue, a sink's wait) goes on. */
    const resumeReading = () => {
      if (paused && !done) {
        paused = false;
        socket.resume();
      }
    };
    /** Hands body bytes on; false when the stream's queue is full (reading pauses). */
    const emit = (bytes: Buffer, owned: boolean): boolean => {
      if (bytes.length === 0 || done) return true;
      if (direct) {
        let wait: Promise<void> | undefined;
        try {
          // Read into the target's memory: nothing to copy, only to count and take.
          const inView = view !== undefined && bytes.buffer === view.buffer && bytes.byteOffset === view.byteOffset;
          view = undefined;
          wait = inView ? target!.commit(bytes.length) : direct(bytes);
        } catch (err) {
          finish(err as Error);
          return false;
        }
        if (wait === undefined) return true;
        wait.then(resumeReading, (err: unknown) => finish(err as Error));
        return false;
      }
      return body!.push(owned ? bytes : Buffer.from(bytes));
    };
    /** Feeds body bytes through the framing; false to pause. */
    const bodyBytes = (chunk: Buffer, owned: boolean): boolean => {
      const framing = parsed!.framing;
      if (framing === 'close') return emit(chunk, owned);
      if (typeof framing === 'number') {
        if (chunk.length > f.left) {
          // Bytes after the body: nothing asked for them, so the connection is not reused.
          parsed = { ...parsed!, keepAlive: false };
          chunk = chunk.subarray(0, f.left);
        }
        f.left -= chunk.length;
        const more = emit(chunk, owned);
        if (f.left === 0) finish();
        return more;
      }
      let more = true;
      let at = 0;
      while (at < chunk.length && !done) {
        if (f.chunk === 'data') {
          const take = Math.min(f.left, chunk.length - at);
          more = emit(chunk.subarray(at, at + take), owned) && more;
          at += take;
          f.left -= take;
          if (f.left === 0) f.chunk = 'crlf';
          continue;
        }
        const nl = chunk.indexOf(0x0a, at);
        f.line += chunk.toString('latin1', at, nl < 0 ? chunk.length : nl);
        if (nl < 0) {
          if (f.line.length > 4096) finish(coded('invalid chunked body: a line too long', 'HPE_INVALID_CHUNK_SIZE'));
          break;
        }
        at = nl + 1;
        const text = f.line.endsWith('\r') ? f.line.slice(0, -1) : f.line;
        f.line = '';
        if (f.chunk === 'crlf') {
          if (text !== '') finish(coded('invalid chunked body: no CRLF after a chunk', 'HPE_INVALID_CHUNK_SIZE'));
          f.chunk = 'size';
        } else if (f.chunk === 'size') {
          const m = /^([0-9a-fA-F]{1,12})[ \t]*(?:;.*)?$/.exec(text);
          if (!m) {
            finish(coded('invalid chunked body: a bad chunk size', 'HPE_INVALID_CHUNK_SIZE'));
            break;
          }
          f.left = Number.parseInt(m[1]!, 16);
          f.chunk = f.left === 0 ? 'trailer' : 'data';
        } else if (text === '') {
          if (at < chunk.length) parsed = { ...parsed!, keepAlive: false };
          finish();
        }
      }
      return more;
    };
    /** {@link bodyBytes}, noting a pause: what a read callback returns (false pauses reading). */
    const feed = (chunk: Buffer, owned: boolean): boolean => {
      const more = bodyBytes(chunk, owned);
      if (!more && !done) paused = true;
      return more || done;
    };
    /** The head arrived: resolve with the response, then feed what followed it to the body. */
    const start = (h: Head, rest: Buffer, owned: boolean): boolean => {
      parsed = h;
      if (typeof h.framing === 'number') f.left = h.framing;
      c.timeoutCode = 'UND_ERR_BODY_TIMEOUT';
      socket.setTimeout(req.timeouts?.bodyMs ?? BODY_TIMEOUT_MS);
      body = makeBody({
        read: () => {
          c.bodyRead = true;
          resumeReading();
        },
        destroyed: () => finish(coded('body destroyed', 'UND_ERR_ABORTED')),
        drainTo: (sink, into) =>
          new Promise<void>((res, rej) => {
            // The queue is at most BODY_QUEUE pieces: they are handed over without waiting.
            for (let piece = body!.read() as Buffer | null; piece !== null; piece = body!.read() as Buffer | null) {
              try {
                sink(piece)?.catch((err: unknown) => finish(err as Error));
              } catch (err) {
                finish(err as Error);
                rej(err);
                return;
              }
            }
            if (done) {
              if (failure) rej(failure);
              else res();
              return;
            }
            direct = sink;
            c.bodyRead = true;
            if (into !== undefined && typeof parsed!.framing === 'number') {
              target = into;
              c.readInto = () => {
                if (target === undefined || f.left <= 0) return undefined;
                const free = target.space();
                view = free.length > f.left ? free.subarray(0, f.left) : free;
                return view;
              };
            }
            drained = { resolve: res, reject: rej };
            resumeReading();
          }),
      });
      resolve({ statusCode: h.statusCode, headers: h.headers, body });
      if (h.framing === 0) {
        finish();
        return true;
      }
      return feed(rest, owned);
    };

    c.gone = (err, clean) => {
      // A close-delimited body ends when the server ends the connection (RFC 9112 section 6.3).
      if (clean && parsed?.framing === 'close' && body) finish();
      else finish(err);
    };
    c.sink = (chunk, owned) => {
      if (done) return false;
      received = true;
      if (parsed) return feed(chunk, owned);
      headBytes += chunk.length;
      headParts.push(Buffer.from(chunk)); // the head is small; the read buffer is reused
      const all = headParts.length === 1 ? headParts[0]! : Buffer.concat(headParts);
      headParts = [all];
      const end = all.indexOf('\r\n\r\n', Math.max(0, headBytes - chunk.length - 3));
      if (end < 0 ? headBytes > MAX_HEAD : end > MAX_HEAD) {
        finish(coded('response headers too large', 'UND_ERR_HEADERS_OVERFLOW'));
        return false;
      }
      if (end < 0) return true;
      let h: Head;
      try {
        h = parseHead(all.toString('latin1', 0, end));
      } catch (err) {
        finish(err as Error);
        return false;
      }
      const rest = all.subarray(end + 4);
      headParts = [];
      headBytes = 0;
      if (h.statusCode < 200) return rest.length === 0 || c.sink!(rest, true); // 1xx: the next head follows
      return start(h, rest, true);
    };
    c.timeoutCode = 'UND_ERR_HEADERS_TIMEOUT';
    socket.setTimeout(req.timeouts?.headersMs ?? HEADERS_TIMEOUT_MS);
    if (c.dead) {
      finish(coded('other side closed', 'UND_ERR_SOCKET'));
      return;
    }
    socket.resume();
    socket.write(headText, 'latin1');
  });
}

interface BodyHooks {
  /** The consumer wants more: resume reading. */
  read(): void;
  /** The consumer destroyed the body before its end. */
  destroyed(): void;
  drainTo(sink: BodySink, target?: BodyTarget): Promise<void>;
}

function makeBody(hooks: BodyHooks): BulkBody {
  // Object mode: each read() hands over one received piece as it is, never a concatenation.
  const body = new Readable({
    objectMode: true,
    highWaterMark: BODY_QUEUE,
    read: hooks.read,
    destroy(err, cb) {
      hooks.destroyed();
      cb(err);
    },
  }) as BulkBody;
  // A failure reaches the consumer through its read, dump() or drainTo(); a body nobody reads
  // any more (its request already given up) must not crash the process with it.
  body.on('error', () => undefined);
  body.dump = () =>
    new Promise<void>((resolve) => {
      if (body.readableEnded || body.destroyed) return resolve();
      let n = 0;
      body.on('data', (c: Buffer) => {
        n += c.length;
        if (n > DUMP_LIMIT) body.destroy();
      });
      body
        .once('end', resolve)
        .once('close', resolve)
        .once('error', () => resolve());
    });
  body.drainTo = hooks.drainTo;
  return body;
}
