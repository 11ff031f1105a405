/**
 * A generator of small, real container images for tests: valid gzip'd tar layers with random
 * content, an OCI or Docker config and manifest, written as a skopeo `dir:` image; and manifest
 * lists over such images. Everything skopeo and podman accept, made without any network.
 */
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';

export type Flavour = 'oci' | 'docker';

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

/** What {@link makeDirImage} wrote. */
export interface GeneratedImage {
  readonly dir: string;
  readonly manifest: Buffer;
  /** sha256 of the manifest bytes (the manifest digest). */
  readonly manifestDigest: string;
  readonly config: Buffer;
  /** The image ID: sha256 of the config. */
  readonly configDigest: string;
  readonly layers: readonly { digest: string; size: number; diffID: string; bytes: Buffer }[];
  readonly mediaType: string;
  readonly platform: Platform;
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Builds an uncompressed tar holding `files` (name → content), with fixed metadata. */
export async function makeTar(files: Record<string, Buffer | string>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((res, rej) => {
    pack.on('end', () => res());
    pack.on('error', rej);
  });
  for (const [name, content] of Object.entries(files)) {
    const body = typeof content === 'string' ? Buffer.from(content) : content;
    await new Promise<void>((res, rej) =>
      pack.entry({ name, size: body.length, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 }, body, (e) =>
        e ? rej(e) : res(),
      ),
    );
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Options for {@link buildImage}. */
export interface ImageOptions {
  flavour?: Flavour;
  platform?: Platform;
  /** Number of layers (default 1). */
  layers?: number;
  /** Bytes of random content per layer (default 64). */
  layerSize?: number;
  /** Extra text put into the config (to vary image IDs). */
  label?: string;
}

/** Builds an image in memory: layer blobs, config, manifest. */
export async function buildImage(opts: ImageOptions = {}) {
  const flavour = opts.flavour ?? 'oci';
  const platform = opts.platform ?? { architecture: 'amd64', os: 'linux' };
  const layers = [];
  for (let i = 0; i < (opts.layers ?? 1); i++) {
    const raw = await makeTar({ [`file${i}.bin`]: randomBytes(opts.layerSize ?? 64) });
    const gz = gzipSync(raw);
    layers.push({ digest: sha(gz), size: gz.length, diffID: sha(raw), bytes: gz });
  }
  const configObj: Record<string, unknown> = {
    created: '1970-01-01T00:00:00Z',
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { Labels: { 'ocikit.test': opts.label ?? randomBytes(4).toString('hex') } },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) },
    history: layers.map((_, i) => ({ created: '1970-01-01T00:00:00Z', created_by: `layer ${i}` })),
  };
  const config = Buffer.from(JSON.stringify(configObj));
  const oci = flavour === 'oci';
  const mediaType = oci
    ? 'application/vnd.oci.image.manifest.v1+json'
    : 'application/vnd.docker.distribution.manifest.v2+json';
  const manifestObj = {
    schemaVersion: 2,
    mediaType,
    config: {
      mediaType: oci ? 'application/vnd.oci.image.config.v1+json' : 'application/vnd.docker.container.image.v1+json',
      digest: sha(config),
      size: config.length,
    },
    layers: layers.map((l) => ({
      mediaType: oci
        ? 'application/vnd.oci.image.layer.v1.tar+gzip'
        : 'application/vnd.docker.image.rootfs.diff.tar.gzip',
      digest: l.digest,
      size: l.size,
    })),
  };
  const manifest = Buffer.from(JSON.stringify(manifestObj, null, 2));
  return { manifest, manifestDigest: sha(manifest), config, configDigest: sha(config), layers, mediaType, platform };
}

/** Writes a skopeo `dir:` image (blobs by bare hex, manifest.json, version) at `dir`. */
export async function makeDirImage(dir: string, opts: ImageOptions = {}): Promise<GeneratedImage> {
  const img = await buildImage(opts);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'version'), 'Directory Transport Version: 1.1\n');
  await writeFile(join(dir, 'manifest.json'), img.manifest);
  await writeFile(join(dir, img.configDigest.slice(7)), img.config);
  for (const l of img.layers) await writeFile(join(dir, l.digest.slice(7)), l.bytes);
  return { dir, ...img };
}

/** Builds a manifest list (OCI index or Docker list) over `images`, pretty-printed. */
export function makeList(
  images: readonly Pick<GeneratedImage, 'manifest' | 'manifestDigest' | 'mediaType' | 'platform'>[],
  flavour: Flavour = 'oci',
) {
  const list = {
    schemaVersion: 2,
    mediaType:
      flavour === 'oci'
        ? 'application/vnd.oci.image.index.v1+json'
        : 'application/vnd.docker.distribution.manifest.list.v2+json',
    manifests: images.map((i) => ({
      mediaType: i.mediaType,
      digest: i.manifestDigest,
      size: i.manifest.length,
      platform: i.platform,
    })),
  };
  const bytes = Buffer.from(JSON.stringify(list, null, 2));
  return { bytes, digest: sha(bytes) };
}

/**
 * Writes a `dir:` image of a list at `dir`: the list as `manifest.json`, each image's manifest as
 * `<hex>.manifest.json` and its blobs (skopeo's layout of `copy --multi-arch all` into `dir:`).
 */
export async function writeListDir(
  dir: string,
  list: { readonly bytes: Buffer },
  images: readonly Pick<GeneratedImage, 'dir' | 'manifest' | 'manifestDigest'>[],
): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'version'), 'Directory Transport Version: 1.1\n');
  await writeFile(join(dir, 'manifest.json'), list.bytes);
  for (const i of images) {
    await writeFile(join(dir, `${i.manifestDigest.slice(7)}.manifest.json`), i.manifest);
    for (const f of await readdir(i.dir)) if (/^[0-9a-f]{64}$/.test(f)) await copyFile(join(i.dir, f), join(dir, f));
  }
}
