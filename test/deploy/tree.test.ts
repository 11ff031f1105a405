/**
 * The deploy tree: names as bytes (R16, R17), parent symlinks resolved inside the tree (R18,
 * R19), missing and non-directory parents (R23), the cache of resolved directories, excludes
 * (R45, corpus 54 and 56), and the canonical listing against its Python original.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { normalise } from '../../src/deploy/tree.js';
import { isOcikitError } from '../../src/errors.js';
import { applyLayers, deployLayers, dir, file, freshTree, hardlink, symlink } from '../helpers/layer-entries.js';
import { listTree } from '../helpers/tree-listing.js';

/** The listing in Python, an independent implementation the TypeScript one is checked against. */
const ORACLE = fileURLToPath(new URL('../../../test/helpers/deploy-list-tree.py', import.meta.url));
const names = (root: string) => listTree(root, { noMtime: true }).map((l) => l.split('\t').slice(0, 2).join(' '));
const isCode = (code: string) => (e: unknown) => isOcikitError(e) && e.code === code;

test('R16: names are normalised as bytes; R17: a .. segment is refused, never clamped', () => {
  const segs = (s: string) => normalise(Buffer.from(s), 'x').map((b) => b.toString());
  assert.deepEqual(segs('./a//b/./c/'), ['a', 'b', 'c']);
  assert.deepEqual(segs('/etc/abs'), ['etc', 'abs']);
  assert.deepEqual(segs('./'), []);
  assert.deepEqual(segs('/'), []);
  assert.deepEqual(normalise(Buffer.from([0x63, 0x61, 0x66, 0xe9]), 'x'), [Buffer.from([0x63, 0x61, 0x66, 0xe9])]);
  assert.throws(() => normalise(Buffer.from('a/../../evil'), 'x'), isCode('UNSAFE_PATH'));
  assert.throws(() => normalise(Buffer.from('..'), 'x'), isCode('UNSAFE_PATH'));
  assert.deepEqual(segs('a/..b/c..'), ['a', '..b', 'c..']);
});

test('the TypeScript listing equals deploy-list-tree.py on one tree', async (t) => {
  const { root } = await deployLayers(t, [
    [
      dir('d', { mode: 0o750, uid: 12, gid: 34, xattrs: { 'user.x': Buffer.from([0, 0xc0, 0xff]) } }),
      file('d/f', 'hello', { mode: 0o4755, mtime: { sec: 1600000000, nsec: 123456000 } }),
      hardlink('d/g', 'd/f'),
      symlink('l', '../../etc/passwd', { uid: 5, gid: 6 }),
      file(Buffer.from([0x63, 0x61, 0x66, 0xe9]), 'non-utf8', { xattrs: { 'user.y': 'v' } }),
      file('back\\slash and space', ''),
    ],
  ]);
  spawnSync('mkfifo', [join(root, 'p')]);
  const py = spawnSync('python3', [ORACLE, root], { encoding: 'buffer' });
  assert.equal(py.status, 0, py.stderr.toString());
  assert.equal(`${listTree(root).join('\n')}\n`, py.stdout.toString('latin1'));
  const pyNo = spawnSync('python3', [ORACLE, root, '--no-mtime', '--ignore-xattr', 'user.x'], { encoding: 'buffer' });
  assert.equal(
    `${listTree(root, { noMtime: true, ignoreXattrs: ['user.x'] }).join('\n')}\n`,
    pyNo.stdout.toString('latin1'),
  );
});

test('R18: an absolute parent symlink starts at the root, .. stops there (corpus 24, 25)', async (t) => {
  const { root, victim } = await deployLayers(t, [
    [file('realdir/old'), symlink('lnkdir', 'realdir'), symlink('abs', '/realdir'), symlink('up', '../../../realdir')],
    [file('lnkdir/new'), file('abs/via-abs'), file('up/via-up')],
  ]);
  assert.equal(fs.readlinkSync(join(root, 'lnkdir')), 'realdir');
  for (const f of ['old', 'new', 'via-abs', 'via-up']) assert.ok(fs.existsSync(join(root, 'realdir', f)), f);
  assert.deepEqual(fs.readdirSync(victim), ['keep']);
});

