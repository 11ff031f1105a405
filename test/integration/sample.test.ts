/**
 * The bundled sample (scripts/make-sample.mjs) and the main job (scripts/sample.mjs, what
 * `npm run sample` runs), as whole processes.
 */
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { resolveContainersInput } from '../../src/osbuild/inputs.js';
import { rebasePaths } from '../../src/cli/command.js';
import { runTool } from '../../src/internal/exec.js';
import { tempDir } from '../helpers/tmp.js';
import { runNode } from '../helpers/process.js';
import { needTool } from '../helpers/tools.js';

const SCRIPTS = fileURLToPath(new URL('../../../scripts/', import.meta.url));

interface SampleImage {
  name: string;
  format: string;
  key: string;
  imageId: string;
  manifestDigest: string;
  listDigest: string | null;
  platform: { architecture: string; os: string; variant?: string };
}

function node(args: string[], env: Record<string, string> = {}) {
  return runNode(args, { env });
}

async function makeSample(out: string): Promise<SampleImage[]> {
  const r = await node([join(SCRIPTS, 'make-sample.mjs'), out]);
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as { images: SampleImage[] }).images;
}

async function hashTree(dir: string, rel = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const ent of await readdir(join(dir, rel), { withFileTypes: true })) {
    const r = join(rel, ent.name);
    if (ent.isDirectory()) Object.assign(out, await hashTree(dir, r));
    else
      out[r] = createHash('sha256')
        .update(await readFile(join(dir, r)))
        .digest('hex');
  }
  return out;
}

const HOST_ARCH = process.arch === 'arm64' ? 'arm64' : 'amd64';

describe('make-sample.mjs', () => {
  it('writes inputs ocikit resolves: three dir images (two with lists) and an oci-archive', async (t) => {
    const out = join(await tempDir(t), 'sample');
    const images = await makeSample(out);
    const inputs = JSON.parse(await readFile(join(out, 'inputs.json'), 'utf8')) as unknown;
    const resolved = await resolveContainersInput(rebasePaths(inputs, out));
    assert.deepEqual(
      resolved.map((r) => [r.format, r.name, r.list?.digest ?? null]),
      images.map((i) => [i.format, i.name, i.listDigest]),
    );
    for (const r of resolved.filter((x) => x.format === 'dir')) {
      const m = r.manifest;
      assert.ok(m?.kind === 'image');
      assert.equal(m.config.digest, r.key, 'dir images are keyed by image ID, as osbuild does');
    }
    assert.equal(images.filter((i) => i.listDigest).length, 2);
    const foreign = images.filter((i) => i.platform.architecture !== HOST_ARCH);
    assert.equal(foreign.length, 1);
    assert.ok(foreign[0]!.listDigest, 'the foreign-architecture image comes with its list');
  });

  it('is deterministic: two runs give the same bytes', async (t) => {
    const root = await tempDir(t);
    await makeSample(join(root, 'a'));
    await makeSample(join(root, 'b'));
    assert.deepEqual(await hashTree(join(root, 'a')), await hashTree(join(root, 'b')));
  });

  it('makes images skopeo reads, with the IDs and digests it reports', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const out = join(await tempDir(t), 'sample');
    const images = await makeSample(out);
    for (const i of images) {
      const ref =
        i.format === 'dir' ? `dir:${join(out, 'images', i.key)}` : `oci-archive:${join(out, 'images', i.key)}`;
      const raw = (await runTool(['skopeo', 'inspect', '--raw', ref])).stdout;
      assert.equal(`sha256:${createHash('sha256').update(raw).digest('hex')}`, i.manifestDigest, ref);
      const info = JSON.parse((await runTool(['skopeo', 'inspect', ref])).stdout.toString()) as {
        Architecture: string;
      };
      assert.equal(info.Architecture, i.platform.architecture);
    }
  });

  it('refuses a non-empty output directory', async (t) => {
    const root = await tempDir(t);
    await makeSample(join(root, 's'));
    const r = await node([join(SCRIPTS, 'make-sample.mjs'), join(root, 's')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /not empty/);
  });
});

