/**
 * Images for the deploy tests: USTAR layers written entry by entry, compressed as the test says
 * (gzip by zlib, zstd by the real `zstd` binary, skippable frames by hand), packed as a `dir:`
 * image under an osbuild-style images input (`<path>/<image id>/`), with the config's diff_ids
 * computed or overridden.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { TAR_END, tarPadding, ustarHeader } from '../../src/internal/tar/ustar.js';

export const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** One entry of {@link ustarLayer}: a file with `body`, or a directory when `name` ends with `/`. */
export interface TestEntry {
  readonly name: string;
  readonly body?: string | Buffer;
  readonly mode?: number;
}

/** A tar of `entries` (USTAR, Go's layout), ending with the two zero blocks, plus `padding` zero bytes. */
export function ustarLayer(entries: readonly TestEntry[], padding = 0): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const dir = e.name.endsWith('/');
    const body = Buffer.from(e.body ?? '');
    parts.push(
      ustarHeader({
        name: e.name,
        type: dir ? 'dir' : 'file',
        size: dir ? 0 : body.length,
        mode: e.mode ?? (dir ? 0o755 : 0o644),
        mtime: 1_600_000_000,
      }),
    );
    if (!dir) parts.push(body, tarPadding(body.length));
  }
  parts.push(TAR_END, Buffer.alloc(padding));
  return Buffer.concat(parts);
}

/** `zstd -c` of `data` (one frame). */
export function zstdOf(data: Buffer): Buffer {
  return execFileSync('zstd', ['-q', '-c'], { input: data, maxBuffer: 1 << 28 });
}

/** A zstd skippable frame (RFC 8878 §3.1.2) with magic nibble `n` and `content`. */
export function skippableFrame(content: Buffer, n = 0): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(0x184d2a50 + n, 0);
  head.writeUInt32LE(content.length, 4);
  return Buffer.concat([head, content]);
}

export const gzipOf = (data: Buffer) => gzipSync(data);

/** One layer of {@link writeDeployImage}. */
export interface TestLayer {
  /** The blob as stored. */
  readonly blob: Buffer;
  /** The uncompressed tar (its digest is the DiffID unless `diffId` says otherwise). */
  readonly tar: Buffer;
  readonly mediaType?: string;
  readonly urls?: readonly string[];
  /** The DiffID the config states. */
  readonly diffId?: string;
  /** The descriptor's digest and size (default: the blob's). */
  readonly digest?: string;
  readonly size?: number;
  /** Leave the blob file out (a foreign layer not in the input). */
  readonly omit?: boolean;
}

/** What {@link writeDeployImage} wrote. */
export interface DeployImage {
  /** The osbuild images input (`path` + `data.archives`). */
  readonly inputs: { images: { path: string; data: { archives: Record<string, { format: string; name: string }> } } };
  readonly dir: string;
  readonly imageId: string;
  readonly manifestDigest: string;
}

/**
 * Writes a `dir:` image of `layers` under `root/images/<image id>` and returns its inputs.
 * @param opts.docker a Docker v2s2 manifest (layer types default to Docker's gzip type).
 */
export async function writeDeployImage(
  root: string,
  layers: readonly TestLayer[],
  opts: { docker?: boolean; diffIds?: readonly string[]; name?: string } = {},
): Promise<DeployImage> {
  const docker = opts.docker === true;
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: opts.diffIds ?? layers.map((l) => l.diffId ?? sha(l.tar)) },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: docker
        ? 'application/vnd.docker.distribution.manifest.v2+json'
        : 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: docker
          ? 'application/vnd.docker.container.image.v1+json'
          : 'application/vnd.oci.image.config.v1+json',
        digest: sha(config),
        size: config.length,
      },
      layers: layers.map((l) => ({
        mediaType:
          l.mediaType ??
          (docker
            ? 'application/vnd.docker.image.rootfs.diff.tar.gzip'
            : 'application/vnd.oci.image.layer.v1.tar+gzip'),
        digest: l.digest ?? sha(l.blob),
        size: l.size ?? l.blob.length,
        ...(l.urls ? { urls: l.urls } : {}),
      })),
    }),
  );
  const imageId = sha(config);
  const images = join(root, 'images');
  const dir = join(images, imageId);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'version'), 'Directory Transport Version: 1.1\n');
  await writeFile(join(dir, 'manifest.json'), manifest);
  await writeFile(join(dir, imageId.slice(7)), config);
  for (const l of layers) if (!l.omit) await writeFile(join(dir, (l.digest ?? sha(l.blob)).slice(7)), l.blob);
  return {
    inputs: {
      images: {
        path: images,
        data: { archives: { [imageId]: { format: 'dir', name: opts.name ?? 'test/deploy:1' } } },
      },
    },
    dir,
    imageId,
    manifestDigest: sha(manifest),
  };
}

/** A gzip layer of `entries` (the usual case). */
export function gzLayer(entries: readonly TestEntry[]): TestLayer {
  const tar = ustarLayer(entries);
  return { tar, blob: gzipOf(tar) };
}
