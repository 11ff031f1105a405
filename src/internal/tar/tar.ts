/**
 * Tar, both ways, for `oci-archive:`: safe extraction of untrusted archives, and deterministic
 * writing of USTAR headers laid out the way Go's `archive/tar` lays them out (what skopeo 1.9.3
 * writes through c/storage's `archive.TarWithOptions`, formats.md §3.4).
 *
 * Reading uses `tar-stream` (it handles USTAR, PAX and GNU long names). Extraction is hardened
 * against hostile archives, in the spirit of node-tar's security notes:
 * - a name that is absolute, or has a `..` segment, is refused (`UNSAFE_PATH`), never rewritten;
 * - a leading `./` (or any `.` segment) is dropped, so `tar -C layout -cf x.tar .` archives work;
 * - symbolic links whose target would leave the extraction root are refused; links inside are
 *   created; a hard link must name an earlier regular file of the archive (never a symlink: link(2)
 *   would copy the symlink into another directory, where its relative target means something else);
 * - the lexical check of a symlink target cannot see other symlinks it passes through (`d/l -> ..`
 *   then `x -> d/l/..`), so once everything is extracted every symlink is resolved on disk and must
 *   still lead inside the root (a dangling one: its deepest existing part);
 * - nothing is ever written through a symlink: every parent directory of an entry is checked with
 *   `lstat` and must be a real directory created by the extraction;
 * - device files, FIFOs and unknown entry types are refused;
 * - a gzip-compressed archive is decompressed transparently (c/image auto-detects compression);
 *   bzip2, xz and zstd are detected and refused with `UNSUPPORTED` (Node 20 has no decoder).
 *
 * Writing: {@link ustarHeader} builds one 512-byte header with Go's field formatting (octal fields
 * zero-padded to their width minus one and NUL-terminated, the mode carrying the file-type bits
 * `0100000`/`0040000`, checksum as six digits, NUL, space), so identical inputs give identical bytes.
 */
import { constants as fsc, createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable, Writable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { OcikitError, fromSystemError } from '../../errors.js';

/** The size of a tar block. */
export const TAR_BLOCK = 512;

/** The end-of-archive marker Go writes: two zero blocks (no padding to a 10 KiB record). */
export const TAR_END = Buffer.alloc(2 * TAR_BLOCK);

/** A header to write. */
export interface TarHeader {
  /** Relative name without `./`; a directory's name ends with `/`. At most 100 bytes. */
  readonly name: string;
  readonly type: 'file' | 'dir';
  /** Content size (0 for directories). */
  readonly size: number;
  /** Permission bits (the type bits are added). */
  readonly mode: number;
  /** Seconds since the epoch. */
  readonly mtime: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly uname?: string;
  readonly gname?: string;
}

function octal(buf: Buffer, offset: number, width: number, value: number, what: string): void {
  const digits = value.toString(8);
  if (!Number.isSafeInteger(value) || value < 0 || digits.length > width - 1) {
    throw new OcikitError('UNSUPPORTED', `tar header field ${what}=${value} does not fit a USTAR header`);
  }
  buf.write(digits.padStart(width - 1, '0'), offset, 'latin1');
  buf[offset + width - 1] = 0;
}

function text(buf: Buffer, offset: number, width: number, value: string, what: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > width)
    throw new OcikitError(
      'UNSUPPORTED',
      `tar header field ${what} ${JSON.stringify(value)} is longer than ${width} bytes`,
    );
  bytes.copy(buf, offset);
}

/**
 * Encodes one USTAR header the way Go's `archive/tar` does for a header that fits USTAR.
 * @throws OcikitError `UNSUPPORTED` when a field does not fit (long names, huge sizes).
 */
