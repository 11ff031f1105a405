// Generates an osbuild-style container input set for the inputs benchmark: N dir: images (small
// random blobs, valid OCI manifests), half of them with a manifest list, plus inputs.json.
// Usage: node bench/gen-inputs.mjs OUT_DIR [N]
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const sha = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export async function generate(out, n) {
  await rm(out, { recursive: true, force: true });
  const imagesPath = join(out, 'images');
  const listsPath = join(out, 'lists');
  await mkdir(imagesPath, { recursive: true });
  await mkdir(listsPath, { recursive: true });
  const archives = {};
  const files = {};
  for (let i = 0; i < n; i++) {
    const layer = randomBytes(256);
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Labels: { i: String(i) } },
        rootfs: { type: 'layers', diff_ids: [sha(layer)] },
      }),
    );
    const manifest = Buffer.from(
      JSON.stringify(
        {
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
          layers: [
            { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(layer), size: layer.length },
          ],
        },
        null,
        2,
      ),
    );
    const id = sha(config);
    const dir = join(imagesPath, id);
    await mkdir(dir);
    await writeFile(join(dir, 'version'), 'Directory Transport Version: 1.1\n');
    await writeFile(join(dir, 'manifest.json'), manifest);
    await writeFile(join(dir, id.slice(7)), config);
    await writeFile(join(dir, sha(layer).slice(7)), layer);
    archives[id] = { format: 'dir', name: `localhost/bench/img${i}:latest` };
    if (i % 2 === 0) {
      const list = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: [
            {
              mediaType: 'application/vnd.oci.image.manifest.v1+json',
              digest: sha(manifest),
              size: manifest.length,
              platform: { architecture: 'amd64', os: 'linux' },
            },
          ],
        }),
      );
      await writeFile(join(listsPath, sha(list)), list);
      files[sha(list)] = {};
    }
  }
  const inputs = {
    images: { path: imagesPath, data: { archives } },
    'manifest-lists': { path: listsPath, data: { files } },
  };
  await writeFile(join(out, 'inputs.json'), JSON.stringify(inputs, null, 2));
  return { imagesPath, inputs: join(out, 'inputs.json'), ids: Object.keys(archives) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = process.argv[2];
  if (!out) {
    console.error('usage: node bench/gen-inputs.mjs OUT_DIR [N]');
    process.exit(2);
  }
  const r = await generate(out, Number(process.argv[3] ?? 200));
  console.log(`wrote ${r.ids.length} images and ${r.inputs}`);
}
