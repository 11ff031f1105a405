/**
 * Strict extraction of an untrusted image archive (`oci-archive:`) into an empty directory,
 * hardened against hostile archives in the spirit of node-tar's security notes. On top of the name
 * safety of ./read.ts:
 * - symbolic links whose target would leave the extraction root are refused; links inside are
 *   created; a hard link must name an earlier regular file of the archive (never a symlink: link(2)
 *   would copy the symlink into another directory, where its relative target means something else);
 * - the lexical check of a symlink target cannot see other symlinks it passes through (`d/l -> ..`
 *   then `x -> d/l/..`), so once everything is extracted every symlink is resolved on disk and must
 *   still lead inside the root (a dangling one: its deepest existing part);
 * - nothing is ever written through a symlink: every parent directory of an entry is checked with
 *   `lstat` and must be a real directory created by the extraction;
 * - device files, FIFOs and unknown entry types are refused (an image archive never needs them).
 *
 * A full device while extracting is `NO_SPACE` naming the file being written.
 */
import { constants as fsc } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { OcikitError, fromSystemError, isNoSpace } from '../../errors.js';
import { writeAll } from '../fs.js';
import { type TarEntryHeader, readTarEntries, safeEntrySegments } from './read.js';

/** Options for {@link extractTarSafely}. */
export interface ExtractOptions {
  readonly signal?: AbortSignal | undefined;
}

/**
 * Extracts the (possibly gzip-compressed) tar `file` into the existing, empty directory `dest`,
 * refusing every hostile entry listed in the module header. Later entries with the name of an
 * earlier regular file replace it, as tar does.
 * @throws OcikitError `UNSAFE_PATH` (hostile entry), `UNSUPPORTED` (bzip2/xz/zstd, odd entry
 *   types), `INVALID_INPUT` (not a tar), `NOT_FOUND`, `IO`, `INTERRUPTED`.
 */
export async function extractTarSafely(file: string, dest: string, opts: ExtractOptions = {}): Promise<void> {
  const root = path.resolve(dest);
  const dirs = new Set<string>(['']);
  const files = new Set<string>();
  const symlinks = new Set<string>();

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

  const handle = async (header: TarEntryHeader, body: AsyncIterable<Buffer>): Promise<void> => {
    const segs = safeEntrySegments(header.name);
    const abs = path.join(root, ...segs);
    try {
      await extractEntry(header, body, segs, abs);
    } catch (err) {
      // A full device is about the path being written, never about the archive (not "corrupt").
      throw isNoSpace(err) ? fromSystemError(err, `extracting ${file}: writing`, abs) : err;
    }
  };

  const extractEntry = async (
    header: TarEntryHeader,
    body: AsyncIterable<Buffer>,
    segs: readonly string[],
    abs: string,
  ): Promise<void> => {
    const rel = segs.join('/');
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
          // Not `for await`: leaving it on a failed write would destroy the entry's stream, which
          // ends the whole read as "premature close" (a corrupt archive) before this error is seen.
          const chunks = body[Symbol.asyncIterator]();
          for (let at = 0; ; ) {
            const next = await chunks.next();
            if (next.done) break;
            await writeAll(fh, next.value, at);
            at += next.value.length;
          }
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

  await readTarEntries(file, handle, { signal: opts.signal, action: 'extracting' });
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
