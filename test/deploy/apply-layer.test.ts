/**
 * The layer applier against the application cases of the deploy corpus (docs/deploy.md, the
 * case numbers): each case feeds layer entries and compares the tree's canonical listing with the
 * expected one. Case numbers are in the test names.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isOcikitError } from '../../src/errors.js';
import { useXattrToolsForTesting } from '../../src/internal/xattr.js';
import {
  type TestEntry,
  applyLayers,
  deployLayers,
  dir,
  file,
  freshTree,
  hardlink,
  node,
  symlink,
} from '../helpers/layer-entries.js';
import { esc, listTree } from '../helpers/tree-listing.js';

const isCode = (code: string) => (e: unknown) => isOcikitError(e) && e.code === code;
const sha = (s: string | Buffer) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const row = (...f: string[]) => f.join('\t');
/** Expected listing lines (no mtime). */
const L = {
  root: (mode = '0755', own = '0:0', x = '-') => row('.', 'd', mode, own, '-', '-', '-', x, '-'),
  d: (p: string, mode = '0755', own = '0:0', x = '-') => row(p, 'd', mode, own, '-', '-', '-', x, '-'),
  f: (p: string, c: string | Buffer, o: { mode?: string; own?: string; x?: string; hl?: string } = {}) =>
    row(p, 'f', o.mode ?? '0644', o.own ?? '0:0', String(Buffer.from(c).length), sha(c), '-', o.x ?? '-', o.hl ?? '-'),
  l: (p: string, target: string, o: { own?: string; hl?: string } = {}) =>
    row(p, 'l', '-', o.own ?? '0:0', '-', esc(Buffer.from(target)), '-', '-', o.hl ?? '-'),
};
const listing = (root: string) => listTree(root, { noMtime: true });
async function expectTree(t: Parameters<typeof deployLayers>[0], layers: TestEntry[][], expected: string[]) {
  const r = await deployLayers(t, layers);
  assert.deepEqual(listing(r.root), expected);
  return r;
}

test('corpus 1-3: file, directory and hidden-name whiteouts remove lower content, no .wh. remains', async (t) => {
  await expectTree(
    t,
    [
      [
        file('doc/pkg-a/copyright', 'c'),
        file('doc/pkg-a/README', 'r'),
        file('vim/a/b', 'x'),
        file('.hiddenroot'),
        file('another/path/.hiddenfile'),
        dir('another/.hdir'),
      ],
      [
        file('doc/pkg-a/.wh.copyright'),
        file('.wh.vim'),
        file('.wh..hiddenroot'),
        file('another/path/.wh..hiddenfile'),
        file('another/.wh..hdir'),
      ],
    ],
    [L.root(), L.d('another'), L.d('another/path'), L.d('doc'), L.d('doc/pkg-a'), L.f('doc/pkg-a/README', 'r')],
  );
});

test("corpus 4, 5: an opaque directory keeps only this layer's content, wherever the marker is", async (t) => {
  await expectTree(
    t,
    [
      [file('email/old_module.py'), file('email/sub/deep.py'), file('a/b/c/bar')],
      [
        file('email/.wh..wh..opq'),
        file('email/__init__.py', 'i'),
        dir('a/'),
        dir('a/b/'),
        dir('a/b/c/'),
        file('a/b/c/foo', 'f'),
        file('a/.wh..wh..opq'),
      ],
    ],
    [L.root(), L.d('a'), L.d('a/b'), L.d('a/b/c'), L.f('a/b/c/foo', 'f'), L.d('email'), L.f('email/__init__.py', 'i')],
  );
});

test('corpus 6: opaque at several levels; upper paths survive, a climbing symlink included', async (t) => {
  await expectTree(
    t,
    [
      [file('dir/lower'), file('dir/sub/lower'), file('dir/sub/deep/lower')],
      [
        file('dir/sub/deep/upper', 'u'),
        file('dir/.wh..wh..opq'),
        file('dir/sub/.wh..wh..opq'),
        symlink('dir/verybadlink', '../../../../etc/shadow'),
      ],
    ],
    [
      L.root(),
      L.d('dir'),
      L.d('dir/sub'),
      L.d('dir/sub/deep'),
      L.f('dir/sub/deep/upper', 'u'),
      L.l('dir/verybadlink', '../../../../etc/shadow'),
    ],
  );
});

