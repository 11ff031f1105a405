/**
 * Planning a native install: from the images' readers to what the destination will hold, before
 * a byte is copied. Docker v2s2 images bound for an OCI layout are converted as skopeo converts
 * them (`model/convert.ts`); every name is checked to be an oci reference and to name one image;
 * blobs are deduplicated (a shared layer is copied once, counted for the first image that has
 * it); layers with `urls` (foreign layers) are referenced, not copied, into `oci`/`oci-archive`,
 * as containers/image does.
 */
import { OcikitError } from '../errors.js';
import type { Digest } from '../model/digest.js';
import { DOCKER_V2S2, OCI_MANIFEST } from '../model/media-types.js';
import { guessMediaType } from '../model/manifest.js';
import type { Descriptor } from '../model/descriptor.js';
import { convertDockerToOci } from '../model/convert.js';
import { distinctBlobs } from '../model/verify.js';
import { isValidOciRef } from '../transports/reference.js';
import type { ImageReader } from '../transports/reader.js';

/**
 * The destination types written natively.
 * @category Install
 */
export type LayoutType = 'oci' | 'oci-archive' | 'dir';

/**
 * One image to install.
 * @category Install
 */
export interface InstallItem {
  /** The open source image (e.g. from {@link openDirImage} or {@link openOciLayout}); the caller closes it. */
  readonly reader: ImageReader;
  /** The image name, with a domain (e.g. `localhost/foo:latest`); the ref name in oci layouts. */
  readonly name: string;
}

/** Where a blob's bytes come from: held in memory (manifests, configs) or read from an image. */
export type BlobSource =
  | { readonly kind: 'bytes'; readonly bytes: Buffer }
  | { readonly kind: 'reader'; readonly reader: ImageReader; readonly desc: Descriptor; readonly owner: number };

/** One blob the destination holds. */
export interface PlannedBlob {
  readonly digest: Digest;
  readonly size: number;
  readonly source: BlobSource;
}

/** One image the destination holds. */
export interface PlannedImage {
  /** Index of the item this image came from. */
  readonly item: number;
  readonly name: string;
  /** The manifest bytes as written. */
  readonly manifest: Buffer;
  readonly manifestDigest: Digest;
  readonly manifestMediaType: string;
  readonly configDigest: Digest;
  /** Bytes of the blobs read from this item's reader (its share of the copy). */
  readonly total: number;
}

/** What a native install writes. */
export interface LayoutPlan {
  /** One per distinct item; an item repeating an earlier name and image is folded into it. */
  readonly images: readonly PlannedImage[];
  /** Every blob once. */
  readonly blobs: ReadonlyMap<Digest, PlannedBlob>;
}

/**
 * Plans the install of `items` into a destination of `type` (rules in the module header).
 * @throws OcikitError `INVALID_INPUT` (a name that is not an oci reference, one name for two
 *   images), `UNSUPPORTED` (a manifest type an OCI layout cannot hold), `INVALID_MANIFEST` (a
 *   manifest giving one blob digest two sizes, refused as fetch refuses it).
 */
export function planLayout(items: readonly InstallItem[], type: LayoutType): LayoutPlan {
  const blobs = new Map<Digest, PlannedBlob>();
  const images: PlannedImage[] = [];
  const byName = new Map<string, Digest>();
  const add = (digest: Digest, size: number, source: BlobSource) => {
    if (!blobs.has(digest)) blobs.set(digest, { digest, size, source });
  };
  items.forEach((item, owner) => {
    const m = item.reader.manifest;
    distinctBlobs([m.config, ...m.layers], `${item.reader.source} manifest`);
    let manifest = m.raw;
    let manifestDigest = m.digest;
    let config = item.reader.config;
    let configDigest = m.config.digest;
    let layers = m.layers;
    if (type !== 'dir') {
      if (!isValidOciRef(item.name)) {
        throw new OcikitError(
          'INVALID_INPUT',
          `image name ${JSON.stringify(item.name)} cannot be an oci reference name (c/image grammar C(/C)*, C = A(S A)*, A = [A-Za-z0-9]+, S = [-._:@+] or --)`,
        );
      }
      if (m.mediaType === DOCKER_V2S2) {
        const c = convertDockerToOci(m, config);
        manifest = c.manifest;
        manifestDigest = c.manifestDigest;
        config = c.config;
        configDigest = c.configDigest;
        layers = c.layers;
      } else if (m.mediaType !== OCI_MANIFEST) {
        throw new OcikitError(
          'UNSUPPORTED',
          `${item.reader.source}: manifest type ${m.mediaType} cannot be written to an OCI layout`,
        );
      }
      const seen = byName.get(item.name);
      if (seen !== undefined && seen !== manifestDigest) {
        throw new OcikitError(
          'INVALID_INPUT',
          `image name ${item.name} is given for two different images (${seen}, ${manifestDigest})`,
        );
      }
      if (seen !== undefined) return;
      byName.set(item.name, manifestDigest);
      add(manifestDigest, manifest.length, { kind: 'bytes', bytes: manifest });
    }
    add(configDigest, config.length, { kind: 'bytes', bytes: config });
    let total = 0;
    const counted = new Set<Digest>();
    for (const l of layers) {
      if (type !== 'dir' && l.urls && l.urls.length > 0) continue; // foreign layer: referenced, not copied
      // The layer descriptor of the *source* manifest names the bytes to read.
      add(l.digest, l.size, { kind: 'reader', reader: item.reader, desc: l, owner });
      const b = blobs.get(l.digest)!;
      if (!counted.has(l.digest) && b.source.kind === 'reader' && b.source.owner === owner) total += l.size;
      counted.add(l.digest);
    }
    images.push({
      item: owner,
      name: item.name,
      manifest,
      manifestDigest,
      manifestMediaType: type === 'dir' ? m.mediaType : guessMediaType(manifest),
      configDigest,
      total,
    });
  });
  return { images, blobs };
}

/**
 * The signatures to write: for `dir`, the one image's; for an OCI layout, none, and a signed
 * image is refused, as skopeo refuses it ("Pushing signatures for OCI images is not supported").
 * @throws OcikitError `UNSUPPORTED`, `IO`.
 */
export async function signaturesFor(items: readonly InstallItem[], type: LayoutType): Promise<readonly Buffer[]> {
  for (const item of items) {
    const sigs = (await item.reader.signatures?.()) ?? [];
    if (sigs.length === 0) continue;
    if (type === 'dir') return sigs;
    throw new OcikitError(
      'UNSUPPORTED',
      `${item.reader.source} (${item.name}) carries ${sigs.length} signature(s), which an ${type} destination cannot store; set remove-signatures to install it without them`,
    );
  }
  return [];
}
