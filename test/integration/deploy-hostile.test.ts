/**
 * Hostile layers through `ocikit deploy` as a whole process (docs/deploy.md R17–R19, R25, R6,
 * R7, R40): each refused one exits 1 with one `ocikit:` line, writes nothing outside the tree (a
 * `victim` directory beside the tree stays as it was, no name appears in /tmp) and leaves the
 * tree empty; an escaping symlink written through lands inside the tree (R19). Also layer order
 * (55) and excludes from `--exclude` and OPTIONS.json (54, 56), the osbuild stage's tests.
 */
import * as assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { byPath, oneLine } from '../helpers/deploy-oracle.js';
import { gzipOf, sha, type TestLayer, writeDeployImage } from '../helpers/deploy-image.js';
import { type LayerTarEntry, layerTar } from '../helpers/layer-tar.js';
import { runNode } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { listTree } from '../helpers/tree-listing.js';

const BIN = fileURLToPath(new URL('../../../bin/ocikit', import.meta.url));
const gz = (entries: readonly LayerTarEntry[]): TestLayer => {
  const tar = layerTar(entries.map((e) => ({ mtime: 1_600_000_000, ...e })));
  return { tar, blob: gzipOf(tar) };
};
const base = gz([
  { name: 'etc/', type: 'directory' },
  { name: 'etc/ok', content: 'fine' },
]);

/** An image of `layers` beside an empty `tree` and a `victim` directory holding `secret`. */
async function setup(
  t: TestContext,
  layers: (root: string) => TestLayer[],
  opts: { diffIds?: string[]; flip?: boolean } = {},
) {
  const root = await tempDir(t);
  const victim = join(root, 'victim');
  await mkdir(victim);
  await writeFile(join(victim, 'secret'), 'secret');
  const img = await writeDeployImage(join(root, 'in'), layers(root), opts);
  if (opts.flip) {
    const { readFile } = await import('node:fs/promises');
    const d = JSON.parse(await readFile(join(img.dir, 'manifest.json'), 'utf8'))
      .layers.at(-1)
      .digest.slice(7);
    const b = await readFile(join(img.dir, d));
    b[b.length - 10] = b[b.length - 10]! ^ 0xff;
    await writeFile(join(img.dir, d), b);
  }
  await writeFile(join(root, 'inputs.json'), JSON.stringify(img.inputs));
  const tree = join(root, 'tree');
  await mkdir(tree);
  return { root, tree, victim, before: listTree(victim) };
}

const run = (root: string, ...more: string[]) =>
  runNode([BIN, 'deploy', '--inputs', 'inputs.json', '--tree', 'tree', ...more], { cwd: root });

