#!/usr/bin/env node
/**
 * Generates the bundled sample of `npm run sample`: a few small, real container images laid out
 * as the inputs of osbuild's org.osbuild.skopeo stage, without any network and without the test
 * helpers (only node:crypto, node:zlib and tar-stream).
 *
 *   node scripts/make-sample.mjs OUT_DIR
 *
 * OUT_DIR (created; must be absent or empty) receives:
 *   images/<image id>/         three skopeo `dir:` images (blobs by hex, manifest.json, version):
 *                              "hello"   Docker v2s2, the host's architecture;
 *                              "multi"   OCI, the host's architecture, with a manifest list;
 *                              "foreign" OCI, a foreign architecture (arm64, or amd64 on arm64
 *                                        hosts), with its own manifest list;
 *   images/archive.tar         an oci-archive ("archive", OCI, the host's architecture);
 *   manifest-lists/<digest>    the two lists (an OCI index and a Docker manifest list), each also
 *                              naming an instance that is not part of the sample, as lists do;
 *   push/{hello,multi,foreign}/ the same images for a registry (what `npm run sample` pushes to
 *                              the loopback registry it starts): `hello` a dir: image, `multi`
 *                              and `foreign` dir: lists with every instance (skopeo's layout of
 *                              `copy --multi-arch all`: the list as manifest.json, instances as
 *                              <hex>.manifest.json, all blobs);
 *   inputs.json                the stage inputs, with paths relative to OUT_DIR;
 *   options-containers-storage.json, options-oci.json   stage options.
 *
 * The output is deterministic: contents come from a seeded generator, tar headers have fixed
 * metadata, so the same host architecture always gives the same bytes and digests.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';

const sha256 = (bytes) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const hex = (digest) => digest.slice('sha256:'.length);

/** `n` pseudo-random bytes derived from `seed` (sha256 in counter mode). */
function seededBytes(seed, n) {
  const out = Buffer.alloc(n);
  for (let off = 0, i = 0; off < n; i++) {
    const block = createHash('sha256').update(`${seed}/${i}`).digest();
    off += block.copy(out, off);
  }
  return out;
}

/** The host platform in Go's names (what skopeo picks from a list by default). */
export function hostPlatform() {
  const arch = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'arm',
    ia32: '386',
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
  }[process.arch];
  return { architecture: arch ?? process.arch, os: 'linux' };
}

/** A platform that is not the host's. */
export function foreignPlatform() {
  return hostPlatform().architecture === 'arm64'
    ? { architecture: 'amd64', os: 'linux' }
    : { architecture: 'arm64', os: 'linux', variant: 'v8' };
}

