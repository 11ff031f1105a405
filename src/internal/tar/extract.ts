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
 * Memory and disk stay bounded whatever the entry count: the caller says which entries to write
 * (`keep`; the `oci-archive:` reader keeps only an OCI layout's names), every other entry is still
 * checked (name, type, a symlink's target) but neither written nor remembered, and the per-entry
 * state (names written, for replacements, hard links and the final symlink check) is kept only for
 * written entries, of which there are at most `maxEntries`.
 */
import { constants as fsc } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { OcikitError, fromSystemError, isNoSpace } from '../../errors.js';
import { writeAll } from '../fs.js';
import { type TarEntryHeader, readTarEntries, safeEntrySegments } from './read.js';

/** The entry types {@link extractTarSafely} can write. */
export type ExtractedType = 'file' | 'directory' | 'link' | 'symlink';

/**
 * The most entries one extraction writes unless told otherwise. An OCI layout's archive holds one
 * entry per blob plus a few (an image of 127 layers: about 130), so 20,000 leaves room for well
 * over a hundred such images, while the bookkeeping, and Node's recursive removal of the
 * extraction afterwards (about 3 KB per file), stay within tens of MB.
 */
export const MAX_EXTRACTED_ENTRIES = 20_000;

/** Options for {@link extractTarSafely}. */
export interface ExtractOptions {
  readonly signal?: AbortSignal | undefined;
  /**
   * Which entries are written, by their normalised segments and type; default: all. A file or a
   * directory that is not kept is checked and skipped (its content is read past, nothing is
   * written or remembered); a link that is not kept is refused (`UNSAFE_PATH`), since a link the
   * caller does not want can only serve to redirect what it does want.
   */
  readonly keep?: ((segments: readonly string[], type: ExtractedType) => boolean) | undefined;
  /** The most entries written (default {@link MAX_EXTRACTED_ENTRIES}); one more is refused (`UNSUPPORTED`). */
  readonly maxEntries?: number | undefined;
}

/**
 * Extracts the (possibly gzip-compressed) tar `file` into the existing, empty directory `dest`,
 * refusing every hostile entry listed in the module header. Later entries with the name of an
 * earlier regular file replace it, as tar does. Only the entries `opts.keep` accepts are written.
 * @throws OcikitError `UNSAFE_PATH` (hostile entry, a link not kept), `UNSUPPORTED` (bzip2/xz/zstd,
 *   more than `maxEntries` to write), `INVALID_INPUT` (not a tar), `NOT_FOUND`, `IO`, `INTERRUPTED`.
 */
export async function extractTarSafely(file: string, dest: string, opts: ExtractOptions = {}): Promise<void> {
  const root = path.resolve(dest);
  const keep = opts.keep ?? (() => true);
  const maxEntries = opts.maxEntries ?? MAX_EXTRACTED_ENTRIES;
  let written = 0;
  const dirs = new Set<string>(['']);
  const files = new Set<string>();
  const symlinks = new Set<string>();

  /** Counts one more entry to write, refusing the archive past the bound. */
  const admit = (): void => {
    if (++written > maxEntries) {
      throw new OcikitError(
        'UNSUPPORTED',
        `archive ${file} has more than ${maxEntries} entries to extract; an image archive holds one per blob`,
      );
    }
  };

  const ensureDir = async (segments: readonly string[]): Promise<void> => {
    for (let i = 1; i <= segments.length; i++) {
      const rel = segments.slice(0, i).join('/');
      if (dirs.has(rel)) continue;
      admit();
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
      if (keep(segs, 'directory')) await ensureDir(segs);
      return;
    }
    if (segs.length === 0)
      throw new OcikitError(
        'UNSAFE_PATH',
        `archive ${file}: entry ${JSON.stringify(header.name)} of type ${type} names the root`,
      );
    const kind = extractedType(type);
    if (kind === undefined) {
      throw new OcikitError(
        'UNSAFE_PATH',
        `archive ${file}: entry ${rel} has type ${type}, which an image archive never needs`,
      );
    }
    if (kind === 'symlink') checkSymlinkTarget(file, root, rel, abs, header.linkname ?? '');
    if (!keep(segs, kind)) {
      if (kind === 'file') return; // read past by readTarEntries
      throw new OcikitError(
        'UNSAFE_PATH',
        `archive ${file}: ${kind === 'link' ? 'hard link' : 'symlink'} ${rel} -> ${JSON.stringify(header.linkname)} is outside what an image archive may hold`,
      );
    }
    await ensureDir(segs.slice(0, -1));
    if (dirs.has(rel)) throw new OcikitError('UNSAFE_PATH', `archive ${file}: ${rel} replaces a directory`);
    admit();
    switch (kind) {
      case 'file': {
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
        if (files.has(rel)) await fs.unlink(abs);
        await fs.symlink(header.linkname ?? '', abs);
        files.add(rel);
        symlinks.add(rel);
        return;
      }
    }
  };

  await readTarEntries(file, handle, { signal: opts.signal, action: 'extracting' });
  await checkSymlinksInside(file, root, symlinks);
}

/** The kind of a non-directory tar entry type that extraction can write; undefined for the others. */
function extractedType(type: string): Exclude<ExtractedType, 'directory'> | undefined {
  if (type === 'file' || type === 'contiguous-file') return 'file';
  if (type === 'link' || type === 'symlink') return type;
  return undefined;
}

/** Refuses a symlink whose target, taken lexically from the link's directory, leaves `root`. */
function checkSymlinkTarget(file: string, root: string, rel: string, abs: string, link: string): void {
  const relTarget = path.relative(root, path.resolve(path.dirname(abs), link));
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