test('corpus 7, 8: whiteout then recreate; a same-layer whiteout after a file keeps it (R33)', async (t) => {
  await expectTree(
    t,
    [
      [file('a/x/old'), file('b/x', 'lower')],
      [file('a/.wh.x'), file('a/x', 'new'), file('b/x', 'upper'), file('b/.wh.x')],
    ],
    [L.root(), L.d('a'), L.f('a/x', 'new'), L.d('b'), L.f('b/x', 'upper')],
  );
});

test('corpus 9, 10: nested whiteouts leave nothing; a whiteout of nothing is a no-op', async (t) => {
  await expectTree(
    t,
    [
      [file('foo/bar'), dir('a')],
      [file('.wh.foo'), file('foo/.wh.bar'), file('a/.wh.never'), file('nope/.wh.x')],
    ],
    [L.root(), L.d('a')],
  );
});

test('corpus 11: a whiteout without a name is INVALID_INPUT (R34); R36: no .wh. parent is created', async (t) => {
  const { tree } = await freshTree(t);
  await assert.rejects(applyLayers(tree, [[file('a/x')], [file('a/.wh.')]]), isCode('INVALID_INPUT'));
  const { tree: t2 } = await freshTree(t);
  await assert.rejects(applyLayers(t2, [[file('a/.wh.x/y')]]), isCode('INVALID_INPUT'));
});

test('corpus 12, 13, 15: whiteout or replacement of one hard-link name leaves the others one inode', async (t) => {
  await expectTree(
    t,
    [
      [
        file('usr/bin/gzip', 'gz'),
        hardlink('usr/bin/zcat', 'usr/bin/gzip'),
        hardlink('usr/bin/uncompress', 'usr/bin/gzip'),
        hardlink('usr/sbin/gzip-other-dir', 'usr/bin/gzip'),
      ],
      [file('usr/bin/.wh.uncompress'), file('usr/bin/zcat', 'new zcat')],
    ],
    [
      L.root(),
      L.d('usr'),
      L.d('usr/bin'),
      L.f('usr/bin/gzip', 'gz', { hl: '=usr/bin/gzip' }),
      L.f('usr/bin/zcat', 'new zcat'),
      L.d('usr/sbin'),
      L.f('usr/sbin/gzip-other-dir', 'gz', { hl: '=usr/bin/gzip' }),
    ],
  );
});

test("corpus 14, 16, 17: hard links in a layer, to a lower layer, to a symlink; the link entry's metadata is ignored", async (t) => {
  const x = `user.test=${Buffer.from('1').toString('hex')}`;
  await expectTree(
    t,
    [
      [file('a/target', 't')],
      [
        file('opt/app/bin', 'b', { uid: 4242, gid: 4343, xattrs: { 'user.test': '1' } }),
        hardlink('opt/app/bin-hardlink', 'opt/app/bin', { mode: 0o600, uid: 1, gid: 1, xattrs: { 'user.other': 'z' } }),
        hardlink('/b/link', '/a/target'),
        symlink('sym', 'target-does-not-exist'),
        hardlink('hl', 'sym'),
      ],
    ],
    [
      L.root(),
      L.d('a'),
      L.f('a/target', 't', { hl: '=a/target' }),
      L.d('b'),
      L.f('b/link', 't', { hl: '=a/target' }),
      L.l('hl', 'target-does-not-exist', { hl: '=hl' }),
      L.d('opt'),
      L.d('opt/app'),
      L.f('opt/app/bin', 'b', { own: '4242:4343', x, hl: '=opt/app/bin' }),
      L.f('opt/app/bin-hardlink', 'b', { own: '4242:4343', x, hl: '=opt/app/bin' }),
      L.l('sym', 'target-does-not-exist', { hl: '=hl' }),
    ],
  );
});

test('corpus 18, 19: a hard link before its target is NOT_FOUND, an escaping one UNSAFE_PATH; nothing outside', async (t) => {
  const a = await freshTree(t);
  await assert.rejects(applyLayers(a.tree, [[hardlink('early', 'late'), file('late')]]), isCode('NOT_FOUND'));
  const b = await freshTree(t);
  await assert.rejects(applyLayers(b.tree, [[hardlink('a/passwd', '../../../../etc/passwd')]]), isCode('UNSAFE_PATH'));
  const c = await freshTree(t);
  await assert.rejects(
    applyLayers(c.tree, [[file('keep', 'v'), hardlink('abs', '/victim/keep')]]),
    isCode('NOT_FOUND'),
  );
  const d = await freshTree(t);
  await assert.rejects(applyLayers(d.tree, [[dir('dd'), hardlink('ld', 'dd')]]), isCode('INVALID_INPUT'));
  const e = await freshTree(t);
  await assert.rejects(applyLayers(e.tree, [[hardlink('x', '.wh..wh.plnk/1234.5')]]), isCode('UNSUPPORTED'));
  for (const r of [a, b, c, d, e]) assert.deepEqual(fs.readdirSync(r.victim), ['keep']);
});