describe('ocikit deploy: hostile layers', () => {
  const TMPNAME = `ocikit-hostile-victim-${process.pid}`;
  const cases: [string, (root: string) => TestLayer[], { diffIds?: string[]; flip?: boolean }, RegExp][] = [
    [
      'an absolute hard-link target (names a path inside the tree, which is missing)',
      (root) => [base, gz([{ name: 'etc/passwd', type: 'link', linkname: join(root, 'victim/secret') }])],
      {},
      /victim\/secret/,
    ],
    [
      'a ".." hard-link target',
      () => [base, gz([{ name: 'etc/passwd', type: 'link', linkname: '../../victim/secret' }])],
      {},
      /\.\./,
    ],
    ['a ".." name', () => [base, gz([{ name: 'etc/../../victim/pwned', content: 'x' }])], {}, /\.\./],
    ['a ".." name to /tmp', () => [base, gz([{ name: `../../../../../tmp/${TMPNAME}`, content: 'x' }])], {}, /\.\./],
    [
      'a wrong blob digest',
      () => [base, gz([{ name: 'etc/more', content: 'x'.repeat(100) }])],
      { flip: true },
      /digest/i,
    ],
    [
      'a wrong DiffID',
      () => [base, gz([{ name: 'etc/more', content: 'x' }])],
      { diffIds: [sha(base.tar), sha(Buffer.from('wrong'))] },
      /DiffID/,
    ],
  ];
  for (const [name, layers, opts, re] of cases) {
    it(`${name}: exit 1, one line, nothing outside, the tree empty`, async (t) => {
      const { root, tree, victim, before } = await setup(t, layers, opts);
      const r = await run(root);
      assert.equal(r.status, 1, r.stderr);
      oneLine(r.stderr, re);
      assert.deepEqual(await readdir(tree), [], 'all or nothing (R40)');
      assert.deepEqual(listTree(victim), before, 'the victim beside the tree is untouched');
      assert.deepEqual((await readdir(root)).sort(), ['in', 'inputs.json', 'tree', 'victim']);
      assert.ok(!existsSync(join('/tmp', TMPNAME)));
    });
  }

  it('escaping symlinks written through land inside the tree (R19); nothing outside', async (t) => {
    const { root, tree, victim, before } = await setup(t, (r) => [
      base,
      gz([
        { name: 'up', type: 'symlink', linkname: '../victim' },
        { name: 'abs', type: 'symlink', linkname: join(r, 'victim') },
        // (named `t`: a link `tmp -> /tmp/X` would resolve through itself, a loop)
        { name: 't', type: 'symlink', linkname: `/tmp/${TMPNAME}` },
      ]),
      gz([
        { name: 'up/pwned', content: 'a' },
        { name: 'abs/pwned', content: 'b' },
        { name: 't/pwned', content: 'c' },
      ]),
    ]);
    const r = await run(root);
    assert.equal(r.status, 0, r.stderr);
    const m = byPath(listTree(tree));
    assert.equal(m.get('up')?.type, 'l');
    assert.equal(m.get('victim/pwned')?.content, sha(Buffer.from('a')));
    assert.equal(m.get(`${join(root, 'victim').slice(1)}/pwned`)?.content, sha(Buffer.from('b')));
    assert.equal(m.get(`tmp/${TMPNAME}/pwned`)?.content, sha(Buffer.from('c')));
    assert.equal(m.get(`tmp/${TMPNAME}`)?.mode, '0755');
    assert.deepEqual(listTree(victim), before);
    assert.ok(!existsSync(join('/tmp', TMPNAME)));
  });
});

describe('ocikit deploy: the osbuild stage tests', () => {
  it('55 layer order: the child layer overwrites the base (osbuild test_container_deploy_integration)', async (t) => {
    const { root, tree } = await setup(t, () => [
      gz([{ name: 'file1', content: 'base' }]),
      gz([{ name: 'file1', content: 'child' }]),
    ]);
    const r = await run(root);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(byPath(listTree(tree)).get('file1')?.content, sha(Buffer.from('child')));
  });

  it('54 exclude from OPTIONS.json, 56 --exclude through a symlink stays in the tree, ".." refused', async (t) => {
    const { root, tree, victim, before } = await setup(t, (r) => [
      gz([
        { name: 'file1', content: '1' },
        { name: 'file2', content: '2' },
        { name: 'dir1/file3', content: '3' },
        { name: 'dir2/file4', content: '4' },
        { name: 'usr/x', content: 'x' },
        { name: 'lnk', type: 'symlink', linkname: '/usr' },
        { name: 'vic', type: 'symlink', linkname: join(r, 'victim') },
      ]),
    ]);
    await writeFile(join(root, 'options.json'), JSON.stringify({ exclude: ['file2', 'dir2/'] }));
    const r = await run(root, '--options', 'options.json', '--exclude', 'lnk/x', '--exclude', 'vic/secret');
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      listTree(tree).map((l) => l.split('\t')[0]),
      ['.', 'dir1', 'dir1/file3', 'file1', 'lnk', 'usr', 'vic'],
    );
    assert.deepEqual(listTree(victim), before, 'vic/secret resolved inside the tree: the host file stays');
    const up = await runNode([BIN, 'deploy', '--inputs', 'inputs.json', '--tree', 'tree2', '--exclude', '../victim'], {
      cwd: root,
    });
    assert.equal(up.status, 1);
    oneLine(up.stderr, /"\.\." segment/);
    assert.ok(!existsSync(join(root, 'tree2')) || (await readdir(join(root, 'tree2'))).length === 0);
    assert.deepEqual(listTree(victim), before);
  });
});
