/**
 * Where a downloaded blob's bytes go: a file written with positional writes, fed chunk by chunk,
 * verified on the way by model/verify.ts's {@link Verifier}.
 *
 * Each chunk is hashed and copied at once into the sink's own staging buffers (1 MiB each by
 * default); a full buffer is written at its file offset in the threadpool while the next one
 * fills, at most {@link SINK_WRITES} writes in flight, and goes back to a pool shared by all
 * sinks when its write is done. So the caller may reuse its chunk as soon as {@link BlobSink.take} returns
 * (a bulk GET's read buffer, `transport/bulk.ts`): the only copy is into buffers whose pages are
 * already warm, the writes run beside the hashing, and memory stays bounded (a full set of
 * writes in flight makes `take` return a promise to wait for). A caller that can receive in
 * place asks for the free part of the current buffer ({@link BlobSink.space}) and reports what
 * landed there ({@link BlobSink.commit}): a bulk GET's body is then read from the socket straight
 * into the staging buffer, with no copy at all. Measured on loopback
 * (bench/fetch.mjs): keeping the received chunks themselves (each a fresh buffer) cost about
 * 125 ms of page faults per 300 MB; writing each chunk on the main thread was as fast on tmpfs,
 * but would stall every download of the run whenever a slow disk throttles writes.
 *
 * The byte count and the running hash survive a broken connection, so a download can resume
 * where it stopped (an HTTP `Range` request) and still be verified over the whole blob;
 * {@link BlobSink.reset} starts over when the server ignores the Range. A body longer than
 * declared is refused as soon as it passes the size, before its excess is written.
 *
 * A full device is `NO_SPACE` naming the file (never a digest mismatch: a write that stores fewer
 * bytes than given is continued); a failed write is reported by the next call to the sink, never
 * left as an unhandled rejection.
 */
import type { FileHandle } from 'node:fs/promises';
import * as fs from 'node:fs/promises';
import { fromSystemError, isNoSpace } from '../errors.js';
import { type BlobExpectation, Verifier } from '../model/verify.js';

/** A file being filled with one blob; see the module header. */
export interface BlobSink {
  /** Bytes received and hashed so far. */
  readonly received: number;
  /**
   * Takes the next chunk: hashes it and copies it (the caller may reuse `chunk` at once).
   * @returns undefined, or a promise to wait for before the next chunk (writes are behind).
   * @throws OcikitError `DIGEST_MISMATCH` when the blob passes its declared size; a failed write.
   */
  take(chunk: Buffer): Promise<void> | undefined;
  /**
   * The free part of the current staging buffer (at least one byte), to receive the next bytes
   * in place; left alone by the sink until the next {@link BlobSink.commit}, `take` or `space`.
   */
  space(): Buffer;
  /**
   * Takes the first `n` bytes of the last {@link BlobSink.space} view, received there: hashes and
   * counts them as {@link BlobSink.take} would, without copying.
   */
  commit(n: number): Promise<void> | undefined;
  /** {@link BlobSink.take}, then waits when it asks to. */
  push(chunk: Buffer): Promise<void>;
  /** Writes what is gathered and waits for it (before a resume, so the file holds `received` bytes). */
  drain(): Promise<void>;
  /** Forgets everything received (hash and file) to start over. */
  reset(): Promise<void>;
  /**
   * Drains, closes the file and verifies size and digest.
   * @throws OcikitError `DIGEST_MISMATCH`; a write error.
   */
  finish(): Promise<void>;
  /** Closes the file after a failure (idempotent, never throws). */
  close(): Promise<void>;
}

/** Options of {@link openBlobSink}. */
export interface BlobSinkOptions {
  /** Bytes of one staging buffer, written at once (default {@link SINK_BATCH}). */
  readonly batchBytes?: number | undefined;
}

/** The default staging buffer: 1 MiB per write. */
export const SINK_BATCH = 1024 * 1024;

/** Writes in flight per sink before {@link BlobSink.take} asks the caller to wait. */
export const SINK_WRITES = 4;

/**
 * Staging buffers of the default size whose writes are done, shared by every sink of the
 * process: a run of many blobs (a 64-layer image) reuses warm buffers instead of allocating
 * 1 MiB after 1 MiB for the garbage collector to find later. At most {@link POOL_MAX} are kept.
 */