/** Packs `entries` ([name, bytes] or [name, null] for a directory) into a tar with fixed metadata. */
async function packTar(entries) {
  const pack = tar.pack();
  const chunks = [];
  pack.on('data', (c) => chunks.push(c));
  const ended = new Promise((res, rej) => {
    pack.on('end', res);
    pack.on('error', rej);
  });
  for (const [name, body] of entries) {
    const header = { name, mtime: new Date(0), uid: 0, gid: 0, uname: 'root', gname: 'root' };
    await new Promise((res, rej) => {
      const cb = (err) => (err ? rej(err) : res());
      if (body === null) pack.entry({ ...header, type: 'directory', mode: 0o755 }, cb);
      else pack.entry({ ...header, size: body.length, mode: 0o644 }, body, cb);
    });
  }
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

/** Builds one image in memory: gzip'd tar layers, config, manifest (exact bytes kept). */
async function buildImage({ name, flavour, platform, layers }) {
  const oci = flavour === 'oci';
  const built = [];
  for (let i = 0; i < layers; i++) {
    const raw = await packTar([
      ['etc/', null],
      ['etc/ocikit-sample/', null],
      [
        `etc/ocikit-sample/${name}-${i}.txt`,
        Buffer.from(`ocikit sample image "${name}", layer ${i}, ${platform.os}/${platform.architecture}\n`),
      ],
      [`etc/ocikit-sample/${name}-${i}.bin`, seededBytes(`${name}/${platform.architecture}/${i}`, 2048 * (i + 1))],
    ]);
    const gz = gzipSync(raw, { level: 9 });
    built.push({ bytes: gz, digest: sha256(gz), diffID: sha256(raw) });
  }
  const config = Buffer.from(
    JSON.stringify({
      created: '2024-01-01T00:00:00Z',
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: { Cmd: ['/bin/true'], Labels: { 'org.opencontainers.image.title': `ocikit sample ${name}` } },
      rootfs: { type: 'layers', diff_ids: built.map((l) => l.diffID) },
      history: built.map((_, i) => ({
        created: '2024-01-01T00:00:00Z',
        created_by: `ocikit make-sample ${name} layer ${i}`,
      })),
    }),
  );
  const mediaType = oci
    ? 'application/vnd.oci.image.manifest.v1+json'
    : 'application/vnd.docker.distribution.manifest.v2+json';
  const manifest = Buffer.from(
    JSON.stringify(
      {
        schemaVersion: 2,
        mediaType,
        config: {
          mediaType: oci
            ? 'application/vnd.oci.image.config.v1+json'
            : 'application/vnd.docker.container.image.v1+json',
          digest: sha256(config),
          size: config.length,
        },
        layers: built.map((l) => ({
          mediaType: oci
            ? 'application/vnd.oci.image.layer.v1.tar+gzip'
            : 'application/vnd.docker.image.rootfs.diff.tar.gzip',
          digest: l.digest,
          size: l.bytes.length,
        })),
      },
      null,
      3,
    ),
  );
  return {
    name,
    platform,
    mediaType,
    manifest,
    manifestDigest: sha256(manifest),
    config,
    configDigest: sha256(config),
    layers: built,
  };
}

/** A manifest list over `images` (OCI index or Docker list). */
function buildList(images, flavour) {
  const bytes = Buffer.from(
    JSON.stringify(
      {
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
      },
      null,
      3,
    ),
  );
  return { bytes, digest: sha256(bytes) };
}

/** Writes `img` as a skopeo dir: image. */
async function writeDirImage(dir, img) {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'version'), 'Directory Transport Version: 1.1\n');
  await writeFile(join(dir, 'manifest.json'), img.manifest);
  await writeFile(join(dir, hex(img.configDigest)), img.config);
  for (const l of img.layers) await writeFile(join(dir, hex(l.digest)), l.bytes);
}

/** Writes `list` over `imgs` as a skopeo dir: list with every instance (see the header). */
async function writeListDir(dir, list, imgs) {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'version'), 'Directory Transport Version: 1.1\n');
  await writeFile(join(dir, 'manifest.json'), list.bytes);
  for (const img of imgs) {
    await writeFile(join(dir, `${hex(img.manifestDigest)}.manifest.json`), img.manifest);
    await writeFile(join(dir, hex(img.configDigest)), img.config);
    for (const l of img.layers) await writeFile(join(dir, hex(l.digest)), l.bytes);
  }
}

/** Writes `img` as an oci-archive whose index names it `ref`. */
async function writeOciArchive(file, img, ref) {
  const index = {
    schemaVersion: 2,
    manifests: [
      {
        mediaType: img.mediaType,
        digest: img.manifestDigest,
        size: img.manifest.length,
        annotations: { 'org.opencontainers.image.ref.name': ref },
      },
    ],
  };
  const blobs = [
    [img.configDigest, img.config],
    [img.manifestDigest, img.manifest],
    ...img.layers.map((l) => [l.digest, l.bytes]),
  ].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const bytes = await packTar([
    ['blobs/', null],
    ['blobs/sha256/', null],
    ...blobs.map(([d, b]) => [`blobs/sha256/${hex(d)}`, b]),
    ['index.json', Buffer.from(JSON.stringify(index))],
    ['oci-layout', Buffer.from('{"imageLayoutVersion": "1.0.0"}')],
  ]);
  await writeFile(file, bytes);
}

/** The image names the sample installs. */
export const SAMPLE_NAMES = {
  hello: 'localhost/ocikit-sample/hello:latest',
  multi: 'localhost/ocikit-sample/multi:latest',
  foreign: 'localhost/ocikit-sample/foreign:latest',
  archive: 'localhost/ocikit-sample/archive:latest',
};