test('corpus 20-23: file to dir, dir to file, symlink and file swapped, dir over a dirlink', async (t) => {
  await expectTree(
    t,
    [
      [
        file('etc/foo', 'f'),
        file('etc/bar.d/x'),
        symlink('was-link', 'foo'),
        file('was-file', 'wf'),
        file('usr/bin/sh', 'sh'),
        symlink('bin', 'usr/bin'),
      ],
      [
        file('etc/foo/inner', 'i'),
        file('etc/bar.d', 'file now'),
        file('was-link', 'wl'),
        symlink('was-file', 'was-link'),
        dir('bin/'),
        file('bin/extra', 'e'),
      ],
    ],
    [
      L.root(),
      L.d('bin'),
      L.f('bin/extra', 'e'),
      L.d('etc'),
      L.f('etc/bar.d', 'file now'),
      L.d('etc/foo'),
      L.f('etc/foo/inner', 'i'),
      L.d('usr'),
      L.d('usr/bin'),
      L.f('usr/bin/sh', 'sh'),
      L.l('was-file', 'was-link'),
      L.f('was-link', 'wl'),
    ],
  );
});

test('corpus 26-28, 41: symlinks verbatim, .. names refused, absolute names inside, long names exact', async (t) => {
  const long = `${'d'.repeat(90)}/${'e'.repeat(99)}`;
  await expectTree(
    t,
    [
      [
        symlink('etc/localtime', '/usr/share/zoneinfo/UTC'),
        symlink('etc/escape', '../../../../../../etc/passwd'),
        dir('/etc/'),
        file('/etc/abs', 'a'),
        file(long, 'L'),
      ],
    ],
    [
      L.root(),
      L.d('d'.repeat(90)),
      L.f(long, 'L'),
      L.d('etc'),
      L.f('etc/abs', 'a'),
      L.l('etc/escape', '../../../../../../etc/passwd'),
      L.l('etc/localtime', '/usr/share/zoneinfo/UTC'),
    ],
  );
  const r = await freshTree(t);
  await assert.rejects(applyLayers(r.tree, [[file('a/../../evil')]]), isCode('UNSAFE_PATH'));
  assert.deepEqual(fs.readdirSync(r.root), []);
  assert.deepEqual(fs.readdirSync(r.victim), ['keep']);
});

test('corpus 31: the same path twice in a layer (after normalisation) is INVALID_INPUT (R15)', async (t) => {
  const r = await freshTree(t);
  await assert.rejects(applyLayers(r.tree, [[file('dup'), file('./dup')]]), isCode('INVALID_INPUT'));
  // In two layers it is fine.
  await expectTree(t, [[file('dup', '1')], [file('dup', '2')]], [L.root(), L.f('dup', '2')]);
});

test("corpus 32: the root entry sets the root's mode, owner and mtime (R30)", async (t) => {
  const r = await deployLayers(t, [[dir('./', { mode: 0o700, uid: 1, gid: 2, mtime: 1000000000 }), file('f')]]);
  assert.equal(listTree(r.root)[0], row('.', 'd', '0700', '1:2', '-', '-', '1000000000.000000000', '-', '-'));
  const s = await freshTree(t);
  await assert.rejects(applyLayers(s.tree, [[symlink('./', 'x')]]), isCode('INVALID_INPUT'));
});

test('corpus 33, 34: a directory entry over a directory replaces its attributes, xattrs included', async (t) => {
  const r = await expectTree(
    t,
    [
      [
        dir('etc/attrdir', { xattrs: { 'user.layer1': 'base' } }),
        dir('usr/share/zoneinfo'),
        file('usr/share/zoneinfo/UTC', 'u'),
      ],
      [dir('etc/attrdir', { mode: 0o750 }), dir('usr/share/zoneinfo/', { mode: 0o700, mtime: 1643760000 })],
    ],
    [
      L.root(),
      L.d('etc'),
      L.d('etc/attrdir', '0750'),
      L.d('usr'),
      L.d('usr/share'),
      L.d('usr/share/zoneinfo', '0700'),
      L.f('usr/share/zoneinfo/UTC', 'u'),
    ],
  );
  assert.equal(fs.statSync(join(r.root, 'usr/share/zoneinfo')).mtimeMs, 1643760000000);
});