export function ustarHeader(h: TarHeader): Buffer {
  const buf = Buffer.alloc(TAR_BLOCK);
  text(buf, 0, 100, h.name, 'name');
  octal(buf, 100, 8, (h.type === 'dir' ? 0o040000 : 0o100000) | (h.mode & 0o7777), 'mode');
  octal(buf, 108, 8, h.uid ?? 0, 'uid');
  octal(buf, 116, 8, h.gid ?? 0, 'gid');
  octal(buf, 124, 12, h.type === 'dir' ? 0 : h.size, 'size');
  octal(buf, 136, 12, h.mtime, 'mtime');
  buf[156] = h.type === 'dir' ? 0x35 : 0x30;
  buf.write('ustar\u000000', 257, 'latin1');
  text(buf, 265, 32, h.uname ?? 'root', 'uname');
  text(buf, 297, 32, h.gname ?? 'root', 'gname');
  octal(buf, 329, 8, 0, 'devmajor');
  octal(buf, 337, 8, 0, 'devminor');
  // The checksum is computed with its own field as eight spaces, then written as 6 digits, NUL, space.
  buf.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of buf) sum += b;
  buf.write(sum.toString(8).padStart(6, '0'), 148, 'latin1');
  buf[154] = 0;
  buf[155] = 0x20;
  return buf;
}

/** The zero bytes that pad `size` bytes of content to a whole block. */
export function tarPadding(size: number): Buffer {
  const rest = size % TAR_BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : TAR_BLOCK - rest);
}

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

type Compression = 'none' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

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

/** Options for {@link extractTarSafely}. */
export interface ExtractOptions {
  readonly signal?: AbortSignal;
}

/**
 * Extracts the (possibly gzip-compressed) tar `file` into the existing, empty directory `dest`,
 * refusing every hostile entry listed in the module header. Later entries with the name of an
 * earlier regular file replace it, as tar does.
 * @throws OcikitError `UNSAFE_PATH` (hostile entry), `UNSUPPORTED` (bzip2/xz/zstd, odd entry
 *   types), `INVALID_INPUT` (not a tar), `NOT_FOUND`, `IO`, `INTERRUPTED`.
 */
