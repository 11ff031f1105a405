/**
 * Merging a manifest list into a `dir:` image, so that the list digest survives a `skopeo copy`
 * into containers-storage (https://github.com/containers/skopeo/issues/1935, the method osbuild
 * adopted in https://github.com/osbuild/osbuild/pull/1252).
 *
 * The merged view follows the `dir:` convention for lists that `skopeo copy --multi-arch all`
 * writes: `manifest.json` holds the list's exact bytes and `<hex>.manifest.json` the image
 * manifest's exact bytes, where `<hex>` is the image's manifest digest (schema 1 signatures
 * stripped). Unlike the reference, which copies the whole image and renames files in place, this
 * builds a new directory of hard links (symlinks where a hard link is impossible) beside the
 * target and renames it into place: no blob bytes are copied, the source is never touched, and
 * the target appears complete or not at all.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { digestHex } from '../../model/digest.js';
import { OcikitError, fromSystemError } from '../../errors.js';
import { trackTemp, untrackTemp } from '../../internal/cleanup.js';
import { exists, isInside } from '../../internal/fs.js';
import { publishDir, tempSibling } from '../../internal/publish.js';
import { readManifestFile } from '../reader.js';
import { readDirManifest } from './read.js';
import { type ManifestList, type ParsedManifest, parseManifest } from '../../model/manifest.js';
import type { Descriptor } from '../../model/descriptor.js';

/**
 * What {@link mergeManifest} produced.
 * @category osbuild
 */
export interface MergeResult {
  /** The merged directory. */
  readonly dir: string;
  /** The list's digest (what `manifest.json` now hashes to). */
  readonly listDigest: string;
  /** The image manifest's digest (`<hex>.manifest.json`). */
  readonly imageDigest: string;
  /** The list entry of the image (carries its platform). */
  readonly entry: Descriptor;
  /** How many of the image's other files (blobs, `version`, signatures) were hard-linked. */
  readonly linked: number;
  /** How many were symlinked instead, because a hard link was impossible (another file system). */
  readonly symlinked: number;
}

/**
 * Creates `outDir` as the merge of the list file `listFile` and the `dir:` image `imageDir`
 * (both read and parsed here): osbuild's `merge_manifest`, without copying any blob.
 * @throws OcikitError `EXISTS` (outDir exists), `NOT_FOUND`, `INVALID_MANIFEST` (the list is not
 *   a list, or the image manifest is one), `MANIFEST_TOO_LARGE`, `LIST_MISMATCH` (the list does not
 *   contain the image's digest), `UNSAFE_PATH` (a symlink in the image pointing out of it),
 *   `UNSUPPORTED` (a subdirectory in the image), `IO`.
 * @category osbuild
 */
export async function mergeManifest(listFile: string, imageDir: string, outDir: string): Promise<MergeResult> {
  const listBytes = await readManifestFile(
    path.dirname(path.resolve(listFile)),
    path.resolve(listFile),
    'manifest list',
  );
  const list = parseManifest(listBytes, `manifest list ${listFile}`);
  if (list.kind !== 'list') throw new OcikitError('INVALID_MANIFEST', `${listFile} is not a manifest list`);
  const image = await readDirManifest(imageDir, imageDir);
  return mergeParsedManifest(list, image, imageDir, outDir, `manifest list ${listFile}`);
}

/**
 * Creates `outDir` as the merge of `list` and the `dir:` image `imageDir`, whose `manifest.json`
 * is `image` (already read and parsed, e.g. by `resolveContainersInput`; neither is read again).
 * @param listLabel names the list in messages (default `manifest list <digest>`).
 * @throws OcikitError as {@link mergeManifest}.
 */
export async function mergeParsedManifest(
  list: ManifestList,
  image: ParsedManifest,
  imageDir: string,
  outDir: string,
  listLabel = `manifest list ${list.digest}`,
): Promise<MergeResult> {
  if (image.kind === 'list')
    throw new OcikitError('INVALID_MANIFEST', `${imageDir}/manifest.json is a manifest list already, not an image`);
  const entry = findEntry(list, image.digest);
  if (!entry) {
    throw new OcikitError(
      'LIST_MISMATCH',
      `${listLabel} (${list.digest}) does not contain image ${image.digest} of ${imageDir}`,
      { expected: image.digest },
    );
  }
  const target = path.resolve(outDir);
  if (await exists(target)) throw new OcikitError('EXISTS', `merge target ${outDir} exists already`);

  const instanceName = `${digestHex(image.digest)}.manifest.json`;
  const tmp = tempSibling(target, 'merge');
  trackTemp(tmp);
  let linked = 0;
  let symlinked = 0;
  try {
    await fs.mkdir(tmp, { mode: 0o755 });
    const realImage = await fs.realpath(imageDir);
    for (const ent of await fs.readdir(imageDir, { withFileTypes: true })) {
      if (ent.name === 'manifest.json' || ent.name === instanceName) continue;
      const src = path.join(realImage, ent.name);
      let file = src;
      if (ent.isSymbolicLink()) {
        file = await fs.realpath(src).catch((err) => {
          throw fromSystemError(err, `image file ${ent.name}`, src);
        });
        if (!isInside(realImage, file))
          throw new OcikitError('UNSAFE_PATH', `${src} is a symlink out of the image (${file})`);
      } else if (ent.isDirectory()) {
        throw new OcikitError('UNSUPPORTED', `${src} is a directory; a dir: image is flat`);
      } else if (!ent.isFile()) {
        throw new OcikitError('UNSUPPORTED', `${src} is not a regular file`);
      }
      if (await linkOrSymlink(file, path.join(tmp, ent.name))) linked++;
      else symlinked++;
    }
    await fs.writeFile(path.join(tmp, instanceName), image.raw, { mode: 0o644 });
    await fs.writeFile(path.join(tmp, 'manifest.json'), list.raw, { mode: 0o644 });
    await publishDir(tmp, target, { what: 'merge target' });
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw fromSystemError(err, 'merging into', outDir);
  } finally {
    untrackTemp(tmp);
  }
  return { dir: target, listDigest: list.digest, imageDigest: image.digest, entry, linked, symlinked };
}

/** The list entry whose digest is `digest`, if any. */
export function findEntry(list: ManifestList, digest: string): Descriptor | undefined {
  return list.manifests.find((m) => m.digest === digest);
}

/** Hard-links `src` to `dst`; falls back to an absolute symlink when linking is impossible. */
async function linkOrSymlink(src: string, dst: string): Promise<boolean> {
  try {
    await fs.link(src, dst);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK' && code !== 'EACCES') throw err;
    await fs.symlink(src, dst);
    return false;
  }
}