test('R19: a parent symlink leaving the tree creates its target inside the tree (corpus 25)', async (t) => {
  const { root, victim } = await freshTree(t);
  const outside = join(victim, 'victim-dir');
  const r = await deployLayers(t, [[symlink('escape', outside)], [file('escape/pwned', 'x')]]);
  assert.ok(fs.statSync(join(r.root, outside, 'pwned')).isFile());
  assert.equal(fs.existsSync(outside), false);
  assert.deepEqual(fs.readdirSync(victim), ['keep']);
  assert.ok(root);
  // The relative climbing form, too.
  const r2 = await deployLayers(t, [[symlink('esc', '../victim')], [file('esc/pwned2', 'x')]]);
  assert.ok(fs.statSync(join(r2.root, 'victim', 'pwned2')).isFile());
  assert.deepEqual(fs.readdirSync(r2.victim), ['keep']);
});

test('R18: a symlink loop in a parent is UNSAFE_PATH', async (t) => {
  const { tree } = await freshTree(t);
  await assert.rejects(applyLayers(tree, [[symlink('a', 'b'), symlink('b', 'a'), file('a/x')]]), isCode('UNSAFE_PATH'));
  const { tree: t2 } = await freshTree(t);
  await assert.rejects(applyLayers(t2, [[symlink('self', 'self/x'), file('self/y')]]), isCode('UNSAFE_PATH'));
});

test('R23: missing parents are 0755 0:0, a non-directory parent becomes a directory (corpus 29, 30)', async (t) => {
  const { root } = await deployLayers(t, [[file('p/q/r/file')], [file('nondir'), file('nondir/foo/bar/baz')]]);
  const lines = listTree(root, { noMtime: true });
  for (const p of ['p', 'p/q', 'p/q/r', 'nondir', 'nondir/foo', 'nondir/foo/bar']) {
    assert.ok(
      lines.some((l) => l.startsWith(`${p}\td\t0755\t0:0\t`)),
      p,
    );
  }
});

test('the resolved-directory cache forgets a symlink that a later layer replaced', async (t) => {
  const { root } = await deployLayers(t, [
    [file('real/a'), symlink('lnk', 'real'), file('lnk/b')],
    [dir('lnk'), file('lnk/c')],
    [file('lnk/d')],
  ]);
  assert.equal(fs.lstatSync(join(root, 'lnk')).isDirectory(), true);
  assert.deepEqual(fs.readdirSync(join(root, 'lnk')).sort(), ['c', 'd']);
  assert.deepEqual(fs.readdirSync(join(root, 'real')).sort(), ['a', 'b']);
  // And a directory a whiteout removed, replaced by a symlink in the next layer.
  const r = await deployLayers(t, [
    [file('x/one'), file('y/two')],
    [file('.wh.x')],
    [symlink('x', 'y')],
    [file('x/three')],
  ]);
  assert.deepEqual(fs.readdirSync(join(r.root, 'y')).sort(), ['three', 'two']);
});

test('R45: exclude removes files and directories, a missing path is fine (corpus 54)', async (t) => {
  const { root, tree } = await freshTree(t);
  await applyLayers(tree, [[file('file1'), file('file2'), file('dir1/file3'), file('dir2/file4')]]);
  assert.equal(await tree.remove('file2'), true);
  assert.equal(await tree.remove('dir2/'), true);
  assert.equal(await tree.remove('/missing'), false);
  await tree.finish();
  assert.deepEqual(names(root), ['. d', 'dir1 d', 'dir1/file3 f', 'file1 f']);
});

test('R45: exclude with .. is UNSAFE_PATH; through a symlink it stays in the tree (corpus 56)', async (t) => {
  const { root, victim, tree } = await freshTree(t);
  await applyLayers(tree, [[file('usr/x'), file('usr/y'), symlink('lnk', '/usr'), symlink('out', victim)]]);
  await assert.rejects(tree.remove('../x'), isCode('UNSAFE_PATH'));
  await assert.rejects(tree.remove('usr/../../x'), isCode('UNSAFE_PATH'));
  assert.equal(await tree.remove('lnk/x'), true);
  assert.equal(await tree.remove('out/keep'), false);
  assert.equal(fs.existsSync(join(root, 'usr/x')), false);
  assert.ok(fs.existsSync(join(root, 'usr/y')));
  assert.equal(fs.readlinkSync(join(root, 'lnk')), '/usr');
  assert.deepEqual(fs.readdirSync(victim), ['keep']);
  // The final component is not followed: excluding the link removes the link only.
  assert.equal(await tree.remove('lnk'), true);
  assert.ok(fs.existsSync(join(root, 'usr/y')));
});
