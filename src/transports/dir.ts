/**
 * The `dir:` transport of containers/image (formats.md §2): one image per directory, blobs named
 * by the bare hex of their sha256 digest, the top-level manifest in `manifest.json` (an image or a
 * list), instance manifests of a list in `<hex>.manifest.json`, and a `version` file holding
 * exactly `Directory Transport Version: 1.1\n`.
 *
 * This module knows the names and reads such a directory as an {@link ImageReader}. Writing is
 * done by the install writer (`install-native.ts`) and the fetch cache with the path helpers here.
 * As in c/image, `version` is optional for reading, and an instance manifest read from
 * `<hex>.manifest.json` must have the manifest digest `<hex>` names.
 */
import { constants as fsc } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { OcikitError, fromSystemError } from '../errors.js';
import { digestHex, parseDigest, type Digest } from '../digest.js';
import { readFileInside } from '../internal/fs.js';
import { MAX_MANIFEST_SIZE, manifestDigest, parseManifest, type Descriptor, type ImageManifest, type ParsedManifest } from '../manifest.js';
import { chooseInstance, readVerifiedSmallBlob, type ImageReader, type InstanceChoice } from './image.js';

/** The exact content of a `dir:` image's `version` file (33 bytes), as skopeo 1.9.3 writes it. */
export const DIR_VERSION = 'Directory Transport Version: 1.1\n';

/** Read-ahead used for blob streams (large reads are much faster than the 64 KiB default). */
export const BLOB_READ_CHUNK = 1024 * 1024;

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

async function readManifestFile(dir: string, file: string): Promise<Buffer> {
  return readFileInside(dir, file, 'dir: manifest', MAX_MANIFEST_SIZE, (size) =>
    new OcikitError('MANIFEST_TOO_LARGE', `manifest ${file} is ${size} bytes, more than ${MAX_MANIFEST_SIZE}`),
  );
}

/**
 * Opens a regular file for streaming, refusing a final symlink and anything that is not a file.
 * @throws OcikitError `NOT_FOUND`, `INVALID_INPUT`, `IO`.
 */
export async function openRegularFileStream(file: string, what: string): Promise<Readable> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  } catch (err) {
    throw fromSystemError(err, what, file);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new OcikitError('INVALID_INPUT', `${what} ${file} is not a regular file`);
  } catch (err) {
    await fh.close();
    throw fromSystemError(err, what, file);
  }
  return fh.createReadStream({ highWaterMark: BLOB_READ_CHUNK });
}

/**
 * Resolves a parsed top-level manifest to the image a copy would read: an image manifest as it is,
 * or the instance of a list chosen by `choice`, read with `readInstance` and verified to have the
 * digest the list names.
 * @throws OcikitError `UNSUPPORTED` (schema 1), `DIGEST_MISMATCH`, `NOT_FOUND`, `INVALID_MANIFEST`.
 */
export async function resolveImageManifest(
  top: ParsedManifest,
  choice: InstanceChoice,
  what: string,
  readInstance: (digest: Digest) => Promise<Buffer>,
): Promise<ImageManifest> {
  let m: ParsedManifest = top;
  if (top.kind === 'list') {
    const entry = chooseInstance(top, choice, what);
    m = await readInstanceVerified(entry.digest, what, readInstance);
  } else if (choice.instance !== undefined && top.digest !== choice.instance) {
    m = await readInstanceVerified(choice.instance, what, readInstance);
  }
  if (m.kind === 'schema1') {
    throw new OcikitError('UNSUPPORTED', `${what}: Docker schema 1 manifests are not supported (${m.digest})`);
  }
  if (m.kind === 'list') {
    throw new OcikitError('UNSUPPORTED', `${what}: nested manifest list ${m.digest} is not supported`);
  }
  return m;
}

async function readInstanceVerified(
  digest: Digest,
  what: string,
  readInstance: (digest: Digest) => Promise<Buffer>,
): Promise<ParsedManifest> {
  const bytes = await readInstance(digest);
  const actual = manifestDigest(bytes);
  if (actual !== digest) {
    throw new OcikitError('DIGEST_MISMATCH', `${what}: instance manifest has digest ${actual}, not the requested ${digest}`, {
      expected: digest,
      actual,
    });
  }
  return parseManifest(bytes, `${what} instance ${digest}`);
}

/**
 * Opens the `dir:` image at `dir`. When `manifest.json` is a list, the instance chosen by
 * `opts.instance` (or `opts.platform`, default the host platform) is read from
 * `<hex>.manifest.json` and its digest verified. The config blob is read and verified.
 * @throws OcikitError `NOT_FOUND`, `INVALID_MANIFEST`, `MANIFEST_TOO_LARGE`, `DIGEST_MISMATCH`,
 *   `UNSUPPORTED` (schema 1), `INVALID_INPUT`, `IO`.
 */
export async function openDirImage(dir: string, opts: InstanceChoice = {}): Promise<ImageReader> {
  const what = `dir:${dir}`;
  const top = parseManifest(await readManifestFile(dir, dirManifestPath(dir)), `${what} manifest.json`);
  const manifest = await resolveImageManifest(top, opts, what, (d) => readManifestFile(dir, dirInstanceManifestPath(dir, d)));
  const openBlob = (desc: Descriptor) => openRegularFileStream(dirBlobPath(dir, desc.digest), `${what} blob`);
  const config = await readVerifiedSmallBlob(await openBlob(manifest.config), manifest.config, `${what} config`);
  return {
    source: what,
    manifest,
    config,
    openBlob,
    blobPath: (desc) => dirBlobPath(dir, desc.digest),
    // A plain image's signatures are `signature-N`; an instance read out of a list has its own,
    // `<hex>.signature-N` (the top-level ones sign the list).
    signatures: () => readDirSignatures(dir, top.kind === 'list' || top.digest !== manifest.digest ? `${digestHex(manifest.digest)}.` : ''),
    close: async () => {},
  };
}

/**
 * Reads the signatures `<prefix>signature-1`, `-2`, … of a `dir:` image, stopping at the first
 * missing number as containers/image does.
 * @throws OcikitError `IO`.
 */
export async function readDirSignatures(dir: string, prefix = ''): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let n = 1; ; n++) {
    const file = path.join(dir, `${prefix}signature-${n}`);
    try {
      out.push(await fs.readFile(file));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out;
      throw fromSystemError(err, 'reading signature', file);
    }
  }
}
