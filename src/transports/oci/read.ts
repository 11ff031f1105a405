/**
 * The OCI image layout and the `oci:` transport (image-spec `image-layout.md`; containers/image
 * `oci/layout/oci_src.go`): a directory with `oci-layout`, `index.json` and content-addressed
 * `blobs/<alg>/<hex>`, read the way containers/image's `oci/layout` source reads it (the rules
 * are in the TSDoc of {@link openOciLayout}; see also docs/transports.md). Every manifest read
 * from `blobs/` is verified against the digest and size of the descriptor that named it.
 *
 * Like c/image, the reader never reads `oci-layout`. `write.ts` beside it writes a layout; the
 * constants both sides share are here.
 */
import * as path from 'node:path';
import { OcikitError } from '../../errors.js';
import { digestHex, isDigest, parseDigest, type Digest } from '../../model/digest.js';
import { verifyBytes } from '../../model/verify.js';
import { DOCKER_LIST, DOCKER_V2S2, OCI_INDEX, OCI_MANIFEST } from '../../model/media-types.js';
import { parseManifest } from '../../model/manifest.js';
import type { InstanceChoice } from '../../model/platform.js';
import { readManifestFile, readerFromLayout, resolveImageManifest, type ImageReader } from '../reader.js';

/**
 * The `oci-layout` file ocikit writes: the form skopeo 1.9.3 (c/image < 5.29) writes, with a
 * space, so a native layout is byte-identical to skopeo's. Readers must parse it, not compare it.
 */
export const OCI_LAYOUT_FILE = '{"imageLayoutVersion": "1.0.0"}';

/** The annotation that names an image in `index.json`. */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

/** The path of blob `digest` in the layout at `dir` (`<dir>/blobs/sha256/<hex>`). */
export function ociBlobPath(dir: string, digest: Digest): string {
  return path.join(dir, 'blobs', 'sha256', digestHex(parseDigest(digest, 'blob digest')));
}

/**
 * How to pick the image in a layout.
 * @category Transports
 */
export interface OciLayoutOptions extends InstanceChoice {
  /** The `org.opencontainers.image.ref.name` to look for. */
  readonly ref?: string;
  /** A zero-based index into `index.json`'s `manifests` (cannot be combined with `ref`). */
  readonly index?: number;
}

/** One entry of `index.json`, as much of it as resolution needs. */
export interface IndexEntry {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly annotations: Readonly<Record<string, string>>;
}

const RESOLVABLE = new Set<string>([OCI_MANIFEST, OCI_INDEX, DOCKER_V2S2, DOCKER_LIST]);

/**
 * Parses `index.json` bytes into its entries (unknown media types are kept, as the spec requires).
 * @throws OcikitError `INVALID_INPUT` when it is not an index with a `manifests` array of descriptors.
 */
