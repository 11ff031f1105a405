/**
 * The file-system gateway: path containment, opening untrusted files, atomic writes, scoped
 * temporary directories.
 *
 * Paths that come from untrusted input (osbuild keys, stage options) are checked lexically here
 * (no absolute escape, no `..` segment; `..data` is a name like any other); on disk they are
 * walked by descriptor, symlinks kept inside the root, in `dir-handle.ts`. Publishing finished
 * work (temporary siblings, fsync, link or rename) is in `publish.ts`.
 */
import * as fsSync from 'node:fs';
import { type Stats, constants as fsc } from 'node:fs';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { OcikitError, fromSystemError, isNoSpace } from '../errors.js';
import { trackTemp, untrackTemp } from './cleanup.js';
import { createOwnedTempDir, sweepStale } from './ownership.js';

/**
 * True when `child` equals `root` or lies below it (both absolute, normalised). Only a first
 * component that is exactly `..` leaves `root`: `..data` or `...` are ordinary names inside it.
 */
export function isInside(root: string, child: string): boolean {
  const rel = path.relative(root, child);
  return rel === '' || (!path.isAbsolute(rel) && rel !== '..' && !rel.startsWith(`..${path.sep}`));
}

/**
 * Joins `rel` (which may start with `/`, meaning "the root of `root`") under `root`, refusing any
 * `..` segment (a component that is exactly `..`; `..data` is a name) and any NUL byte.
 * @throws OcikitError `UNSAFE_PATH`.
 */
export function joinInside(root: string, rel: string, what: string): string {
  if (typeof rel !== 'string' || rel.includes('\0')) {
    throw new OcikitError('UNSAFE_PATH', `${what} ${JSON.stringify(rel)} is not a usable path`);
  }
  const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) {
    throw new OcikitError('UNSAFE_PATH', `${what} ${JSON.stringify(rel)} contains a ".." segment`);
  }
  const joined = path.resolve(root, ...parts);
  if (!isInside(path.resolve(root), joined)) {
    throw new OcikitError('UNSAFE_PATH', `${what} ${JSON.stringify(rel)} leaves ${root}`);
  }
  return joined;
}

/**
 * Creates a fresh directory `<parent>/<prefix>…` (mkdtemp) owned by this process (its name says
 * so, see `ownership.ts`), after removing the stale `<prefix>*` entries that killed processes left
 * in `parent`.
 * @throws OcikitError `NOT_FOUND` (no such parent), `NO_SPACE`, `IO`.
 */
export async function makeTempDir(parent: string, prefix: string): Promise<string> {
  await sweepStale(parent, prefix);
  return createOwnedTempDir(parent, prefix);
}

/**
 * Runs `fn` with a fresh temporary directory ({@link makeTempDir}) and removes it afterwards, on
 * success and on error. The directory is registered for removal if the process is interrupted.
 * @param parent where to create it (default: the OS temp dir).
 * @throws OcikitError `NOT_FOUND`, `NO_SPACE`, `IO` (creating the directory); and whatever `fn` throws.
 */
export async function withTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>, parent?: string): Promise<T> {
  const base = parent ?? tmpdir();
  const dir = await makeTempDir(base, prefix);
  trackTemp(dir);
  try {
    return await fn(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
    untrackTemp(dir);
  }
}

/**
 * Where big temporary files go when the caller names no directory: `/var/tmp`, as containers/image
 * `internal/tmpdir` chooses (not the OS temp dir, often a small tmpfs), else the OS temp dir.
 */
export async function bigFilesTempDir(): Promise<string> {
  const st = await fs.stat('/var/tmp').catch(() => undefined);
  return st?.isDirectory() ? '/var/tmp' : tmpdir();
}

/**
 * Opens `file` for reading if it is a regular file: a final symlink is refused (`O_NOFOLLOW`),
 * the open does not block on a FIFO or device (`O_NONBLOCK`), and what was opened is checked with
 * `fstat`, so the check and the read are of the same file. The caller closes the handle.
 * @param label how messages name the file (default `file`; {@link readFileInside} opens the real
 *   path and names the path it was given).
 * @throws OcikitError `NOT_FOUND`, `INVALID_INPUT` (not a regular file), `IO` (a final symlink
 *   is `ELOOP`).
 */
export async function openRegularFile(file: string, what: string, label = file): Promise<fs.FileHandle> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  } catch (err) {
    throw fromSystemError(err, what, label);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new OcikitError('INVALID_INPUT', `${what} ${label} is not a regular file`);
    return fh;
  } catch (err) {
    await fh.close();
    throw fromSystemError(err, what, label);
  }
}