test('corpus 35, 39: setuid/setgid/sticky modes and numeric owners (chmod after chown)', async (t) => {
  await expectTree(
    t,
    [
      [
        file('usr/bin/suid-tool', 's', { mode: 0o4755, uid: 7 }),
        file('usr/bin/sgid-tool', 'g', { mode: 0o2755, gid: 42 }),
        dir('tmp', { mode: 0o1777 }),
        dir('home/user', { uid: 1234, gid: 5678 }),
        symlink('etc/alternatives/sh', '/bin/dash', { uid: 1234, gid: 5678 }),
      ],
    ],
    [
      L.root(),
      L.d('etc'),
      L.d('etc/alternatives'),
      L.l('etc/alternatives/sh', '/bin/dash', { own: '1234:5678' }),
      L.d('home'),
      L.d('home/user', '0755', '1234:5678'),
      L.d('tmp', '1777'),
      L.d('usr'),
      L.d('usr/bin'),
      L.f('usr/bin/sgid-tool', 'g', { mode: '2755', own: '0:42' }),
      L.f('usr/bin/suid-tool', 's', { mode: '4755', own: '7:0' }),
    ],
  );
});

const CAP = Buffer.from('01000002c0200000000000000000000000000000', 'hex');

test('corpus 36-38, 46: binary xattrs exact; security.selinux and trusted.overlay.* dropped; non-UTF-8 names', async (t) => {
  const cafe = Buffer.from([0x63, 0x61, 0x66, 0xe9]);
  const r = await expectTree(
    t,
    [
      [file('d/lower', 'l')],
      [
        file('capped', 'c', { xattrs: { 'security.capability': CAP } }),
        file('labelled', 'x', { xattrs: { 'security.selinux': 'system_u:object_r:bin_t:s0' } }),
        dir('d', { xattrs: { 'trusted.overlay.opaque': 'y' } }),
        file('d/upper', 'u'),
        file(Buffer.concat([cafe, Buffer.from('/'), cafe]), 'n', {
          xattrs: { 'user.bin': Buffer.from([0xc0, 0, 0xff]) },
        }),
      ],
    ],
    [
      L.root(),
      L.d('caf\\xe9'),
      L.f('caf\\xe9/caf\\xe9', 'n', { x: 'user.bin=c000ff' }),
      L.f('capped', 'c', { x: `security.capability=${CAP.toString('hex')}` }),
      L.d('d'),
      L.f('d/lower', 'l'),
      L.f('d/upper', 'u'),
      L.f('labelled', 'x'),
    ],
  );
  assert.ok(r.warnings.some((w) => w.code === 'xattr-dropped' && w.detail.includes('trusted.overlay.opaque')));
  assert.equal(
    r.warnings.some((w) => w.detail.includes('security.selinux')),
    false,
  );
});

test('R39: the setfattr/getfattr fallback sets the same bytes, non-UTF-8 names included', async (t) => {
  useXattrToolsForTesting(true);
  t.after(() => useXattrToolsForTesting(false));
  const cafe = Buffer.from([0x63, 0x61, 0x66, 0xe9]);
  await expectTree(
    t,
    [
      [dir('m', { xattrs: { 'user.old': 'o' } })],
      [
        file(cafe, 'n', { xattrs: { 'user.bin': Buffer.from([0xc0, 0, 0xff]), 'user.empty': '' } }),
        dir('m', { xattrs: { 'user.new': 'n' } }),
      ],
    ],
    [L.root(), L.f('caf\\xe9', 'n', { x: 'user.bin=c000ff,user.empty=' }), L.d('m', '0755', '0:0', 'user.new=6e')],
  );
});

test('corpus 40: device nodes and FIFOs with their numbers, modes and owners (R27)', async (t) => {
  const cafe = Buffer.from([0x64, 0x65, 0x76, 0xe9]).toString('latin1');
  const r = await deployLayers(t, [
    [
      node('char', 'dev/null', { mode: 0o666, devmajor: 1, devminor: 3 }),
      node('block', 'dev/loop0', { mode: 0o660, gid: 6, devmajor: 7, devminor: 0 }),
      node('fifo', 'run/initctl', { mode: 0o600 }),
      {
        ...node('fifo', 'x', { mode: 0o640 }),
        name: Buffer.concat([Buffer.from('run/'), Buffer.from(cafe, 'latin1')]),
      },
    ],
  ]);
  assert.deepEqual(listing(r.root), [
    L.root(),
    L.d('dev'),
    row('dev/loop0', 'b', '0660', '0:6', '-', '7,0', '-', '-', '-'),
    row('dev/null', 'c', '0666', '0:0', '-', '1,3', '-', '-', '-'),
    L.d('run'),
    row('run/dev\\xe9', 'p', '0640', '0:0', '-', '-', '-', '-', '-'),
    row('run/initctl', 'p', '0600', '0:0', '-', '-', '-', '-', '-'),
  ]);
});

