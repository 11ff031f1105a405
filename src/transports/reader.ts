/**
 * The reading side of every native transport: one small interface, {@link ImageReader}, that
 * `dir:`, `oci:` and `oci-archive:` readers implement, plus the helpers they share (resolving a
 * manifest list to the instance a copy would read, reading a manifest file or a config blob with
 * its size limit, and building a reader from a layout's manifest and blob files).
 *
 * A reader hands out one *image* (never a list): its parsed manifest with the raw bytes kept, its
 * config bytes (already verified against the manifest's config descriptor) and raw blob streams.
 * Blob streams are NOT verified by the reader; whoever copies them wraps them in
 * {@link DigestingStream} (the install writer does), so one pass both copies and verifies.
 */
import type { Readable } from 'node:stream';
import { OcikitError } from '../errors.js';
import { openRegularFileStream, readFileInside } from '../internal/fs.js';
import type { Digest } from '../model/digest.js';
import { DigestingStream, expectDigest } from '../model/verify.js';
import {
  MAX_MANIFEST_SIZE,
  manifestDigest,
  manifestTooLarge,
  parseManifest,
  type ImageManifest,
  type ParsedManifest,
} from '../model/manifest.js';
import type { Descriptor } from '../model/descriptor.js';
import { chooseInstance, type InstanceChoice } from '../model/platform.js';

/** The largest config blob accepted (c/image's `iolimits.MaxConfigBodySize`, 4 MiB). */
export const MAX_CONFIG_SIZE = 4 * 1024 * 1024;

/**
 * One image, opened for reading.
 * @category Transports
 */
export interface ImageReader {
  /** Where the image comes from, for messages and progress (e.g. `dir:/srv/img`). */
  readonly source: string;
  /** The image manifest, raw bytes kept (`manifest.raw`). */
  readonly manifest: ImageManifest;
  /** The config blob's bytes, verified against `manifest.config`. */
  readonly config: Buffer;
  /**
   * Opens a blob of this image as a raw, unverified stream.
   * @throws OcikitError `NOT_FOUND` when the blob is absent, `IO`.
   */
  openBlob(desc: Descriptor): Promise<Readable>;
  /**
   * The path of the blob's file when the reader has one on disk (lets a writer read it with
   * large positional reads); undefined when the blob is not a plain local file.
   */
  blobPath?(desc: Descriptor): string | undefined;
  /**
   * The image's signatures as stored (the `dir:` transport's `signature-N` files, in order);
   * absent for transports that cannot carry signatures.
   * @throws OcikitError `IO`.
   */
  signatures?(): Promise<readonly Buffer[]>;
  /** Releases what the reader holds (temporary extractions). Idempotent. */
  close(): Promise<void>;
}

/**
 * Reads a manifest file (an image manifest, a list, `index.json`) that must lie inside `root`, as
 * `readFileInside` reads it, refusing more than {@link MAX_MANIFEST_SIZE} bytes.
 * @param what names the file in messages, before its path.
 * @throws OcikitError `NOT_FOUND`, `UNSAFE_PATH`, `INVALID_INPUT` (not a regular file),
 *   `MANIFEST_TOO_LARGE`, `IO`.
 */
export function readManifestFile(root: string, file: string, what: string): Promise<Buffer> {
  return readFileInside(root, file, what, MAX_MANIFEST_SIZE, (size) => manifestTooLarge(`${what} ${file}`, size));
}

/**
 * Reads a whole small blob (a config) from `stream`, verifying its size and digest, and refusing
 * more than {@link MAX_CONFIG_SIZE} bytes.
 * @throws OcikitError `DIGEST_MISMATCH`, `INVALID_INPUT` (too large).
 */
export async function readVerifiedSmallBlob(stream: Readable, desc: Descriptor, what: string): Promise<Buffer> {
  if (desc.size > MAX_CONFIG_SIZE) {
    stream.destroy();
    throw new OcikitError(
      'INVALID_INPUT',
      `${what} ${desc.digest} is ${desc.size} bytes, more than the ${MAX_CONFIG_SIZE} accepted`,
    );
  }
  const check = new DigestingStream({ digest: desc.digest, size: desc.size }, what);
  const chunks: Buffer[] = [];
  stream.on('error', (e) => check.destroy(e));
  stream.pipe(check);
  for await (const c of check) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
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
  expectDigest(`${what}: instance manifest`, digest, manifestDigest(bytes));
  return parseManifest(bytes, `${what} instance ${digest}`);
}

/**
 * The {@link ImageReader} of `manifest` in a local layout whose blobs are plain files (a `dir:`
 * image, an OCI layout): `blobFile` names a blob's file, every blob opens as a regular file (a
 * final symlink, a FIFO or a directory is refused), and the config is read and verified now.
 * The reader holds nothing to release.
 * @param source names the image in messages and progress (`dir:/srv/img`).
 * @param extra what the layout has beyond blobs (the `dir:` transport's signatures).
 * @throws OcikitError reading the config: `NOT_FOUND`, `INVALID_INPUT`, `DIGEST_MISMATCH`, `IO`.
 */
export async function readerFromLayout(
  source: string,
  manifest: ImageManifest,
  blobFile: (digest: Digest) => string,
  extra: Pick<ImageReader, 'signatures'> = {},
): Promise<ImageReader> {
  const blobPath = (desc: Descriptor) => blobFile(desc.digest);
  const openBlob = (desc: Descriptor) => openRegularFileStream(blobPath(desc), `${source} blob`);
  const config = await readVerifiedSmallBlob(await openBlob(manifest.config), manifest.config, `${source} config`);
  return { source, manifest, config, openBlob, blobPath, ...extra, close: async () => {} };
}
