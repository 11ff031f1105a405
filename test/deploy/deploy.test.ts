/**
 * `deploy()` as a whole: one image (R1), the tree created when missing, all or nothing into an
 * empty tree (R40: a wrong blob or DiffID in the last layer leaves it empty), a tree with content
 * written in place with a warning, excludes (R45), what a killed run's staging directory means to
 * the next run, interrupts, progress.
 */
import * as assert from 'node:assert/strict';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { type DeployProgress, deploy } from '../../src/deploy/deploy.js';
import { STAGING_PREFIX } from '../../src/deploy/staging.js';
import { isOcikitError } from '../../src/errors.js';
import { createOwnedTempDir } from '../../src/internal/ownership.js';
import { getXattr, listXattrs, loadXattrs, setXattr } from '../../src/internal/xattr.js';
import { type TestLayer, gzLayer, gzipOf, sha, writeDeployImage } from '../helpers/deploy-image.js';
import { layerTar } from '../helpers/layer-tar.js';
import { tempDir } from '../helpers/tmp.js';

const base = gzLayer([
  { name: 'file1', body: 'base' },
  { name: 'file2', body: '2' },
  { name: 'dir1/' },
  { name: 'dir1/file3', body: '3' },
]);
const child = gzLayer([{ name: 'file1', body: 'child' }, { name: 'dir2/' }, { name: 'dir2/file4', body: '4' }]);

async function setup(
  t: TestContext,
  layers: TestLayer[] = [base, child],
  opts: Parameters<typeof writeDeployImage>[2] = {},
) {
  const root = await tempDir(t);
  const img = await writeDeployImage(join(root, 'in'), layers, opts);
  return { root, img, tree: join(root, 'tree') };
}

const ls = (dir: string) => readdir(dir).then((n) => n.sort());