test('corpus 42, 43: times to the microsecond; directory times after their children; untouched dirs keep theirs', async (t) => {
  const r = await deployLayers(t, [
    [
      dir('etc', { mtime: 1622505600 }),
      file('etc/subsecond', 's', { mtime: { sec: 1577934245, nsec: 123456789 }, atime: { sec: 1, nsec: 0 } }),
      file('etc/child'),
    ],
    [file('etc/later')],
  ]);
  const st = (p: string) => fs.lstatSync(join(r.root, p), { bigint: true });
  assert.equal(st('etc/subsecond').mtimeNs, 1577934245123456000n);
  assert.equal(st('etc/subsecond').atimeNs, 1577934245123456000n, 'atime never before mtime');
  assert.equal(st('etc').mtimeNs, 1622505600000000000n, 'layer 2 changed etc without an entry for it');
  assert.ok(r.warnings.some((w) => w.code === 'time-truncated'));
  const many = await deployLayers(t, [
    Array.from({ length: 50 }, (_, i) =>
      file(`f${i}`, '', { mtime: { sec: 1500000000 + i * 7919, nsec: i * 1000 * 12347 } }),
    ),
  ]);
  for (let i = 0; i < 50; i++) {
    const want = BigInt(1500000000 + i * 7919) * 1000000000n + BigInt(i * 1000 * 12347);
    assert.equal(fs.lstatSync(join(many.root, `f${i}`), { bigint: true }).mtimeNs, want, `f${i}`);
  }
});

test('corpus 44, 53: a big mostly-zero file has the same bytes; an empty layer changes nothing', async (t) => {
  const big = Buffer.alloc(16 * 1024 * 1024);
  big.write('head', 0);
  big.write('tail', big.length - 4);
  await expectTree(
    t,
    [[file('var/lib/sparse', big)], []],
    [L.root(), L.d('var'), L.d('var/lib'), L.f('var/lib/sparse', big)],
  );
});

test('corpus 57: unicode names are written as their bytes', async (t) => {
  const names = ['ünïcödé', '日本語', 'emoji-🎉', 'nfd-é'];
  const r = await deployLayers(t, [names.map((n) => file(`u/${n}`, n))]);
  assert.deepEqual(
    fs
      .readdirSync(join(r.root, 'u'), { encoding: 'buffer' })
      .map((b) => b.toString())
      .sort(),
    [...names].sort(),
  );
});

test('R35: top-level AUFS metadata is skipped', async (t) => {
  await expectTree(
    t,
    [[file('.wh..wh.aufs'), dir('.wh..wh.plnk'), file('.wh..wh.plnk/1.2'), file('a')]],
    [L.root(), L.f('a', '')],
  );
});

test('R24: a replaced file is unlinked first, never written through (its other names keep the content)', async (t) => {
  const r = await deployLayers(t, [[file('a', 'old'), hardlink('b', 'a')], [file('b', 'new b')]]);
  assert.equal(fs.readFileSync(join(r.root, 'a'), 'utf8'), 'old');
  assert.equal(fs.readFileSync(join(r.root, 'b'), 'utf8'), 'new b');
  // A symlink at the path is replaced, not followed.
  const s = await deployLayers(t, [[file('real', 'keep'), symlink('f', 'real')], [file('f', 'replaced')]]);
  assert.equal(fs.readFileSync(join(s.root, 'real'), 'utf8'), 'keep');
  assert.equal(fs.lstatSync(join(s.root, 'f')).isFile(), true);
});

test("R28/R23: owners are set even when they are this process's own: a setgid directory does not lend its group", async (t) => {
  await expectTree(
    t,
    [
      [
        dir('s', { mode: 0o2775, gid: 42 }),
        file('s/f', 'x', { uid: 0, gid: 0 }),
        dir('s/d', { uid: 0, gid: 0 }),
        file('s/p/q', 'y'),
      ],
    ],
    [
      L.root(),
      L.d('s', '2775', '0:42'),
      L.d('s/d', '0755', '0:0'),
      L.f('s/f', 'x'),
      L.d('s/p', '0755', '0:0'),
      L.f('s/p/q', 'y'),
    ],
  );
});
