/**
 * Reading tar archives: the entries of a (possibly gzip-compressed) tar file, one at a time, and
 * the name safety every consumer of untrusted archives needs. What to do with an entry is the
 * caller's policy (./extract.ts is the strict one for image archives).
 *
 * - Parsing uses `tar-stream`, which handles USTAR, PAX and GNU long names.
 * - Compression is detected from the magic bytes as containers/image's `DetectCompression` does; a
 *   gzip archive is decompressed transparently, bzip2, xz and zstd are refused with `UNSUPPORTED`
 *   (Node 20 has no decoder for them).
 * - {@link safeEntrySegments} refuses a name that is absolute, has a `..` segment or a NUL byte
 *   (`UNSAFE_PATH`), never rewriting it, and drops `.` and empty segments, so archives made with
 *   `tar -C layout -cf x.tar .` (entries `./…`) read as intended (in the spirit of node-tar's
 *   security notes).
 */
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar, { type Header } from 'tar-stream';
import { OcikitError, fromSystemError, interrupted } from '../../errors.js';

/** An entry's header as the tar parser reports it (long names and PAX records already applied). */
export type TarEntryHeader = Header;

/**
 * Normalises an archive entry name into relative path segments: `.` segments and empty segments
 * (a leading `./`, a trailing `/`) are dropped.
 * @returns the segments; an empty array is the archive root itself.
 * @throws OcikitError `UNSAFE_PATH` for an absolute name, a `..` segment or a NUL byte.
 */
export function safeEntrySegments(name: string): string[] {
  if (name.includes('\0'))
    throw new OcikitError('UNSAFE_PATH', `archive entry ${JSON.stringify(name)} contains a NUL byte`);
  if (name.startsWith('/'))
    throw new OcikitError('UNSAFE_PATH', `archive entry ${JSON.stringify(name)} is an absolute path`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..'))
    throw new OcikitError('UNSAFE_PATH', `archive entry ${JSON.stringify(name)} contains a ".." segment`);
  return parts;
}

/** A compression {@link detectCompression} recognises. */
export type Compression = 'none' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

/** Detects the compression of a file from its magic bytes, as c/image's `DetectCompression` does. */
export async function detectCompression(file: string): Promise<Compression> {
  const fh = await fs.open(file, 'r').catch((err: unknown) => {
    throw fromSystemError(err, 'archive', file);
  });
  try {
    const head = Buffer.alloc(6);
    const { bytesRead } = await fh.read(head, 0, 6, 0);
    const b = head.subarray(0, bytesRead);
    if (b.length >= 3 && b[0] === 0x1f && b[1] === 0x8b && b[2] === 0x08) return 'gzip';
    if (b.length >= 3 && b.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
    if (b.length >= 6 && b.equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
    if (b.length >= 4 && b.readUInt32BE(0) === 0x28b52ffd) return 'zstd';
    return 'none';
  } finally {
    await fh.close();
  }
}

/**
 * Handles one entry. `body` is the entry's content; the reader drains whatever the handler leaves
 * unread. A throw stops the whole read with that error.
 */
export type TarEntryHandler = (header: TarEntryHeader, body: AsyncIterable<Buffer>) => Promise<void>;

/** Options for {@link readTarEntries}. */
export interface ReadTarOptions {
  readonly signal?: AbortSignal | undefined;
  /** The verb error messages use for the whole operation (default `reading`). */
  readonly action?: string | undefined;
}

/**
 * Calls `onEntry` for every entry of the tar `file`, in archive order and one at a time, after
 * decompressing it when it is gzip-compressed.
 * @throws OcikitError `UNSUPPORTED` (bzip2/xz/zstd), `INVALID_INPUT` (not a tar), `NOT_FOUND`,
 *   `IO`, `INTERRUPTED`; an OcikitError thrown by `onEntry` as it is.
 */
export async function readTarEntries(file: string, onEntry: TarEntryHandler, opts: ReadTarOptions = {}): Promise<void> {
  const action = opts.action ?? 'reading';
  const compression = await detectCompression(file);
  if (compression !== 'none' && compression !== 'gzip') {
    throw new OcikitError(
      'UNSUPPORTED',
      `archive ${file} is ${compression}-compressed; only plain and gzip-compressed tar archives are supported`,
    );
  }
  const extract = tar.extract();
  extract.on('entry', (header, body, next) => {
    onEntry(header, body as unknown as AsyncIterable<Buffer>).then(
      () => {
        body.resume();
        next();
      },
      (err: unknown) => {
        body.resume();
        next(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });

  const source = createReadStream(file, { highWaterMark: 1 << 20 });
  const stages: (NodeJS.ReadableStream | NodeJS.WritableStream)[] = [source];
  if (compression === 'gzip') stages.push(createGunzip());
  stages.push(extract as unknown as Writable);
  try {
    await pipeline(stages as [Readable, ...Writable[]], { signal: opts.signal });
  } catch (err) {
    if (err instanceof OcikitError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e?.name === 'AbortError') throw interrupted(`${action} ${file}`, opts.signal);
    if (typeof e?.code === 'string' && e.code.startsWith('E') && e.code !== 'ERR_STREAM_PREMATURE_CLOSE')
      throw fromSystemError(err, `${action} archive`, file);
    throw new OcikitError('INVALID_INPUT', `archive ${file} is not a valid tar archive: ${e?.message ?? String(err)}`, {
      cause: err,
    });
  }
}