/**
 * Generates the sample into `out` (see the header) and returns what it wrote:
 * `{out, images: [{name, format, key, imageId, manifestDigest, listDigest, platform}]}`.
 */
export async function makeSample(out) {
  out = resolve(out);
  await mkdir(out, { recursive: true });
  if ((await readdir(out)).length > 0) throw new Error(`${out} is not empty`);
  const host = hostPlatform();
  const foreign = foreignPlatform();

  const hello = await buildImage({ name: 'hello', flavour: 'docker', platform: host, layers: 1 });
  const multi = await buildImage({ name: 'multi', flavour: 'oci', platform: host, layers: 2 });
  const multiOther = await buildImage({ name: 'multi', flavour: 'oci', platform: foreign, layers: 2 });
  const foreignImg = await buildImage({ name: 'foreign', flavour: 'oci', platform: foreign, layers: 1 });
  const foreignOther = await buildImage({ name: 'foreign', flavour: 'oci', platform: host, layers: 1 });
  const archive = await buildImage({ name: 'archive', flavour: 'oci', platform: host, layers: 1 });
  const multiList = buildList([multi, multiOther], 'oci');
  const foreignList = buildList([foreignOther, foreignImg], 'docker');

  const images = join(out, 'images');
  const lists = join(out, 'manifest-lists');
  await mkdir(images, { recursive: true });
  await mkdir(lists, { recursive: true });
  for (const img of [hello, multi, foreignImg]) await writeDirImage(join(images, img.configDigest), img);
  await writeOciArchive(join(images, 'archive.tar'), archive, SAMPLE_NAMES.archive);
  for (const l of [multiList, foreignList]) await writeFile(join(lists, l.digest), l.bytes);
  await writeDirImage(join(out, 'push', 'hello'), hello);
  await writeListDir(join(out, 'push', 'multi'), multiList, [multi, multiOther]);
  await writeListDir(join(out, 'push', 'foreign'), foreignList, [foreignOther, foreignImg]);

  const archives = {
    [hello.configDigest]: { format: 'dir', name: SAMPLE_NAMES.hello },
    [multi.configDigest]: { format: 'dir', name: SAMPLE_NAMES.multi },
    [foreignImg.configDigest]: { format: 'dir', name: SAMPLE_NAMES.foreign },
    'archive.tar': { format: 'oci-archive', name: SAMPLE_NAMES.archive },
  };
  const inputs = {
    images: { path: 'images', data: { archives } },
    'manifest-lists': { path: 'manifest-lists', data: { files: { [multiList.digest]: {}, [foreignList.digest]: {} } } },
  };
  await writeFile(join(out, 'inputs.json'), `${JSON.stringify(inputs, null, 2)}\n`);
  await writeFile(
    join(out, 'options-containers-storage.json'),
    `${JSON.stringify({ destination: { type: 'containers-storage', 'storage-path': '/var/lib/containers/storage', 'storage-driver': 'vfs' } }, null, 2)}\n`,
  );
  await writeFile(
    join(out, 'options-oci.json'),
    `${JSON.stringify({ destination: { type: 'oci', path: '/usr/share/containers/oci' } }, null, 2)}\n`,
  );

  const describe = (img, format, key, list) => ({
    name: SAMPLE_NAMES[img.name],
    format,
    key,
    imageId: img.configDigest,
    manifestDigest: img.manifestDigest,
    listDigest: list ? list.digest : null,
    platform: img.platform,
  });
  return {
    out,
    images: [
      describe(hello, 'dir', hello.configDigest, null),
      describe(multi, 'dir', multi.configDigest, multiList),
      describe(foreignImg, 'dir', foreignImg.configDigest, foreignList),
      describe(archive, 'oci-archive', 'archive.tar', null),
    ],
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const out = process.argv[2];
  if (!out || process.argv.length > 3 || out.startsWith('-')) {
    process.stderr.write('usage: node scripts/make-sample.mjs OUT_DIR\n');
    process.exit(2);
  }
  try {
    const sample = await makeSample(out);
    process.stdout.write(`${JSON.stringify(sample, null, 2)}\n`);
  } catch (err) {
    process.stderr.write(`make-sample: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
