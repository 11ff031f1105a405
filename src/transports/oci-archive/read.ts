/**
 * The `oci-archive:` transport as a source: a tar of an OCI image layout (containers/image
 * `oci/archive/oci_src.go`).
 *
 * As containers/image does, the archive is extracted whole into a private temporary directory and
 * read there as an `oci:` layout; the directory is removed when the caller's function returns or
 * throws. Extraction is hardened (`internal/tar/extract.ts`): absolute names, `..` segments, links out of
 * the archive and device files are refused; `./`-prefixed names and gzip-compressed archives work.
 * Without a reference name, the archive's `index.json` must hold exactly one image. A full device
 * while extracting is `NO_SPACE` naming the file being written, and the extraction is removed.
 *
 * Unlike containers/image, only what an OCI layout reader can use is written: `oci-layout`,
 * `index.json` and `blobs/<algorithm>/<encoded>` (and the directories above them). Every other
 * entry is checked as strictly and then skipped, so an archive of a million stray entries costs
 * neither a million files nor memory per entry; a link outside those names is refused.
 */
import * as path from 'node:path';
import { OcikitError } from '../../errors.js';
import { bigFilesTempDir, withTempDir } from '../../internal/fs.js';
import { type ExtractedType, extractTarSafely } from '../../internal/tar/extract.js';
import { openOciLayout, type OciLayoutOptions } from '../oci/read.js';
import type { ImageReader } from '../reader.js';

/**
 * Options for {@link withOciArchive}.
 * @category Transports
 */
export interface OciArchiveOptions extends Omit<OciLayoutOptions, 'index'> {
  /** Where to extract (default: `/var/tmp`, c/image's default for big files, else the OS temp dir). */
  readonly tmpdir?: string | undefined;
  /** Aborts the extraction (`INTERRUPTED`). */
  readonly signal?: AbortSignal | undefined;
}

/**
 * The names of an OCI image layout (image-spec `image-layout.md`): the directories `blobs` and
 * `blobs/<algorithm>`, the files `oci-layout`, `index.json` and `blobs/<algorithm>/<encoded>`.
 */
export function isLayoutEntry(segments: readonly string[], type: ExtractedType): boolean {
  if (type === 'directory')
    return segments.length <= 1
      ? segments.length === 0 || segments[0] === 'blobs'
      : segments.length === 2 && segments[0] === 'blobs';
  if (segments.length === 1) return segments[0] === 'oci-layout' || segments[0] === 'index.json';
  return segments.length === 3 && segments[0] === 'blobs';
}

/**
 * Extracts the oci-archive `file` into a private temporary directory, opens the image chosen by
 * `opts` and lends the reader to `fn`, with the directory holding the extracted (and so far
 * verified) OCI layout, which `fn` may hand on as `oci:<layout>`; the extraction is removed
 * afterwards, on error too.
 * @throws OcikitError `UNSAFE_PATH` (hostile archive entry), `UNSUPPORTED`, `INVALID_INPUT`,
 *   `NOT_FOUND`, `DIGEST_MISMATCH`, `INVALID_MANIFEST`, `IO`, `INTERRUPTED`; and whatever `fn` throws.
 * @category Transports
 */
export async function withOciArchive<T>(
  file: string,
  fn: (reader: ImageReader, layout: string) => Promise<T>,
  opts: OciArchiveOptions = {},
): Promise<T> {
  if (!path.isAbsolute(file)) file = path.resolve(file);
  const parent = opts.tmpdir ?? (await bigFilesTempDir());
  return withTempDir(
    'ocikit-oci-archive-',
    async (dir) => {
      await extractTarSafely(file, dir, { signal: opts.signal, keep: isLayoutEntry });
      const label = `oci-archive:${file}${opts.ref ? `:${opts.ref}` : ''}`;
      let reader: ImageReader;
      try {
        reader = await openOciLayout(dir, opts, label);
      } catch (err) {
        if (err instanceof OcikitError && err.code === 'NOT_FOUND' && err.message.includes('index.json')) {
          throw new OcikitError('INVALID_INPUT', `${label}: the archive holds no OCI layout (no index.json)`, {
            cause: err,
          });
        }
        throw err;
      }
      try {
        return await fn(reader, dir);
      } finally {
        await reader.close();
      }
    },
    parent,
  );
}