/** How messages name a file that is not a regular file. */
function fileKind(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

/** Options of {@link readNamedFile}. */
export interface NamedFileOptions {
  /** Refuse more than this many bytes (default: no limit). */
  readonly maxBytes?: number | undefined;
  /** The error for more than `maxBytes` (given the size, or "at least N" for a device). */
  readonly tooLarge?: ((size: number | string) => Error) | undefined;
  /** Read a character or block device (up to `maxBytes`) instead of refusing it. */
  readonly devices?: boolean | undefined;
  /** Added to the refusal of a file that is not regular (e.g. how to read standard input). */
  readonly hint?: string | undefined;
  /** How messages name the file (default: `file`). */
  readonly label?: string | undefined;
}

/**
 * Reads a file a user named (a command-line argument, an auth file), following symlinks, without
 * ever blocking on its open: it is opened with `O_NONBLOCK` and what was opened is checked with
 * `fstat`. A FIFO (whose open would wait for a writer, holding the process), a socket or a
 * directory is refused; so is a device unless `devices` is set, and then it is read up to the
 * limit, as it has no size to check first.
 * @throws OcikitError `NOT_FOUND`, `INVALID_INPUT` (not a regular file), `IO`; `tooLarge()`.
 */
export async function readNamedFile(file: string, what: string, opts: NamedFileOptions = {}): Promise<Buffer> {
  const label = opts.label ?? file;
  const max = opts.maxBytes ?? Number.POSITIVE_INFINITY;
  const tooLarge =
    opts.tooLarge ??
    ((n: number | string) => new OcikitError('INVALID_INPUT', `${what} ${label} is larger than ${max} bytes (${n})`));
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, fsc.O_RDONLY | fsc.O_NONBLOCK);
  } catch (err) {
    throw fromSystemError(err, what, label);
  }
  try {
    const st = await fh.stat();
    const device = st.isCharacterDevice() || st.isBlockDevice();
    if (!st.isFile() && !(device && opts.devices)) {
      const hint = opts.hint ? ` (${opts.hint})` : '';
      throw new OcikitError('INVALID_INPUT', `${what} ${label} is ${fileKind(st)}, not a regular file${hint}`);
    }
    if (st.isFile()) {
      if (st.size > max) throw tooLarge(st.size);
      const buf = await fh.readFile();
      if (buf.length > max) throw tooLarge(buf.length);
      return buf;
    }
    const chunks: Buffer[] = [];
    let n = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(BLOB_READ_CHUNK, max - n + 1));
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) return Buffer.concat(chunks, n);
      chunks.push(chunk.subarray(0, bytesRead));
      n += bytesRead;
      if (n > max) throw tooLarge(`at least ${n}`);
    }
  } catch (err) {
    throw fromSystemError(err, what, label);
  } finally {
    await fh.close();
  }
}

/**
 * Reads a regular file that must lie inside `root` (a symlink is followed only if its target
 * stays inside), refusing anything larger than `maxBytes`.
 *
 * The system calls are synchronous: these are small local files (manifests, list files,
 * storage.conf), read by the thousand for one osbuild input set, where each asynchronous call's
 * promise and threadpool round trip cost far more than the call itself (`ocikit inputs` of 10,000
 * images: 6-7 s asynchronously; bench/inputs.mjs). Same calls, same checks, same errors.
 * @throws OcikitError `NOT_FOUND`, `UNSAFE_PATH`, `INVALID_INPUT` (not a regular file), `IO`;
 *   `tooLarge()` is thrown when the size limit is exceeded.
 */
export async function readFileInside(
  root: string,
  file: string,
  what: string,
  maxBytes: number,
  tooLarge: (size: number) => Error,
): Promise<Buffer> {
  return readFileInsideSync(root, file, what, maxBytes, tooLarge);
}

/** The buffer {@link readFileInside} reads past a file's known size into (its bytes are copied out). */
const probe = Buffer.allocUnsafe(64 * 1024);

const READ_NOFOLLOW = fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK;

/**
 * The common case of {@link readFileInside} in fewer calls: `file` named directly in `root`
 * (`root/manifest.json`) and no symlink. Opened as that one name in the resolved root, never
 * followed, it cannot lie anywhere else, so the file's own realpath is not needed. Returns the
 * descriptor, or -1 where the full check must decide: another shape of path, or a symlink.
 * @throws what open throws otherwise (ENOENT, EACCES…), as the realpath of the file would.
 */