export async function extractTarSafely(file: string, dest: string, opts: ExtractOptions = {}): Promise<void> {
  const compression = await detectCompression(file);
  if (compression !== 'none' && compression !== 'gzip') {
    throw new OcikitError(
      'UNSUPPORTED',
      `archive ${file} is ${compression}-compressed; only plain and gzip-compressed tar archives are supported`,
    );
  }
  const root = path.resolve(dest);
  const dirs = new Set<string>(['']);
  const files = new Set<string>();
  const symlinks = new Set<string>();
  const extract = tar.extract();

  const ensureDir = async (segments: readonly string[]): Promise<void> => {
    for (let i = 1; i <= segments.length; i++) {
      const rel = segments.slice(0, i).join('/');
      if (dirs.has(rel)) continue;
      const abs = path.join(root, ...segments.slice(0, i));
      const st = await fs.lstat(abs).catch(() => undefined);
      if (st === undefined) {
        await fs.mkdir(abs, { mode: 0o755 });
      } else if (!st.isDirectory()) {
        throw new OcikitError('UNSAFE_PATH', `archive ${file}: ${rel} is used as a directory but is not one`);
      }
      dirs.add(rel);
    }
  };

  const handle = async (header: tar.Header, body: AsyncIterable<Buffer>): Promise<void> => {
    const segs = safeEntrySegments(header.name);
    const rel = segs.join('/');
    const abs = path.join(root, ...segs);
    const type = header.type ?? 'file';
    if (type === 'directory') {
      await ensureDir(segs);
      return;
    }
    if (segs.length === 0)
      throw new OcikitError(
        'UNSAFE_PATH',
        `archive ${file}: entry ${JSON.stringify(header.name)} of type ${type} names the root`,
      );
    await ensureDir(segs.slice(0, -1));
    if (dirs.has(rel)) throw new OcikitError('UNSAFE_PATH', `archive ${file}: ${rel} replaces a directory`);
    switch (type) {
      case 'file':
      case 'contiguous-file': {
        if (files.has(rel)) await fs.unlink(abs);
        const fh = await fs.open(abs, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o644);
        try {
          for await (const chunk of body) await fh.write(chunk);
        } finally {
          await fh.close();
        }
        files.add(rel);
        symlinks.delete(rel);
        return;
      }
      case 'link': {
        const target = safeEntrySegments(header.linkname ?? '').join('/');
        if (!files.has(target) || symlinks.has(target)) {
          throw new OcikitError(
            'UNSAFE_PATH',
            `archive ${file}: hard link ${rel} -> ${JSON.stringify(header.linkname)} does not name an earlier regular file of the archive`,
          );
        }
        if (files.has(rel)) await fs.unlink(abs);
        await fs.link(path.join(root, ...target.split('/')), abs);
        files.add(rel);
        symlinks.delete(rel);
        return;
      }
      case 'symlink': {
        const link = header.linkname ?? '';
        const resolved = path.resolve(path.dirname(abs), link);
        const relTarget = path.relative(root, resolved);
        if (
          link.startsWith('/') ||
          relTarget === '..' ||
          relTarget.startsWith(`..${path.sep}`) ||
          path.isAbsolute(relTarget)
        ) {
          throw new OcikitError(
            'UNSAFE_PATH',
            `archive ${file}: symlink ${rel} -> ${JSON.stringify(link)} points out of the archive`,
          );
        }
        if (files.has(rel)) await fs.unlink(abs);
        await fs.symlink(link, abs);
        files.add(rel);
        symlinks.add(rel);
        return;
      }
      default:
        throw new OcikitError(
          'UNSAFE_PATH',
          `archive ${file}: entry ${rel} has type ${type}, which an image archive never needs`,
        );
    }
  };

  extract.on('entry', (header, body, next) => {
    handle(header, body as unknown as AsyncIterable<Buffer>).then(
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
    await pipeline(stages as [Readable, ...Writable[]], opts.signal ? { signal: opts.signal } : {});
  } catch (err) {
    if (err instanceof OcikitError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e?.name === 'AbortError')
      throw new OcikitError('INTERRUPTED', `extracting ${file} was interrupted`, { cause: err });
    if (typeof e?.code === 'string' && e.code.startsWith('E') && e.code !== 'ERR_STREAM_PREMATURE_CLOSE')
      throw fromSystemError(err, 'extracting archive', file);
    throw new OcikitError('INVALID_INPUT', `archive ${file} is not a valid tar archive: ${e?.message ?? String(err)}`, {
      cause: err,
    });
  }
  await checkSymlinksInside(file, root, symlinks);
}

/**
 * Resolves every extracted symlink on disk (no lexical normalisation, so `..` after a symlink
 * means what the kernel makes of it) and refuses one that leads out of `root`. For a dangling
 * link, the deepest existing prefix of its target is what must stay inside.
 */
async function checkSymlinksInside(file: string, root: string, symlinks: ReadonlySet<string>): Promise<void> {
  if (symlinks.size === 0) return;
  let realRoot: string;
  try {
    realRoot = await fs.realpath(root);
  } catch (err) {
    throw fromSystemError(err, 'extraction directory', root);
  }
  for (const rel of symlinks) {
    const abs = path.join(root, ...rel.split('/'));
    const link = await fs.readlink(abs);
    // The link's directory was checked to be a real directory inside the root when it was created.
    let probe = `${path.dirname(abs)}/${link}`;
    for (;;) {
      let real: string;
      try {
        real = await fs.realpath(probe);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const cut = probe.lastIndexOf('/');
        if (code === 'ENOENT' && cut > root.length) {
          probe = probe.slice(0, cut);
          continue;
        }
        throw new OcikitError(
          'UNSAFE_PATH',
          `archive ${file}: symlink ${rel} -> ${JSON.stringify(link)} cannot be resolved (${code ?? String(err)})`,
          { cause: err },
        );
      }
      const back = path.relative(realRoot, real);
      if (back === '..' || back.startsWith(`..${path.sep}`) || path.isAbsolute(back)) {
        throw new OcikitError(
          'UNSAFE_PATH',
          `archive ${file}: symlink ${rel} -> ${JSON.stringify(link)} leads out of the archive (to ${real})`,
        );
      }
      break;
    }
  }
}
