/**
 * Deterministic `dir:` images for golden-output tests: the same bytes on every run and every
 * machine (no randomness, no compression), so a writer's output can be compared with a digest
 * recorded once. Blob sizes are chosen to hit every tar padding case (a multiple of 512, one
 * more, one less, one byte).
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** `n` bytes of a fixed pseudo-random sequence (a 32-bit LCG) started from `seed`. */
export function fixedBytes(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** What {@link writeFixedDirImage} wrote. */
export interface FixedImage {
  readonly dir: string;
  readonly manifest: Buffer;
  readonly manifestDigest: string;
  readonly configDigest: string;
  readonly layers: readonly { readonly digest: string; readonly size: number }[];
}

/**
 * Writes a fixed `dir:` image at `dir`: an OCI image (uncompressed tar media type) or a Docker
 * v2s2 one, with layers of `sizes` bytes made from `seed`.
 */
export async function writeFixedDirImage(
  dir: string,
  flavour: 'oci' | 'docker',
  seed: number,
  sizes: readonly number[] = [1, 511, 512, 513, 70_001],
): Promise<FixedImage> {
  const oci = flavour === 'oci';
  const layers = sizes.map((n, i) => fixedBytes(n, seed * 100 + i));
  const config = Buffer.from(
    JSON.stringify({
      created: '1970-01-01T00:00:00Z',
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: { 'ocikit.test': `fixed-${flavour}-${seed}` } },
      rootfs: { type: 'layers', diff_ids: layers.map(sha) },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify(
      {
        schemaVersion: 2,
        mediaType: oci
          ? 'application/vnd.oci.image.manifest.v1+json'
          : 'application/vnd.docker.distribution.manifest.v2+json',
        config: {
          mediaType: oci
            ? 'application/vnd.oci.image.config.v1+json'
            : 'application/vnd.docker.container.image.v1+json',
          digest: sha(config),
          size: config.length,
        },
        layers: layers.map((l) => ({
          mediaType: oci ? 'application/vnd.oci.image.layer.v1.tar' : 'application/vnd.docker.image.rootfs.diff.tar',
          digest: sha(l),
          size: l.length,
        })),
      },
      null,
      2,
    ),
  );
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'version'), 'Directory Transport Version: 1.1\n');
  await writeFile(join(dir, 'manifest.json'), manifest);
  await writeFile(join(dir, sha(config).slice(7)), config);
  for (const l of layers) await writeFile(join(dir, sha(l).slice(7)), l);
  return {
    dir,
    manifest,
    manifestDigest: sha(manifest),
    configDigest: sha(config),
    layers: layers.map((l) => ({ digest: sha(l), size: l.length })),
  };
}

/** One digest over a whole directory tree: sorted relative paths and each file's sha256. */
export async function treeDigest(dir: string): Promise<string> {
  const lines: string[] = [];
  const walk = async (rel: string) => {
    for (const e of (await readdir(join(dir, rel), { withFileTypes: true })).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    )) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        lines.push(`${r}/`);
        await walk(r);
      } else lines.push(`${r} ${sha(await readFile(join(dir, r)))}`);
    }
  };
  await walk('');
  return sha(Buffer.from(lines.join('\n')));
}
