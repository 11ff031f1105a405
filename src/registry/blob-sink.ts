/**
 * Where a downloaded blob's bytes go: a file written with positional writes, fed chunk by chunk,
 * verified on the way by model/verify.ts's {@link Verifier}.
 *
 * Chunks are gathered into large batches (4 MiB) and written with one `writev` at the batch's
 * file offset, with one write in flight while the next batch fills: far fewer system calls than a
 * stream pipeline of 64 KiB writes. The byte count and the running hash survive a broken
 * connection, so a download can resume where it stopped (an HTTP `Range` request) and still be
 * verified over the whole blob; {@link BlobSink.reset} starts over when the server ignores the
 * Range. A body longer than declared is refused as soon as it passes the size, before its excess
 * is written.
 */
import * as fs from 'node:fs/promises';
import { type BlobExpectation, Verifier } from '../model/verify.js';

/** A file being filled with one blob; see the module header. */
export interface BlobSink {
  /** Bytes received and hashed so far. */
  readonly received: number;
  /**
   * Takes the next chunk.
   * @throws OcikitError `DIGEST_MISMATCH` when the blob passes its declared size; a write error.
   */
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
  /** Bytes gathered before a write is started (default {@link SINK_BATCH}). */
  readonly batchBytes?: number | undefined;
}

/** The default batch: 4 MiB per `writev`. */
export const SINK_BATCH = 4 * 1024 * 1024;

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
  const batchLimit = opts.batchBytes ?? SINK_BATCH;
  const fh = await fs.open(file, 'w', 0o644);
  const verifier = new Verifier(expect, what);
  let written = 0;
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let inflight: Promise<unknown> = Promise.resolve();
  let closed = false;
  const flush = async () => {
    await inflight;
    if (batchBytes === 0) return;
    const bufs = batch;
    const at = written;
    written += batchBytes;
    batch = [];
    batchBytes = 0;
    inflight = fh.writev(bufs, at);
  };
  return {
    get received() {
      return verifier.bytes;
    },
    async push(chunk) {
      verifier.update(chunk);
      batch.push(chunk);
      batchBytes += chunk.length;
      if (batchBytes >= batchLimit) await flush();
    },
    async drain() {
      await flush();
      await inflight;
    },
    async reset() {
      await inflight.catch(() => undefined);
      inflight = Promise.resolve();
      await fh.truncate(0);
      verifier.reset();
      written = 0;
      batch = [];
      batchBytes = 0;
    },
    async finish() {
      await flush();
      await inflight;
      closed = true;
      await fh.close();
      verifier.finish();
    },
    async close() {
      if (closed) return;
      closed = true;
      await inflight.catch(() => undefined);
      await fh.close().catch(() => undefined);
    },
  };
}
