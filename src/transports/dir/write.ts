/**
 * Writing a `dir:` image, as containers/image's `directory/directory_dest.go` lays it out: blobs
 * named by the hex of their digest, `manifest.json`, `signature-1…N`, and the `version` file. The
 * same writer serves `install` (a `dir` destination) and the fetch cache (`org.osbuild.containers/
 * <id>/image`), so both produce byte-identical layouts.
 *
 * The writer fills a directory that nobody else sees yet (a temporary sibling or a run's staging
 * directory); making it visible is the caller's job, through `internal/publish.ts`. With
 * `sync: true` every file and the directory are fsynced before {@link finishDirImage} returns, as
 * skopeo's `dir:` destination does on commit.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fromSystemError } from '../../errors.js';
import { writeNewFile } from '../../internal/fs.js';
import { syncPath } from '../../internal/publish.js';
import type { Digest } from '../../model/digest.js';
import { DIR_VERSION, dirBlobPath, dirManifestPath, dirVersionPath } from './read.js';

/** Options of the `dir:` writer. */
export interface DirWriteOptions {
  /** fsync every file written and the directory itself (the fetch cache: true). */
  readonly sync?: boolean | undefined;
}

/** The path of the n-th signature (`<dir>/signature-<n>`, n from 1). */
export function dirSignaturePath(dir: string, n: number): string {
  return path.join(dir, `signature-${n}`);
}

/**
 * Creates the empty image directory `dir` (mode 0755). Its parent must exist; `dir` must not.
 * @throws OcikitError `NOT_FOUND`, `IO`.
 */
export async function createDirImage(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { mode: 0o755 });
  } catch (err) {
    throw fromSystemError(err, 'creating', dir);
  }
}

/**
 * Creates the blob file for `digest` in `dir` and lets `fill` write it (the caller verifies what it
 * writes).
 * @throws OcikitError `IO`; and what `fill` throws.
 */
export async function writeDirBlob(
  dir: string,
  digest: Digest,
  fill: (fh: fs.FileHandle) => Promise<unknown>,
): Promise<void> {
  await writeNewFile(dirBlobPath(dir, digest), fill);
}

/**
 * Adds an already verified blob file to `dir` by a hard link, or by a copy where links are not
 * possible (another file system).
 * @throws OcikitError `IO`.
 */
export async function linkDirBlob(dir: string, digest: Digest, file: string): Promise<void> {
  const dest = dirBlobPath(dir, digest);
  try {
    await fs.link(file, dest);
  } catch {
    try {
      await fs.copyFile(file, dest, fs.constants.COPYFILE_EXCL);
    } catch (err) {
      throw fromSystemError(err, 'writing', dest);
    }
  }
}

/** What {@link finishDirImage} writes besides the blobs. */
export interface DirImageMetadata {
  /** The exact bytes of `manifest.json`. */
  readonly manifest: Uint8Array;
  /** Signatures, written as `signature-1`, `signature-2`, … in this order. */
  readonly signatures?: readonly Uint8Array[] | undefined;
}

/**
 * Writes `manifest.json`, the signatures and `version` into `dir`, then (with `sync`) fsyncs the
 * metadata files and the directory. The blobs must be in place already.
 * @throws OcikitError `IO`.
 */
export async function finishDirImage(dir: string, meta: DirImageMetadata, opts: DirWriteOptions = {}): Promise<void> {
  const files: [string, Uint8Array | string][] = [[dirManifestPath(dir), meta.manifest]];
  for (const [i, sig] of (meta.signatures ?? []).entries()) files.push([dirSignaturePath(dir, i + 1), sig]);
  files.push([dirVersionPath(dir), DIR_VERSION]);
  for (const [file, data] of files) {
    await writeNewFile(file, async (fh) => {
      await fh.writeFile(data);
      if (opts.sync) await fh.sync();
    });
  }
  if (opts.sync) await syncPath(dir);
}