function openDirectChild(realRoot: string, root: string, file: string): number {
  const name = path.basename(file);
  if (name === '' || name === '.' || name === '..' || path.join(root, name) !== path.normalize(file)) return -1;
  try {
    return fsSync.openSync(path.join(realRoot, name), READ_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') return -1;
    throw err;
  }
}

function readFileInsideSync(
  root: string,
  file: string,
  what: string,
  maxBytes: number,
  tooLarge: (size: number) => Error,
): Buffer {
  let realRoot: string;
  let fd: number;
  try {
    realRoot = fsSync.realpathSync.native(root);
    fd = openDirectChild(realRoot, root, file);
  } catch (err) {
    throw fromSystemError(err, what, file);
  }
  if (fd < 0) {
    let real: string;
    try {
      real = fsSync.realpathSync.native(file);
    } catch (err) {
      throw fromSystemError(err, what, file);
    }
    if (!isInside(realRoot, real)) {
      throw new OcikitError('UNSAFE_PATH', `${what} ${file} resolves to ${real}, outside ${root}`);
    }
    try {
      fd = fsSync.openSync(real, READ_NOFOLLOW);
    } catch (err) {
      throw fromSystemError(err, what, file);
    }
  }
  try {
    const st = fsSync.fstatSync(fd);
    if (!st.isFile()) throw new OcikitError('INVALID_INPUT', `${what} ${file} is not a regular file`);
    if (st.size > maxBytes) throw tooLarge(st.size);
    // Read to the end (the file may have grown since fstat), one byte past the limit at most:
    // the size fstat gave plus one first, then (to see the end, or growth) into a shared probe
    // buffer, copied out only when it got bytes.
    const chunks: Buffer[] = [];
    let n = 0;
    const first = Buffer.allocUnsafe(Math.min(st.size, maxBytes) + 1);
    for (let chunk = first; ; chunk = probe) {
      const want = Math.min(chunk.length, maxBytes - n + 1);
      const got = fsSync.readSync(fd, chunk, 0, want, null);
      if (got === 0) break;
      chunks.push(chunk === first ? chunk.subarray(0, got) : Buffer.from(chunk.subarray(0, got)));
      n += got;
      if (n > maxBytes) throw tooLarge(n);
    }
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, n);
  } catch (err) {
    throw fromSystemError(err, what, file);
  } finally {
    fsSync.closeSync(fd);
  }
}

/**
 * True when `p` exists (without following a final symlink), false when it or a parent is missing.
 * @throws OcikitError `IO` when it cannot be told (permissions, I/O errors).
 */
export async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw fromSystemError(err, 'checking', p);
  }
}

/** Read size for blob streams (1 MiB: fewer syscalls and promise turns than the 64 KiB default). */
export const BLOB_READ_CHUNK = 1024 * 1024;

/**
 * Opens a regular file for streaming, as {@link openRegularFile} opens it; the stream closes the
 * handle when it ends or is destroyed.
 * @throws OcikitError `NOT_FOUND`, `INVALID_INPUT`, `IO`.
 */
export async function openRegularFileStream(file: string, what: string): Promise<Readable> {
  const fh = await openRegularFile(file, what);
  return fh.createReadStream({ highWaterMark: BLOB_READ_CHUNK });
}

/**
 * Creates `file`, which must not exist (O_EXCL, never following a symlink), and lets `fill` write
 * it; the handle is closed afterwards whatever happens. A full device while filling is reported
 * as `NO_SPACE` naming `file` (the path being written).
 * @throws OcikitError `IO` (EEXIST among others), `NOT_FOUND` (no parent), `NO_SPACE`; and what
 *   `fill` throws.
 */
export async function writeNewFile(
  file: string,
  fill: (fh: fs.FileHandle) => Promise<unknown>,
  mode = 0o644,
): Promise<void> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, mode);
  } catch (err) {
    throw fromSystemError(err, 'writing', file);
  }
  try {
    await fill(fh);
  } catch (err) {
    throw isNoSpace(err) ? fromSystemError(err, 'writing', file) : err;
  } finally {
    await fh.close();
  }
}

/**
 * Writes all of `buf` at `position` of `fh`. write(2) may store fewer bytes than it was given (a
 * device that fills up in the middle of a write does, without an error), and a short write that
 * is not continued leaves a hole nothing after it notices; this continues until everything is
 * written or a write fails (ENOSPC, once nothing fits).
 * @throws the system error of the failing write.
 */
export async function writeAll(fh: fs.FileHandle, buf: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < buf.length; ) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    if (bytesWritten <= 0) throw Object.assign(new Error('write stored nothing'), { code: 'EIO' });
    done += bytesWritten;
  }
}

/**
 * Writes all of `bufs`, in order, at `position` of `fh` (writev(2)), continuing after short
 * writes as {@link writeAll} does.
 * @throws the system error of the failing write.
 */
export async function writevAll(fh: fs.FileHandle, bufs: readonly Buffer[], position: number): Promise<void> {
  const rest = bufs.filter((b) => b.length > 0);
  let at = position;
  while (rest.length > 0) {
    let { bytesWritten } = await fh.writev(rest, at);
    if (bytesWritten <= 0) throw Object.assign(new Error('write stored nothing'), { code: 'EIO' });
    at += bytesWritten;
    while (rest.length > 0 && bytesWritten >= rest[0]!.length) bytesWritten -= rest.shift()!.length;
    if (bytesWritten > 0) rest[0] = rest[0]!.subarray(bytesWritten);
  }
}
