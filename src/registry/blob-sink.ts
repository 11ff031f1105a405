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
 *
 * A full device is `NO_SPACE` naming the file (never a digest mismatch: a write that stores fewer
 * bytes than given is continued, see `writevAll`); a failed write in flight is held until the
 * next call to the sink reports it, never left as an unhandled rejection.
 */
import * as fs from 'node:fs/promises';
import { fromSystemError, isNoSpace } from '../errors.js';
import { writevAll } from '../internal/fs.js';
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
  const mapped = (err: unknown): never => {
    throw isNoSpace(err) ? fromSystemError(err, 'writing', file) : err;
  };
  const fh = await fs.open(file, 'w', 0o644).catch(mapped);
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
    inflight = writevAll(fh, bufs, at).catch(mapped);
    // Reported by the next flush, drain or finish; until then it must not count as unhandled.
    inflight.catch(() => undefined);
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
      await fh.truncate(0).catch(mapped);
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
