/**
 * The osbuild source cache layout, the one module that knows its paths (osbuild's
 * `sources/org.osbuild.skopeo` and `org.osbuild.skopeo-index` name them so):
 *
 * - `<cache>/org.osbuild.containers/<image id>/image/`: a `dir:` image (`version`, `manifest.json`
 *   with the registry's exact bytes, blobs named by bare hex);
 * - `<cache>/org.osbuild.files/<list digest>`: a manifest list's exact bytes;
 * - `<cache>/.tmp-fetch-XXXXXX/`: one run's staging directory, where entries are written before
 *   they are published (same file system, so publishing is a rename or a link); its name names
 *   its owner (`internal/ownership.ts`), so that a later run can tell it from a killed run's.
 *
 * An entry exists only once it is complete: it is published with `internal/publish.ts`, which never
 * replaces. The cache is content-addressed, so an entry that appeared meanwhile (a concurrent run
 * finished first) is kept, and the staged copy dropped.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fromSystemError } from '../errors.js';
import { trackTemp, untrackTemp } from '../internal/cleanup.js';
import { createOwnedTempDir, sweepStale } from '../internal/ownership.js';
import { type PublishResult, publishDir, publishFile } from '../internal/publish.js';
import { type Digest, digestHex, parseDigest } from '../model/digest.js';
import type { ImageItem, ListItem } from './sources.js';

/** The cache's subdirectories (osbuild's source cache names). */
export const IMAGES_CACHE = 'org.osbuild.containers';
export const FILES_CACHE = 'org.osbuild.files';

/** The name prefix of a run's staging directory in the cache. */
export const STAGING_PREFIX = '.tmp-fetch-';

/** The cache entry directory of image `id` (`<cache>/org.osbuild.containers/<id>/image`). */
export function cachedImagePath(cacheDir: string, id: Digest): string {
  return path.join(cacheDir, IMAGES_CACHE, parseDigest(id, 'image ID'), 'image');
}

/** The cache file of list `digest` (`<cache>/org.osbuild.files/<digest>`). */
export function cachedListPath(cacheDir: string, digest: Digest): string {
  return path.join(cacheDir, FILES_CACHE, parseDigest(digest, 'list digest'));
}

/** The cache path of a registry item: its image directory or its list file. */
export function cachedItemPath(cacheDir: string, item: ImageItem | ListItem): string {
  return item.kind === 'image' ? cachedImagePath(cacheDir, item.id) : cachedListPath(cacheDir, item.id);
}

/** A run's staging directory and the names inside it. */
export interface CacheStaging {
  /** `<cache>/.tmp-fetch-XXXXXX`. */
  readonly dir: string;
  /** Where a downloaded blob is kept for the run (`<dir>/blobs/<hex>`), linked into each image. */
  blobFile(digest: Digest): string;
  /** Where image `id` is written (`<dir>/image-<hex>`); not created. */
  imageDir(id: Digest): string;
  /** Where list `digest` is written (`<dir>/list-<hex>`). */
  listFile(digest: Digest): string;
}

/**
 * Creates the cache (if missing) and a fresh staging directory in it, owned by this process and
 * registered for removal if the process is interrupted. Staging directories that killed runs left
 * in the cache are removed first (`internal/ownership.ts`: only those whose owner is provably
 * dead; a concurrent run's is never touched).
 * @throws OcikitError `NOT_FOUND`, `NO_SPACE`, `IO`.
 */
export async function createStaging(cacheDir: string): Promise<CacheStaging> {
  try {
    await fs.mkdir(cacheDir, { recursive: true });
  } catch (err) {
    throw fromSystemError(err, 'creating the cache', cacheDir);
  }
  await sweepStale(cacheDir, STAGING_PREFIX);
  const dir = await createOwnedTempDir(cacheDir, STAGING_PREFIX);
  trackTemp(dir);
  const blobs = path.join(dir, 'blobs');
  try {
    await fs.mkdir(blobs);
  } catch (err) {
    await removeStaging({ dir });
    throw fromSystemError(err, 'creating', blobs);
  }
  return {
    dir,
    blobFile: (digest) => path.join(blobs, digestHex(digest)),
    imageDir: (id) => path.join(dir, `image-${digestHex(id)}`),
    listFile: (digest) => path.join(dir, `list-${digestHex(digest)}`),
  };
}

/** Removes a staging directory and whatever is left in it (best effort). */
export async function removeStaging(staging: Pick<CacheStaging, 'dir'>): Promise<void> {
  await fs.rm(staging.dir, { recursive: true, force: true }).catch(() => undefined);
  untrackTemp(staging.dir);
}

async function publishEntry(
  staged: string,
  target: string,
  publish: typeof publishFile,
  what: string,
): Promise<PublishResult> {
  const parent = path.dirname(target);
  try {
    await fs.mkdir(parent, { recursive: true });
  } catch (err) {
    throw fromSystemError(err, 'creating', parent);
  }
  return publish(staged, target, { existing: 'keep', what });
}

/**
 * Publishes the complete, synced image directory `staged` as the entry of image `id`. An entry
 * that exists already is kept (`existed`) and `staged` removed.
 * @throws OcikitError `IO`, `NOT_FOUND`.
 */
export function publishImageEntry(cacheDir: string, id: Digest, staged: string): Promise<PublishResult> {
  return publishEntry(staged, cachedImagePath(cacheDir, id), publishDir, `cache entry of image ${id}`);
}

/**
 * Publishes the complete, synced list file `staged` as the entry of list `digest`. An entry that
 * exists already is kept (`existed`) and `staged` removed.
 * @throws OcikitError `IO`, `NOT_FOUND`.
 */
export function publishListEntry(cacheDir: string, digest: Digest, staged: string): Promise<PublishResult> {
  return publishEntry(staged, cachedListPath(cacheDir, digest), publishFile, `cache entry of list ${digest}`);
}