describe('sample.mjs (npm run sample)', () => {
  const podmanArgs = (work: string) => [
    'podman',
    '--root',
    join(work, 'tree/var/lib/containers/storage'),
    '--runroot',
    join(work, 'run'),
    '--storage-driver',
    'vfs',
  ];

  it('serves the sample from a loopback registry and embeds it with one ocikit embed, lists and a foreign arch kept', async (t) => {
    if (!needTool(t, 'skopeo', 'podman', 'docker-registry')) return;
    const root = await tempDir(t);
    const work = join(root, 'work');
    const r = await node([join(SCRIPTS, 'sample.mjs'), '--workdir', work], { TMPDIR: root });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /» docker-registry on 127\.0\.0\.1:\d+: pushing the sample/);
    assert.match(r.stdout, /» ocikit embed --tree /);
    assert.match(r.stdout, /Embedded 3 images \(.*\) into containers-storage at \/var\/lib\/containers\/storage/);
    assert.ok(r.stdout.includes(`The tree is ${join(work, 'tree')}`));
    const names = [
      'localhost/ocikit-sample/hello:latest',
      'localhost/ocikit-sample/multi:latest',
      'localhost/ocikit-sample/foreign:latest',
    ];
    const inspected = JSON.parse(
      (await runTool([...podmanArgs(work), 'image', 'inspect', ...names])).stdout.toString(),
    ) as { RepoTags: string[]; Architecture: string; RepoDigests: string[] }[];
    assert.deepEqual(
      inspected.map((i) => i.RepoTags[0]),
      names,
    );
    assert.deepEqual(
      inspected.map((i) => i.Architecture),
      [HOST_ARCH, HOST_ARCH, HOST_ARCH === 'arm64' ? 'amd64' : 'arm64'],
    );
    // the image IDs are the bundled sample's, and the two lists' digests are kept
    const made = await makeSample(join(root, 'again'));
    const byName = new Map(made.map((i) => [i.name, i]));
    for (const [k, i] of inspected.entries()) {
      const want = byName.get(names[k]!)!;
      assert.equal(`sha256:${(i as unknown as { Id: string }).Id}`, want.imageId, names[k]);
      if (want.listDigest)
        assert.ok(
          i.RepoDigests.some((d) => d.endsWith(`@${want.listDigest}`)),
          names[k],
        );
    }
    assert.deepEqual(
      await readdir(root).then((d) => d.filter((x) => x.startsWith('ocikit-'))),
      [],
      'no temporary file left, the registry stopped and removed',
    );
  });

  it('with --install, runs ocikit install on the osbuild-style inputs (no registry)', async (t) => {
    if (!needTool(t, 'skopeo', 'podman')) return;
    const root = await tempDir(t);
    const work = join(root, 'work');
    const r = await node([join(SCRIPTS, 'sample.mjs'), '--install', '--workdir', work], { TMPDIR: root });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /Installed 4 images into containers-storage at .*\(driver vfs\)/);
    const sample = JSON.parse(await readFile(join(work, 'sample', 'inputs.json'), 'utf8')) as {
      images: { data: { archives: Record<string, { name: string }> } };
    };
    const names = Object.values(sample.images.data.archives).map((a) => a.name);
    const inspected = JSON.parse(
      (await runTool([...podmanArgs(work), 'image', 'inspect', ...names])).stdout.toString(),
    ) as { RepoTags: string[]; Architecture: string }[];
    assert.deepEqual(inspected.map((i) => i.RepoTags[0]).sort(), [...names].sort());
    assert.deepEqual(
      inspected.map((i) => i.Architecture).sort(),
      [HOST_ARCH, HOST_ARCH, HOST_ARCH, HOST_ARCH === 'arm64' ? 'amd64' : 'arm64'].sort(),
    );
  });

  it('embeds into an oci layout with --dest oci', async (t) => {
    if (!needTool(t, 'skopeo', 'docker-registry')) return;
    const root = await tempDir(t);
    const work = join(root, 'work');
    const r = await node([join(SCRIPTS, 'sample.mjs'), '--dest', 'oci', '--workdir', work], { TMPDIR: root });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /Embedded 3 images \(.*\) into oci at \/usr\/share\/containers\/oci/);
    const index = JSON.parse(await readFile(join(work, 'tree/usr/share/containers/oci/index.json'), 'utf8')) as {
      manifests: unknown[];
    };
    assert.equal(index.manifests.length, 3);
    const info = JSON.parse(
      (
        await runTool([
          'skopeo',
          'inspect',
          `oci:${join(work, 'tree/usr/share/containers/oci')}:localhost/ocikit-sample/foreign:latest`,
        ])
      ).stdout.toString(),
    ) as { Architecture: string };
    assert.equal(info.Architecture, HOST_ARCH === 'arm64' ? 'amd64' : 'arm64');
  });

  it('refuses an unknown --dest', async () => {
    const r = await node([join(SCRIPTS, 'sample.mjs'), '--dest', 'floppy']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--dest/);
  });
});