export function parseIndexJson(bytes: Uint8Array, what: string): IndexEntry[] {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new OcikitError('INVALID_INPUT', `${what} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const manifests = (doc as { manifests?: unknown } | null)?.manifests;
  if (typeof doc !== 'object' || doc === null || !Array.isArray(manifests)) {
    throw new OcikitError('INVALID_INPUT', `${what} has no "manifests" array`);
  }
  return manifests.map((m: unknown, i): IndexEntry => {
    const d = m as { mediaType?: unknown; digest?: unknown; size?: unknown; annotations?: unknown } | null;
    if (typeof d !== 'object' || d === null)
      throw new OcikitError('INVALID_INPUT', `${what}: manifests[${i}] is not an object`);
    if (!isDigest(d.digest))
      throw new OcikitError(
        'INVALID_INPUT',
        `${what}: manifests[${i}].digest ${JSON.stringify(d.digest)} is not a sha256 digest`,
      );
    if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
      throw new OcikitError('INVALID_INPUT', `${what}: manifests[${i}].size ${JSON.stringify(d.size)} is not a size`);
    }
    // Object.fromEntries keeps every name as an own key (`__proto__` too).
    const annotations: Record<string, string> =
      typeof d.annotations === 'object' && d.annotations !== null
        ? Object.fromEntries(Object.entries(d.annotations).filter(([, v]) => typeof v === 'string'))
        : {};
    return {
      mediaType: typeof d.mediaType === 'string' ? d.mediaType : '',
      digest: d.digest,
      size: d.size,
      annotations,
    };
  });
}

/**
 * Picks the `index.json` entry an `oci:` reference names (rules at {@link openOciLayout}).
 * @throws OcikitError `NOT_FOUND` (no such name, empty index, index out of range), `INVALID_INPUT`
 *   (several images and no reference), `UNSUPPORTED` (the name matches only unsupported types), `USAGE`.
 */
export function resolveIndexEntry(entries: readonly IndexEntry[], opts: OciLayoutOptions, what: string): IndexEntry {
  if (opts.ref !== undefined && opts.ref !== '' && opts.index !== undefined) {
    throw new OcikitError('USAGE', `${what}: a reference name and an index cannot be combined`);
  }
  if (opts.index !== undefined) {
    const e = entries[opts.index];
    if (!Number.isSafeInteger(opts.index) || opts.index < 0 || e === undefined) {
      throw new OcikitError(
        'NOT_FOUND',
        `${what}: index ${opts.index} is too large, only ${entries.length} entries available`,
      );
    }
    return e;
  }
  if (opts.ref === undefined || opts.ref === '') {
    if (entries.length === 1) return entries[0]!;
    if (entries.length === 0) throw new OcikitError('NOT_FOUND', `${what}: index.json lists no image`);
    throw new OcikitError(
      'INVALID_INPUT',
      `${what}: more than one image in the layout (${entries.length}); choose one by reference name`,
    );
  }
  const named = entries.filter((e) => e.annotations[REF_NAME_ANNOTATION] === opts.ref);
  const hit = named.find((e) => RESOLVABLE.has(e.mediaType));
  if (hit) return hit;
  if (named.length > 0) {
    throw new OcikitError(
      'UNSUPPORTED',
      `${what}: reference ${JSON.stringify(opts.ref)} matches unsupported manifest media types (${named.map((e) => e.mediaType).join(', ')})`,
    );
  }
  throw new OcikitError('NOT_FOUND', `${what}: no descriptor found for reference ${JSON.stringify(opts.ref)}`);
}

async function readManifestBlob(dir: string, digest: Digest, size: number | undefined, what: string): Promise<Buffer> {
  const file = ociBlobPath(dir, digest);
  const bytes = await readManifestFile(dir, file, `${what} manifest`);
  verifyBytes(bytes, { digest, size }, `${what}: manifest blob ${digest}`);
  return bytes;
}

/**
 * Opens one image of the OCI layout at `dir`, resolved the way containers/image's `oci/layout`
 * source does:
 * - no reference: `index.json` must hold exactly one entry;
 * - a reference `REF` (`opts.ref`): the first entry whose `org.opencontainers.image.ref.name`
 *   annotation equals it and whose media type is an OCI manifest/index or a Docker v2s2
 *   manifest/list; when only entries of other types carry the name the error is `UNSUPPORTED`;
 * - `@N` (an index into `manifests`, c/image ≥ 5.34) as {@link OciLayoutOptions.index}.
 *
 * When the entry is a list, the instance for `opts.instance` / `opts.platform` (default: host) is used.
 * Every manifest read from `blobs/` is verified against its descriptor's digest and size.
 * @throws OcikitError `NOT_FOUND`, `INVALID_INPUT`, `UNSUPPORTED`, `DIGEST_MISMATCH`,
 *   `INVALID_MANIFEST`, `MANIFEST_TOO_LARGE`, `IO`.
 * @category Transports
 */
export async function openOciLayout(dir: string, opts: OciLayoutOptions = {}, label?: string): Promise<ImageReader> {
  const what = label ?? `oci:${dir}${opts.ref ? `:${opts.ref}` : ''}`;
  const indexBytes = await readManifestFile(dir, path.join(dir, 'index.json'), `${what} index.json`);
  const entry = resolveIndexEntry(parseIndexJson(indexBytes, `${what} index.json`), opts, what);
  const top = parseManifest(
    await readManifestBlob(dir, entry.digest, entry.size, what),
    `${what} manifest ${entry.digest}`,
  );
  const manifest = await resolveImageManifest(top, opts, what, (d) => readManifestBlob(dir, d, undefined, what));
  return readerFromLayout(what, manifest, (d) => ociBlobPath(dir, d));
}
