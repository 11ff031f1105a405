/**
 * The `dir:` transport of containers/image (`directory/directory_transport.go`): one image per
 * directory, blobs named by the bare hex of their sha256 digest, the top-level manifest in
 * `manifest.json` (an image or a list), instance manifests of a list in `<hex>.manifest.json`,
 * signatures in `signature-N`, and a `version` file holding exactly
 * `Directory Transport Version: 1.1\n`.
 *
 * This module reads such a directory as an {@link ImageReader}; `write.ts` beside it writes one.
 * As in containers/image (`directory/directory_src.go`), `version` is optional for reading, and an
 * instance manifest read from `<hex>.manifest.json` must have the manifest digest `<hex>` names.
 */
import { statSync } from 'node:fs';
import * as path from 'node:path';
import { OcikitError, fromSystemError, isOcikitError } from '../../errors.js';
import { readNamedFile } from '../../internal/fs.js';
import { digestHex, parseDigest, type Digest } from '../../model/digest.js';
import { parseManifest, type ImageManifest, type ParsedManifest } from '../../model/manifest.js';
import { readManifestFile, readerFromLayout, resolveImageManifest, type ImageReader } from '../reader.js';
import type { InstanceChoice } from '../../model/platform.js';

/** The exact content of a `dir:` image's `version` file (33 bytes), as skopeo 1.9.3 writes it. */
export const DIR_VERSION = 'Directory Transport Version: 1.1\n';

/** The path of the blob `digest` in the `dir:` image at `dir` (`<dir>/<hex>`). */
export function dirBlobPath(dir: string, digest: Digest): string {
  return path.join(dir, digestHex(parseDigest(digest, 'blob digest')));
}

/** The path of an instance manifest in a `dir:` holding a list (`<dir>/<hex>.manifest.json`). */
export function dirInstanceManifestPath(dir: string, digest: Digest): string {
  return path.join(dir, `${digestHex(parseDigest(digest, 'instance digest'))}.manifest.json`);
}

/** The path of the top-level manifest (`<dir>/manifest.json`). */
export function dirManifestPath(dir: string): string {
  return path.join(dir, 'manifest.json');
}

/** The path of the version file (`<dir>/version`). */
export function dirVersionPath(dir: string): string {
  return path.join(dir, 'version');
}

const readManifest = (dir: string, file: string) => readManifestFile(dir, file, 'dir: manifest');

/**
 * Options of {@link openDirImage}.
 * @category Transports
 */
export interface DirImageOptions extends InstanceChoice {
  /**
   * `manifest.json` of the image, already read and parsed (e.g. by `resolveContainersInput`); it
   * is then not read again.
   */
  readonly manifest?: ParsedManifest | undefined;
}

/**
 * The image manifest a copy of the `dir:` image at `dir` reads, given its parsed `manifest.json`
 * `top`: `top` itself when it is an image, else the instance `choice` picks (default: the host
 * platform's), read from `<hex>.manifest.json` and verified to have the digest the list names.
 * Blobs and the config are not read.
 * @throws OcikitError `NOT_FOUND`, `INVALID_MANIFEST`, `MANIFEST_TOO_LARGE`, `DIGEST_MISMATCH`,
 *   `UNSUPPORTED` (schema 1, nested lists), `IO`.
 */
export async function resolveDirManifest(
  dir: string,
  top: ParsedManifest,
  choice: InstanceChoice = {},
): Promise<ImageManifest> {
  return resolveImageManifest(top, choice, `dir:${dir}`, (d) => readManifest(dir, dirInstanceManifestPath(dir, d)));
}

/**
 * Opens the `dir:` image at `dir`. When `manifest.json` is a list, the instance chosen by
 * `opts.instance` (or `opts.platform`, default the host platform) is read from
 * `<hex>.manifest.json` and its digest verified. The config blob is read and verified.
 * @throws OcikitError `NOT_FOUND`, `INVALID_MANIFEST`, `MANIFEST_TOO_LARGE`, `DIGEST_MISMATCH`,
 *   `UNSUPPORTED` (schema 1), `INVALID_INPUT`, `IO`.
 * @category Transports
 */
export async function openDirImage(dir: string, opts: DirImageOptions = {}): Promise<ImageReader> {
  const what = `dir:${dir}`;
  const top = opts.manifest ?? parseManifest(await readManifest(dir, dirManifestPath(dir)), `${what} manifest.json`);
  const manifest = await resolveDirManifest(dir, top, opts);
  // A plain image's signatures are `signature-N`; an instance read out of a list has its own,
  // `<hex>.signature-N` (the top-level ones sign the list).
  const prefix = top.kind === 'list' || top.digest !== manifest.digest ? `${digestHex(manifest.digest)}.` : '';
  return readerFromLayout(what, manifest, (d) => dirBlobPath(dir, d), {
    signatures: () => readDirSignatures(dir, prefix),
  });
}

/** A signature file larger than this is not one (simple-signing and sigstore files are a few KiB). */
export const MAX_SIGNATURE_FILE = 16 * 1024 * 1024;

/**
 * Reads the signatures `<prefix>signature-1`, `-2`, … of a `dir:` image, stopping at the first
 * missing number as containers/image does. Each must be a regular file (a FIFO is refused, never
 * waited on) of at most {@link MAX_SIGNATURE_FILE} bytes. This is the one reader of `signature-N`
 * files: install carries what it returns, and the trust code decodes it
 * (`trust/signature-files.ts`).
 * @throws OcikitError `INVALID_INPUT` (not a regular file, too large), `IO`.
 */
export async function readDirSignatures(dir: string, prefix = ''): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let n = 1; ; n++) {
    const file = path.join(dir, `${prefix}signature-${n}`);
    try {
      out.push(await readNamedFile(file, 'signature', { maxBytes: MAX_SIGNATURE_FILE }));
    } catch (err) {
      if (isOcikitError(err, 'NOT_FOUND')) return out;
      throw err;
    }
  }
}

/**
 * Reads and parses `<dir>/manifest.json` of a `dir:` image: a regular file inside the image
 * directory, within the manifest size limit, a valid manifest.
 * @throws OcikitError `NOT_FOUND`, `UNSAFE_PATH`, `INVALID_INPUT`, `INVALID_MANIFEST`, `MANIFEST_TOO_LARGE`.
 * @category Transports
 */
export async function readDirManifest(key: string, dir: string): Promise<ParsedManifest> {
  const what = `dir image ${key}`;
  try {
    // Synchronous, as readManifestFile's calls are (internal/fs.ts readFileInside says why).
    const st = statSync(dir);
    if (!st.isDirectory()) throw new OcikitError('INVALID_INPUT', `${what}: ${dir} is not a directory`);
  } catch (err) {
    throw fromSystemError(err, what, dir);
  }
  const file = path.join(dir, 'manifest.json');
  const bytes = await readManifestFile(dir, file, `${what} manifest`);
  return parseManifest(bytes, `${what} (${file})`);
}
