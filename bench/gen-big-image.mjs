#!/usr/bin/env node
// Generates the image of the install and fetch benchmarks (bench/install-native.mjs,
// bench/fetch.mjs) as a skopeo `dir:` image, deterministically, with Node only:
//   N layers (default 3), each a tar holding one file `data/blob<i>.bin` of SIZE MiB (default 100)
//   of AES-128-CTR keystream (incompressible, fixed key per layer), fixed tar metadata, gzip level 1;
//   an OCI config and manifest; `version`, `manifest.json`, and blobs named by bare hex.
// Usage: node bench/gen-big-image.mjs OUT_DIR [--size-mb 100] [--layers 3] [--seed S] [--shape LIST]
// (--seed S: different bytes for a different S, so several distinct images can be made;
//  --shape LIST: the layers' sizes in MiB instead, `SIZExCOUNT` repeating one, e.g. the
//  bootc-shaped `160,16x8,0.5x55` of bench/fetch.mjs: 64 layers, as a chunked bootc image has)
// Prints one JSON line: {dir, manifestDigest, configDigest, bytes, layers}.
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { createGzip } from 'node:zlib';

const args = process.argv.slice(2);
const out = args[0];
if (!out) {
  console.error('usage: gen-big-image.mjs OUT_DIR [--size-mb N] [--layers N]');
  process.exit(2);
}
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i > 0 ? Number(args[i + 1]) : dflt;
};
const sizeMiB = opt('--size-mb', 100);
const nLayers = opt('--layers', 3);
const seedAt = args.indexOf('--seed');
const seed = seedAt > 0 ? String(args[seedAt + 1]) : '';
const shapeAt = args.indexOf('--shape');
const sizes =
  shapeAt > 0
    ? String(args[shapeAt + 1])
        .split(',')
        .flatMap((part) => {
          const [mib, count = '1'] = part.split('x');
          return Array.from({ length: Number(count) }, () => Math.round(Number(mib) * 1024 * 1024));
        })
    : Array.from({ length: nLayers }, () => Math.round(sizeMiB * 1024 * 1024));
if (sizes.length === 0 || sizes.some((n) => !Number.isInteger(n) || n <= 0)) {
  console.error('gen-big-image.mjs: --shape wants sizes in MiB like 160,16x8,0.5x55');
  process.exit(2);
}

function tarHeader(name, fileSize, dir) {
  const b = Buffer.alloc(512);
  b.write(name, 0);
  const oct = (off, width, v) => b.write(`${v.toString(8).padStart(width - 1, '0')}\0`, off, 'latin1');
  oct(100, 8, dir ? 0o755 : 0o644);
  oct(108, 8, 0);
  oct(116, 8, 0);
  oct(124, 12, fileSize);
  oct(136, 12, 0);
  b[156] = dir ? 0x35 : 0x30;
  b.write('ustar\u000000', 257, 'latin1');
  b.fill(0x20, 148, 156);
  let s = 0;
  for (const x of b) s += x;
  b.write(`${s.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return b;
}

async function makeLayer(i, size, tmpFile) {
  const diff = createHash('sha256');
  const blob = createHash('sha256');
  let blobSize = 0;
  const gz = createGzip({ level: 1, chunkSize: 1 << 20 });
  const file = createWriteStream(tmpFile);
  gz.on('data', (c) => {
    blob.update(c);
    blobSize += c.length;
  });
  gz.pipe(file);
  const put = async (buf) => {
    diff.update(buf);
    if (!gz.write(buf)) await once(gz, 'drain');
  };
  await put(tarHeader('data/', 0, true));
  await put(tarHeader(`data/blob${i}.bin`, size, false));
  // Deterministic incompressible bytes: AES-128-CTR keystream, key derived from the layer number.
  const key = createHash('sha256').update(`${seed}layer${i}`).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(1 << 20);
  for (let left = size; left > 0; left -= zeros.length) {
    await put(cipher.update(left >= zeros.length ? zeros : zeros.subarray(0, left)));
  }
  const pad = (512 - (size % 512)) % 512;
  await put(Buffer.alloc(pad + 1024)); // padding + end-of-archive
  gz.end();
  await once(file, 'finish');
  return { digest: `sha256:${blob.digest('hex')}`, size: blobSize, diffID: `sha256:${diff.digest('hex')}` };
}

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
const layers = [];
for (let i = 1; i <= sizes.length; i++) {
  const tmp = join(out, `layer${i}.tmp`);
  const l = await makeLayer(i, sizes[i - 1], tmp);
  await rename(tmp, join(out, l.digest.slice(7)));
  layers.push(l);
}
const config = Buffer.from(
  JSON.stringify({
    created: '1970-01-01T00:00:00Z',
    architecture: 'amd64',
    os: 'linux',
    config: {},
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) },
    history: layers.map((_, i) => ({ created: '1970-01-01T00:00:00Z', created_by: `layer ${i + 1}` })),
  }),
);
const sha = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const manifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
    layers: layers.map((l) => ({
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: l.digest,
      size: l.size,
    })),
  }),
);
await writeFile(join(out, sha(config).slice(7)), config);
await writeFile(join(out, 'manifest.json'), manifest);
await writeFile(join(out, 'version'), 'Directory Transport Version: 1.1\n');
console.log(
  JSON.stringify({
    dir: out,
    manifestDigest: sha(manifest),
    configDigest: sha(config),
    bytes: layers.reduce((a, l) => a + l.size, 0) + config.length,
    layers: layers.map((l) => l.digest),
  }),
);