const pool: Buffer[] = [];
const POOL_MAX = 32;

function takeBuffer(size: number): Buffer {
  return (size === SINK_BATCH ? pool.pop() : undefined) ?? Buffer.allocUnsafe(size);
}

/** Gives back a buffer no write and no sink refers to any more. */
function giveBuffer(buf: Buffer): void {
  if (buf.length === SINK_BATCH && pool.length < POOL_MAX) pool.push(buf);
}

/** Writes all of `buf[0, len)` at `position` (a write may store fewer bytes than given). */
async function writeAll(fh: FileHandle, buf: Buffer, len: number, position: number): Promise<void> {
  for (let off = 0; off < len; ) {
    const { bytesWritten } = await fh.write(buf, off, len - off, position + off);
    if (bytesWritten <= 0) throw Object.assign(new Error('write stored nothing'), { code: 'EIO' });
    off += bytesWritten;
  }
}

/**
 * Creates (or truncates) `file` and returns a sink that fills it with the blob `expect`; `what`
 * names the blob in `DIGEST_MISMATCH` messages.
 * @throws a system error when the file cannot be opened.
 */
export async function openBlobSink(
  file: string,
  expect: BlobExpectation,
  what: string,
  opts: BlobSinkOptions = {},
): Promise<BlobSink> {
  const size = Math.max(1, opts.batchBytes ?? SINK_BATCH);
  const mapped = (err: unknown): never => {
    throw isNoSpace(err) ? fromSystemError(err, 'writing', file) : err;
  };
  const fh = await fs.open(file, 'w', 0o644).catch(mapped);
  const verifier = new Verifier(expect, what);
  const writes = new Set<Promise<void>>();
  let failed: { err: unknown } | undefined;
  let current: Buffer | undefined;
  let fill = 0;
  /** File offset of `current`'s first byte. */
  let at = 0;
  let closed = false;
  /** Promise of a free write slot, while every slot is taken. */
  let waiting: Promise<void> | undefined;

  const check = () => {
    if (failed) mapped(failed.err);
  };
  const startWrite = () => {
    if (current === undefined || fill === 0) return;
    const buf = current;
    const len = fill;
    const p = writeAll(fh, buf, len, at).then(
      () => {
        writes.delete(p);
        giveBuffer(buf);
      },
      (err: unknown) => {
        writes.delete(p);
        failed ??= { err };
      },
    );
    writes.add(p);
    at += len;
    current = undefined;
    fill = 0;
  };
  const settle = async () => {
    startWrite();
    while (writes.size > 0) await Promise.race(writes);
    check();
  };
  /** undefined, or the promise of a free write slot when every slot is taken. */
  const slot = (): Promise<void> | undefined => {
    if (writes.size < SINK_WRITES) return undefined;
    waiting ??= Promise.race(writes).then(() => {
      waiting = undefined;
      check();
    });
    return waiting;
  };
  const take = (chunk: Buffer): Promise<void> | undefined => {
    check();
    verifier.update(chunk);
    for (let off = 0; off < chunk.length; ) {
      current ??= takeBuffer(size);
      const n = chunk.copy(current, fill, off);
      fill += n;
      off += n;
      if (fill === current.length) startWrite();
    }
    return slot();
  };
  const space = (): Buffer => {
    current ??= takeBuffer(size);
    return current.subarray(fill);
  };
  const commit = (n: number): Promise<void> | undefined => {
    check();
    if (current === undefined || fill + n > current.length) throw new Error('BlobSink.commit without space');
    verifier.update(current.subarray(fill, fill + n));
    fill += n;
    if (fill === current.length) startWrite();
    return slot();
  };
  return {
    get received() {
      return verifier.bytes;
    },
    take,
    space,
    commit,
    async push(chunk) {
      await take(chunk);
    },
    drain: settle,
    async reset() {
      current = undefined;
      fill = 0;
      while (writes.size > 0) await Promise.race(writes);
      failed = undefined;
      await fh.truncate(0).catch(mapped);
      verifier.reset();
      at = 0;
    },
    async finish() {
      await settle();
      closed = true;
      await fh.close();
      verifier.finish();
    },
    async close() {
      if (closed) return;
      closed = true;
      current = undefined;
      while (writes.size > 0) await Promise.race(writes);
      await fh.close().catch(() => undefined);
    },
  };
}