describe('deploy', () => {
  it('creates a missing tree and applies the layers in order (R2, corpus 55); the summary says what it did', async (t) => {
    const { img, tree } = await setup(t);
    const events: DeployProgress[] = [];
    const s = await deploy(img.inputs, tree, { rootless: false }, { onProgress: (e) => events.push(e) });
    assert.deepEqual(await ls(tree), ['dir1', 'dir2', 'file1', 'file2']);
    assert.equal(await readFile(join(tree, 'file1'), 'utf8'), 'child');
    assert.equal(s.tree, tree);
    assert.deepEqual(s.image, { name: 'test/deploy:1', imageId: img.imageId, manifestDigest: img.manifestDigest });
    assert.deepEqual(
      s.layers.map((l) => [l.digest, l.diffId, l.compression, l.entries, l.bytes]),
      [base, child].map((l) => [sha(l.blob), sha(l.tar), 'gzip', l === base ? 4 : 3, l.blob.length]),
    );
    assert.deepEqual(s.warnings, []);
    assert.deepEqual(
      events.filter((e) => e.phase !== 'progress').map((e) => `${e.layer}/${e.layers} ${e.phase}`),
      ['0/2 start', '0/2 done', '1/2 start', '1/2 done'],
    );
    assert.equal(events.at(-1)!.bytes, child.blob.length);
  });

  it("R30: the root entry's xattrs reach TREE itself through the staging directory; without one TREE keeps its own", async (t) => {
    await loadXattrs();
    const value = Buffer.from([0x00, 0xc0, 0xff, 0x0a]);
    const tar = layerTar([
      { name: './', type: 'directory', mode: 0o750, mtime: 1_000_000_000, xattrs: { 'user.root': value } },
      { name: 'f', content: 'x' },
    ]);
    const { root, img, tree } = await setup(t, [{ tar, blob: gzipOf(tar) }]);
    await mkdir(tree);
    await setXattr(Buffer.from(tree), 'user.old', Buffer.from('old'));
    await deploy(img.inputs, tree, { rootless: false });
    const names = async (p: string) => (await listXattrs(Buffer.from(p))).filter((n) => n.startsWith('user.')).sort();
    assert.deepEqual(await names(tree), ['user.root'], 'exactly the root entry xattrs (R22)');
    assert.deepEqual(await getXattr(Buffer.from(tree), 'user.root'), value);
    assert.deepEqual(await ls(tree), ['f']);
    // No root entry: TREE keeps what it had, its xattrs included.
    const plain = await setup(t, [base]);
    const tree2 = join(root, 'tree2');
    await mkdir(tree2);
    await setXattr(Buffer.from(tree2), 'user.old', Buffer.from('old'));
    await deploy(plain.img.inputs, tree2, { rootless: false });
    assert.deepEqual(await names(tree2), ['user.old']);
  });

  it('R1: refuses inputs with two images, before creating the tree', async (t) => {
    const { root, img, tree } = await setup(t);
    const other = await writeDeployImage(join(root, 'in'), [base], { name: 'other:1' });
    const archives = { ...img.inputs.images.data.archives, ...other.inputs.images.data.archives };
    const inputs = { images: { path: img.inputs.images.path, data: { archives } } };
    await assert.rejects(
      deploy(inputs, tree),
      (e: unknown) => isOcikitError(e, 'INVALID_INPUT') && /exactly one image/.test((e as Error).message),
    );
    await assert.rejects(readdir(tree), { code: 'ENOENT' });
  });

  it('R40, R6, R7: a wrong blob or DiffID in the last layer leaves the empty tree empty', async (t) => {
    const flipped = Buffer.from(child.blob);
    flipped[flipped.length - 9]! ^= 1;
    for (const [layers, opts] of [
      [[base, { ...child, blob: flipped, digest: sha(child.blob) }], {}],
      [[base, child], { diffIds: [sha(base.tar), sha(Buffer.from('not the tar'))] }],
    ] as const) {
      const { img, tree } = await setup(t, [...layers], opts);
      await mkdir(tree);
      await assert.rejects(deploy(img.inputs, tree, { rootless: false }), (e: unknown) =>
        isOcikitError(e, 'DIGEST_MISMATCH'),
      );
      assert.deepEqual(await ls(tree), []);
    }
  });

  it('R40: an interrupted deploy leaves the tree empty', async (t) => {
    const { img, tree } = await setup(t);
    const ac = new AbortController();
    await assert.rejects(
      deploy(
        img.inputs,
        tree,
        { rootless: false },
        { signal: ac.signal, onProgress: (e) => e.layer === 1 && ac.abort() },
      ),
      (e: unknown) => isOcikitError(e, 'INTERRUPTED'),
    );
    assert.deepEqual(await ls(tree), []);
  });

  it('R40: a tree with content is written over as a layer would, and the summary says so', async (t) => {
    const { img, tree } = await setup(t);
    await mkdir(tree);
    await writeFile(join(tree, 'kept'), 'host');
    await writeFile(join(tree, 'file1'), 'old');
    const s = await deploy(img.inputs, tree, { rootless: false });
    assert.deepEqual(await ls(tree), ['dir1', 'dir2', 'file1', 'file2', 'kept']);
    assert.equal(await readFile(join(tree, 'file1'), 'utf8'), 'child');
    assert.deepEqual(
      s.warnings.map((w) => w.code),
      ['non-empty-tree'],
    );
  });

  it('R45: excludes are removed after the last layer (osbuild test_container_deploy_exclude); a missing one is fine', async (t) => {
    const { img, tree } = await setup(t);
    const s = await deploy(img.inputs, tree, { exclude: ['file2', 'dir2/', '/not/there'], rootless: false });
    assert.deepEqual(await ls(tree), ['dir1', 'file1']);
    assert.deepEqual(await ls(join(tree, 'dir1')), ['file3']);
    assert.deepEqual(s.excluded, ['file2', 'dir2/']);
  });

  it('R45: an exclude with ".." is UNSAFE_PATH before anything is written', async (t) => {
    const { img, tree } = await setup(t);
    await assert.rejects(deploy(img.inputs, tree, { exclude: ['../x'] }), (e: unknown) =>
      isOcikitError(e, 'UNSAFE_PATH'),
    );
    await assert.rejects(readdir(tree), { code: 'ENOENT' });
  });

  it("a killed run's staging directory is not content: the next run removes it and fills the tree", async (t) => {
    const { img, tree } = await setup(t);
    // An owner from another boot is provably dead.
    const stale = join(tree, `${STAGING_PREFIX}4242-1234-00000000-4026531836-AbCdEf`);
    await mkdir(join(stale, 'etc'), { recursive: true });
    await writeFile(join(stale, 'etc/half'), 'half written');
    await deploy(img.inputs, tree, { rootless: false });
    assert.deepEqual(await ls(tree), ['dir1', 'dir2', 'file1', 'file2']);
  });

  it("a live run's staging directory means another deploy is writing: EXISTS, nothing touched", async (t) => {
    const { img, tree } = await setup(t);
    await mkdir(tree);
    const live = await createOwnedTempDir(tree, STAGING_PREFIX);
    await assert.rejects(deploy(img.inputs, tree, { rootless: false }), (e: unknown) => isOcikitError(e, 'EXISTS'));
    assert.deepEqual(await ls(tree), [live.slice(tree.length + 1)]);
  });
});
