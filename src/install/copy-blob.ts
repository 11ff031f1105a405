/**
 * The verified blob copy of the native install: the bytes of one blob of an {@link ImageReader}
 * go into a file at an offset (a blob file of a layout, or its place inside an archive), and the
 * same pass verifies them through {@link Verifier}: longer than declared fails as soon as it is
 * seen, shorter or with another digest fails at the end (`DIGEST_MISMATCH`), before anything is
 * published.
 *
 * A blob the reader has as a local file is copied by a worker thread when the install started
 * them (internal/hash-pool.ts {@link FileCopyJob}: read, hash and write in one loop on one core, so
 * several blobs are copied at once on several cores), else here with large positional reads,
 * double-buffered: the next read runs while the current chunk is written. Any other blob is
 * streamed. Either way the bytes hashed are the bytes written.
 */
import type * as fs from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { fromSystemError, isNoSpace, throwIfInterrupted } from '../errors.js';
import { openRegularFile, writeAll } from '../internal/fs.js';
import { FileCopyJob, hashWorkersRunning, settleJob } from '../internal/hash-pool.js';
import type { Descriptor } from '../model/descriptor.js';
import { Verifier } from '../model/verify.js';
import type { ImageReader } from '../transports/reader.js';

/** Bytes per positional read (two such buffers per copy in flight). */
export const COPY_CHUNK = 4 * 1024 * 1024;

/** Blobs from this size are copied on a worker thread when the install started them. */
export const COPY_ON_WORKER_FROM = 1024 * 1024;

/** Options of {@link copyBlob}. */
export interface CopyBlobOptions {
  /** Checked before every chunk (`INTERRUPTED`). */
  readonly signal?: AbortSignal | undefined;
  /** Called with the byte count of every chunk written. */
  readonly onBytes?: ((bytes: number) => void) | undefined;
}

/**
 * Copies the blob `desc` of `reader` into `out` at `offset` and verifies it (size and digest of
 * `desc`) in the same pass.
 * @throws OcikitError `DIGEST_MISMATCH`, `NOT_FOUND` (no such blob), `INVALID_INPUT` (the blob's
 *   file is not a regular file), `INTERRUPTED`, `IO`.
 */
export async function copyBlob(
  reader: ImageReader,
  desc: Descriptor,
  out: fs.FileHandle,
  offset: number,
  opts: CopyBlobOptions = {},
): Promise<void> {
  const verifier = new Verifier({ digest: desc.digest, size: desc.size }, `${reader.source} blob ${desc.digest}`);
  const file = reader.blobPath?.(desc);
  if (file === undefined) {
    await copyFromStream(await reader.openBlob(desc), verifier, out, offset, opts);
    verifier.finish();
    return;
  }
  const what = `${reader.source} blob`;
  const src = await openRegularFile(file, what);
  try {
    if (desc.size >= COPY_ON_WORKER_FROM && hashWorkersRunning()) {
      // One byte past the declared size, so that a longer file is noticed.
      const job = new FileCopyJob(src.fd, out.fd, offset, desc.size + 1, opts.onBytes);
      const copied = await settleJob(job, opts.signal);
      verifier.finishWith(copied.hex, copied.bytes);
      return;
    }
    await copyFromFile(src, verifier, desc.size, out, offset, opts);
    verifier.finish();
  } catch (err) {
    // A full device is about the file written (named by its writer), not the blob read.
    throw isNoSpace(err) ? err : fromSystemError(err, what, file);
  } finally {
    await src.close();
  }
}

/** The main thread's copy: positional reads, double-buffered, each chunk hashed and written. */
async function copyFromFile(
  src: fs.FileHandle,
  verifier: Verifier,
  size: number,
  out: fs.FileHandle,
  offset: number,
  opts: CopyBlobOptions,
): Promise<void> {
  const bufs = [Buffer.allocUnsafe(COPY_CHUNK), Buffer.allocUnsafe(COPY_CHUNK)];
  let which = 0;
  let pos = 0;
  // Read one byte past the declared size, so that a longer file is noticed.
  const want = (at: number) => Math.min(COPY_CHUNK, size + 1 - at);
  let n = want(0) > 0 ? (await src.read(bufs[0]!, 0, want(0), 0)).bytesRead : 0;
  while (n > 0) {
    throwIfInterrupted(opts.signal, 'install');
    const cur = bufs[which]!.subarray(0, n);
    verifier.update(cur);
    which ^= 1;
    const next = pos + n;
    const [, r] = await Promise.all([
      writeAll(out, cur, offset + pos),
      want(next) > 0 ? src.read(bufs[which]!, 0, want(next), next) : { bytesRead: 0 },
    ]);
    pos = next;
    opts.onBytes?.(n);
    n = r.bytesRead;
  }
}

async function copyFromStream(
  stream: Readable,
  verifier: Verifier,
  out: fs.FileHandle,
  offset: number,
  opts: CopyBlobOptions,
): Promise<void> {
  let pos = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      throwIfInterrupted(opts.signal, 'install');
      verifier.update(chunk);
      await writeAll(out, chunk, offset + pos);
      pos += chunk.length;
      opts.onBytes?.(chunk.length);
    }
  } finally {
    stream.destroy();
  }
}
