import { describe, it, type TestContext } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, symlink, link, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isOcikitError } from '../../../src/errors.js';
import type { LayerEntry, LayerVisitor } from '../../../src/internal/tar/entry.js';
import { readLayer } from '../../../src/internal/tar/layer-reader.js';
import { type LayerTarEntry, layerTar, paxRecords } from '../../helpers/layer-tar.js';
import { tempDir } from '../../helpers/tmp.js';
import { needTool } from '../../helpers/tools.js';

const code = (c: string) => (e: unknown) => isOcikitError(e, c as never);

/** What both readers report of an entry, in comparable form (bytes as hex). */
interface Seen {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: [number, number];
  linkname: string;
  devmajor: number;
  devminor: number;
  xattrs: [string, string][];
  sha256: string;
}

async function* chunks(buf: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

/** Reads `tar` with our reader, in chunks of `size`, collecting every entry and its content. */
async function ours(
  tar: Buffer,
  size = 64 * 1024,
): Promise<{ seen: Seen[]; entries: LayerEntry[]; endMarker: boolean }> {
  const seen: Seen[] = [];
  const entries: LayerEntry[] = [];
  let hash = createHash('sha256');
  let got = 0;
  const visitor: LayerVisitor = {
    entry(e) {
      entries.push(e);
      hash = createHash('sha256');
      got = 0;
    },
    data(c) {
      hash.update(c);
      got += c.length;
    },
    end() {
      const e = entries[entries.length - 1]!;
      assert.equal(got, e.size, `${e.name} delivers its size`);
      seen.push({
        name: e.name.toString('hex'),
        type: e.type,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        size: e.size,
        mtime: [e.mtime.sec, e.mtime.nsec],
        linkname: e.linkname.toString('hex'),
        devmajor: e.devmajor,
        devminor: e.devminor,
        xattrs: e.xattrs.map((x) => [x.name.toString('hex'), x.value.toString('hex')] as [string, string]).sort(),
        sha256: hash.digest('hex'),
      });
    },
  };
  const r = await readLayer(chunks(tar, size), visitor);
  assert.equal(r.entries, seen.length);
  return { seen, entries, endMarker: r.endMarker };
}

// Python's tarfile as an independent oracle: names as bytes through surrogateescape, the PAX
// mtime string read with Decimal (tarfile itself keeps a float), sparse files expanded.
const PY = String.raw`
import tarfile, sys, json, hashlib, math
from decimal import Decimal
T = {b'0':'file', b'\0':'file', b'S':'file', b'1':'link', b'2':'symlink', b'3':'char', b'4':'block', b'5':'directory', b'6':'fifo'}
enc = lambda s: s.encode('utf-8', 'surrogateescape').hex()
out = []
with tarfile.open(sys.argv[1], 'r:', encoding='utf-8', errors='surrogateescape') as tf:
    for m in tf:
        t = T[m.type]
        pm = m.pax_headers.get('mtime')
        if pm is not None:
            d = Decimal(pm); sec = math.floor(d); nsec = int((d - sec) * 10**9)
        else:
            sec, nsec = int(m.mtime), 0
        h = hashlib.sha256(tf.extractfile(m).read() if m.isreg() else b'').hexdigest()
        xs = sorted([enc(k[13:]), enc(v)] for k, v in m.pax_headers.items() if k.startswith('SCHILY.xattr.') and v != '')
        dev = t in ('char', 'block')
        out.append(dict(name=enc(m.name), type=t, mode=m.mode & 0o7777, uid=m.uid, gid=m.gid,
            size=m.size if m.isreg() else 0, mtime=[sec, nsec],
            linkname=enc(m.linkname) if t in ('link', 'symlink') else '',
            devmajor=m.devmajor if dev else 0, devminor=m.devminor if dev else 0, xattrs=xs, sha256=h))
print(json.dumps(out))
`;

function python(file: string): Seen[] {
  return JSON.parse(execFileSync('python3', ['-c', PY, file], { encoding: 'utf8', maxBuffer: 64 << 20 })) as Seen[];
}

/** Python strips the trailing `/` of directory names; Go (and we) keep the name as stored. */
function comparable(s: Seen[]): Seen[] {
  return s.map((e) => (e.type === 'directory' ? { ...e, name: e.name.replace(/(2f)+$/, '') } : e));
}

async function sameAsPython(t: TestContext, tar: Buffer, dir: string): Promise<Seen[]> {
  const file = join(dir, `a-${Math.random().toString(36).slice(2)}.tar`);
  await writeFile(file, tar);
  const { seen } = await ours(tar);
  assert.deepEqual(comparable(seen), comparable(python(file)));
  for (const size of [tar.length <= 65536 ? 1 : 97, 511, 4099])
    assert.deepEqual((await ours(tar, size)).seen, seen, `chunks of ${size}`);
  t.diagnostic(`${seen.length} entries agree`);
  return seen;
}

const hex = (s: string | Buffer) => Buffer.from(s).toString('hex');
const CAP = Buffer.from('0100000200c0000000000000000000000000000000', 'hex'); // security.capability with 0xc0
const CAFE = Buffer.from([0x63, 0x61, 0x66, 0xe9]);

/** A source tree with what layers hold: long names, links, a non-UTF-8 name, times, xattrs. */
async function sourceTree(root: string, rich: boolean): Promise<void> {
  await mkdir(join(root, 'd/sub'), { recursive: true });
  for (const [n, len] of [
    ['d/empty', 0],
    ['d/one', 1],
    ['d/b511', 511],
    ['d/b512', 512],
    ['d/b513', 513],
    ['d/big', 300_000],
  ] as const)
    await writeFile(join(root, n), Buffer.alloc(len, n));
  await symlink('one', join(root, 'd/sym'));
  await link(join(root, 'd/one'), join(root, 'd/hard'));
  execFileSync('touch', ['-m', '-d', '@1700000000.123456789', join(root, 'd/one')]);
  if (!rich) return;
  const long = `${'x'.repeat(120)}/${'y'.repeat(150)}`;
  await mkdir(join(root, long), { recursive: true });
  await writeFile(join(root, long, 'z'.repeat(100)), 'deep');
  await symlink('t'.repeat(180), join(root, 'd/longlink'));
  await writeFile(Buffer.from(`${root}/d/${CAFE.toString('latin1')}`, 'latin1'), 'cafe');
  await writeFile(join(root, 'd/old'), 'old');
  execFileSync('touch', ['-d', '1960-01-01 00:00:00.5 UTC', join(root, 'd/old')]);
  execFileSync('mkfifo', [join(root, 'd/fifo')]);
  await writeFile(join(root, 'd/xattr'), 'x');
  execFileSync('setfattr', ['-n', 'user.bin', '-v', `0x${CAP.toString('hex')}`, join(root, 'd/xattr')]);
  execFileSync('setfattr', ['-n', 'user.text', '-v', `0x${CAFE.toString('hex')}`, join(root, 'd/xattr')]);
  if (process.getuid?.() === 0) execFileSync('mknod', [join(root, 'd/null'), 'c', '1', '3']);
}

function gnuTar(args: string[]): Buffer {
  return execFileSync('tar', args, { maxBuffer: 256 << 20 });
}

describe('readLayer against GNU tar and Python tarfile', () => {
  for (const format of ['gnu', 'posix', 'ustar', 'v7'] as const) {
    it(`reads --format=${format} as Python does`, async (t) => {
      if (!needTool(t, 'tar', 'python3', 'setfattr')) return;
      const dir = await tempDir(t);
      const rich = format === 'gnu' || format === 'posix';
      await sourceTree(join(dir, 'src'), rich);
      const extra = rich ? ['--xattrs', '--xattrs-include=*', '--owner=:3000000', '--group=:4000000'] : [];
      const tar = gnuTar([`--format=${format}`, ...extra, '-cf', '-', '-C', join(dir, 'src'), '.']);
      const seen = await sameAsPython(t, tar, dir);
      const by = new Map(seen.map((s) => [Buffer.from(s.name, 'hex').toString('latin1'), s]));
      assert.ok(seen.some((s) => s.type === 'link'));
      assert.equal(by.get('./d/one')?.mtime[0], 1_700_000_000);
      if (format === 'posix') assert.deepEqual(by.get('./d/one')?.mtime, [1_700_000_000, 123456789]);
      if (!rich) return;
      assert.equal(by.get('./d/xattr')?.uid, 3_000_000, 'a uid above 2097151');
      // GNU tar writes PAX records for xattrs even with --format=gnu (and then sub-second times).
      assert.deepEqual(by.get('./d/xattr')?.xattrs, [
        [hex('user.bin'), CAP.toString('hex')],
        [hex('user.text'), CAFE.toString('hex')],
      ]);
      assert.ok(by.has(`./d/${CAFE.toString('latin1')}`), 'the name caf\\xe9 as bytes');
      assert.deepEqual(by.get('./d/old')?.mtime, [-315619200, 500000000]);
      assert.equal(by.get('./d/longlink')?.linkname, hex('t'.repeat(180)));
    });
  }

  it('expands sparse files of every GNU tar flavour to their real content', async (t) => {
    if (!needTool(t, 'tar', 'python3')) return;
    const dir = await tempDir(t);
    const src = join(dir, 'src');
    await mkdir(src);
    // Many fragments (GNU old sparse needs extension blocks past 4), a trailing hole, a leading
    // hole, and a file that is all hole.
    const f = await open(join(src, 'many'), 'w');
    for (let i = 0; i < 30; i++) await f.write(Buffer.alloc(700, i + 1), 0, 700, i * 65536 + 4096);
    await f.truncate(40 * 65536);
    await f.close();
    const g = await open(join(src, 'tail'), 'w');
    await g.write(Buffer.from('end'), 0, 3, 3_000_000);
    await g.close();
    execFileSync('truncate', ['-s', '5M', join(src, 'holes')]);
    const want = new Map<string, string>();
    for (const n of ['many', 'tail', 'holes'])
      want.set(
        n,
        createHash('sha256')
          .update(await readFile(join(src, n)))
          .digest('hex'),
      );
    for (const args of [
      ['--format=gnu'],
      ['--format=posix', '--sparse-version=0.0'],
      ['--format=posix', '--sparse-version=0.1'],
      ['--format=posix', '--sparse-version=1.0'],
    ]) {
      const tar = gnuTar(['-S', ...args, '-cf', '-', '-C', src, 'many', 'tail', 'holes']);
      const seen = await sameAsPython(t, tar, dir);
      assert.deepEqual(
        seen.map((s) => [Buffer.from(s.name, 'hex').toString(), s.sha256]),
        [...want],
        `${args.join(' ')}: real names and contents`,
      );
      assert.equal(seen[0]!.size, 40 * 65536);
    }
  });
});

describe('readLayer on exact layers', () => {
  it('keeps a binary security.capability value and a non-UTF-8 name byte for byte (R11)', async (t) => {
    const dir = await tempDir(t);
    const tar = layerTar([
      { name: CAFE, content: 'x', xattrs: [['security.capability', CAP]] },
      { name: 'l', type: 'symlink', linkname: Buffer.from([0xff, 0x2f, 0xc0]) },
    ]);
    const [a, b] = await sameAsPython(t, tar, dir);
    assert.equal(a!.name, CAFE.toString('hex'));
    assert.deepEqual(a!.xattrs, [[hex('security.capability'), CAP.toString('hex')]]);
    assert.equal(b!.linkname, 'ff2fc0');
  });

  it('applies PAX uid, gid, size and sub-second mtime and atime; base-256 numbers', async (t) => {
    const dir = await tempDir(t);
    const tar = layerTar([
      { name: 'pax', uid: 3_000_000, gid: 2_097_152, mtime: { sec: 1_600_000_000, nsec: 1 }, content: 'p' },
      { name: 'b256', format: 'gnu', base256: true, uid: 5, gid: 9_000_000_000, mtime: -1, content: 'q' },
      { name: 'frac', pax: { mtime: '-1.25', atime: '7.1234567891' } },
      { name: 'big', format: 'gnu', uid: 1 << 30, content: Buffer.alloc(3000, 1) },
    ]);
    const seen = await sameAsPython(t, tar, dir);
    assert.deepEqual(
      seen.map((s) => [s.uid, s.gid, s.mtime]),
      [
        [3_000_000, 2_097_152, [1_600_000_000, 1]],
        [5, 9_000_000_000, [-1, 0]],
        [0, 0, [-2, 750_000_000]],
        [1 << 30, 0, [0, 0]],
      ],
    );
    const { entries } = await ours(tar);
    assert.deepEqual(entries[2]!.atime, { sec: 7, nsec: 123456789 }, 'fractions past 9 digits are cut');
  });

  it('takes a GNU long name over a GNU header whose prefix area holds atime and ctime', async (t) => {
    const dir = await tempDir(t);
    const long = `${'a'.repeat(60)}/${'b'.repeat(60)}`;
    const tar = layerTar([
      // A GNU header keeps atime/ctime where USTAR has `prefix`: never glue them to the name.
      { name: long, format: 'gnu', content: 'g', patch: (h) => h.write('14000000000\0', 345, 'latin1') },
      { name: `${'p'.repeat(120)}/name`, format: 'ustar', content: 'u' },
    ]);
    const seen = await sameAsPython(t, tar, dir);
    assert.equal(Buffer.from(seen[0]!.name, 'hex').toString(), long);
    assert.equal(Buffer.from(seen[1]!.name, 'hex').toString(), `${'p'.repeat(120)}/name`);
    // Here Python's tarfile glues the atime digits on as a prefix (it decides by type, not by
    // magic); Go (golang/go archive/tar reader.go) reads no prefix from a GNU header, nor do we.
    const gnu = layerTar([{ name: 'short', format: 'gnu', patch: (h) => h.write('14000000000\0', 345, 'latin1') }]);
    assert.equal((await ours(gnu)).entries[0]!.name.toString(), 'short');
  });

  it('ignores a global header, and a GNU long name wins over a PAX path', async () => {
    const tar = layerTar([
      { name: 'g', typeflag: 'g', content: paxRecords({ path: 'evil', uid: '7', comment: 'c' }) },
      { name: 'plain', content: 'x' },
      { name: 'h', format: 'gnu', pax: { path: 'from-pax' }, content: 'y' },
      { name: 'z'.repeat(150), format: 'gnu', pax: { path: 'from-pax' } },
    ]);
    const { seen } = await ours(tar);
    assert.deepEqual(
      seen.map((s) => [Buffer.from(s.name, 'hex').toString(), s.uid]),
      [
        ['plain', 0],
        ['from-pax', 0],
        ['z'.repeat(150), 0],
      ],
    );
  });

  it('keeps the header value where a PAX record is empty, as Go does', async () => {
    const tar = layerTar([{ name: 'kept', uid: 5, pax: { path: '', uid: '', 'SCHILY.xattr.user.e': '' } }]);
    const { seen } = await ours(tar);
    assert.deepEqual(
      seen.map((s) => [Buffer.from(s.name, 'hex').toString(), s.uid, s.xattrs]),
      [['kept', 5, []]],
    );
  });

  it('reads V7 and NUL-type directories, header-only types with a size field, signed checksums', async (t) => {
    const dir = await tempDir(t);
    const tar = layerTar([
      { name: 'olddir/', typeflag: '\0', format: 'v7' },
      { name: 'oldfile', typeflag: '\0', format: 'v7', content: 'v7', checksum: 'signed', uname: 'x' },
      { name: 'hl', type: 'link', linkname: 'oldfile', size: 5000 },
      { name: 'dev', type: 'block', devmajor: 8, devminor: 1, mode: 0o4755 },
      { name: Buffer.from([0x80, 0xfe]), content: 'hi', checksum: 'signed' },
      // Type '0' (not NUL) with a trailing '/' stays a file, as in Go and Python.
      { name: 'notdir/', content: '' },
    ]);
    const seen = await sameAsPython(t, tar, dir);
    assert.deepEqual(
      seen.map((s) => [s.type, s.size, s.devmajor, s.mode]),
      [
        ['directory', 0, 0, 0o644],
        ['file', 2, 0, 0o644],
        ['link', 0, 0, 0o644],
        ['block', 0, 8, 0o4755],
        ['file', 2, 0, 0o644],
        ['file', 0, 0, 0o644],
      ],
    );
    assert.equal(seen[0]!.name, hex('olddir/'), 'the name as stored');
  });
});

describe('readLayer refusals', () => {
  const file: LayerTarEntry = { name: 'f', content: Buffer.alloc(2000, 7) };
  const whole = layerTar([file, { name: 'g', content: 'x' }]);
  const read = (tar: Buffer) => ours(tar);

  it('accepts a clean EOF at a header boundary without end blocks', async () => {
    assert.deepEqual((await read(layerTar([file], { end: false }))).endMarker, false);
    assert.deepEqual((await read(whole)).endMarker, true);
  });

  it('refuses a truncated archive with the entry offset', async () => {
    for (const cut of [600, 1100, 2560 + 100])
      await assert.rejects(read(whole.subarray(0, cut)), (e: unknown) => {
        assert.ok(code('INVALID_INPUT')(e));
        assert.match((e as Error).message, cut < 2560 ? /offset 0\)/ : /offset 2560\)/);
        return true;
      });
    // An extended header with no entry after it.
    const x = layerTar([{ name: 'n'.repeat(200) }], { end: false }).subarray(0, 1024);
    await assert.rejects(read(x), code('INVALID_INPUT'));
  });

  it('refuses a checksum mismatch, a non-zero block after a zero block, bad PAX records', async () => {
    await assert.rejects(read(layerTar([{ ...file, checksum: 'bad' }])), /checksum/);
    await assert.rejects(read(Buffer.concat([Buffer.alloc(512), whole])), /zero block/);
    for (const bad of ['5 a=b\n', '7 a=b\n', '6 ab\n\n', '06 =b\n', 'x', '3 a\n'])
      await assert.rejects(
        read(layerTar([{ name: 'p', typeflag: 'x', content: bad }, file])),
        code('INVALID_INPUT'),
        JSON.stringify(bad),
      );
    await assert.rejects(read(layerTar([{ ...file, pax: { uid: 'x1' } }])), code('INVALID_INPUT'));
    await assert.rejects(read(layerTar([{ ...file, pax: { path: 'a\0b' } }])), code('INVALID_INPUT'));
    await assert.rejects(
      read(layerTar([{ ...file, pax: { comment: 'c'.repeat(1 << 20) } }])),
      /exceeds the limit/,
      'records over 1 MiB',
    );
  });

  it('refuses type 7 and unknown types as UNSUPPORTED', async () => {
    for (const typeflag of ['7', 'X', 'V', 'D'])
      await assert.rejects(read(layerTar([{ name: 'c', typeflag, content: 'z' }])), code('UNSUPPORTED'));
  });

  it('refuses sparse maps that do not fit the data', async () => {
    const pax = { 'GNU.sparse.major': '0', 'GNU.sparse.minor': '1', 'GNU.sparse.numblocks': '1' };
    for (const map of ['0,5', '10,1', '0,3,1,1', '-1,4'])
      await assert.rejects(
        read(
          layerTar([{ name: 's', content: 'abcd', pax: { ...pax, 'GNU.sparse.map': map, 'GNU.sparse.size': '8' } }]),
        ),
        code('INVALID_INPUT'),
        map,
      );
  });
});

describe('readLayer streaming', () => {
  it('stops after the end blocks without pulling or ending the rest of the source', async () => {
    const tar = layerTar([{ name: 'a', content: 'x' }], { trailing: Buffer.alloc(100, 1) });
    let pulled = 0;
    let ended = false;
    const parts = [tar, Buffer.from('junk'), Buffer.from('more')];
    const source: AsyncIterable<Buffer> = {
      [Symbol.asyncIterator]: () => ({
        next: async () =>
          pulled < parts.length ? { done: false, value: parts[pulled++]! } : { done: true, value: undefined },
        return: async () => {
          ended = true;
          return { done: true, value: undefined };
        },
      }),
    };
    const visitor: LayerVisitor = { entry() {}, data() {}, end() {} };
    const r = await readLayer(source, visitor);
    assert.deepEqual([r.entries, r.endMarker, pulled, ended], [1, true, 1, false]);
  });

  it('hands out content as subarrays of the chunk with no microtask turn between entries', async () => {
    const entries = Array.from({ length: 50 }, (_, i) => ({ name: `f${i}`, content: Buffer.alloc(i * 37, i) }));
    const tar = layerTar(entries);
    let turns = 0;
    let started = false;
    let calls = 0;
    const visitor: LayerVisitor = {
      entry() {
        if (!started) {
          started = true;
          // Counts every microtask turn that happens while the chunk is parsed.
          const tick = () => {
            turns++;
            if (turns < 1000) queueMicrotask(tick);
          };
          queueMicrotask(tick);
        }
        assert.equal(turns, 0);
        calls++;
      },
      data(c) {
        assert.equal(c.buffer, tar.buffer, 'no copy');
        assert.equal(turns, 0);
      },
      end() {
        assert.equal(turns, 0);
      },
    };
    async function* one() {
      yield tar;
    }
    await readLayer(one(), visitor);
    assert.equal(calls, 50);
  });

  it('awaits a visitor that returns promises, in order, the chunk still valid', async () => {
    const tar = layerTar([
      { name: 'a', content: Buffer.alloc(3000, 1) },
      { name: 'b', content: Buffer.alloc(10, 2) },
    ]);
    const log: string[] = [];
    let busy = false;
    const slow = (what: string) => {
      assert.equal(busy, false, `${what} called while a promise is pending`);
      busy = true;
      log.push(what);
      return new Promise<void>((res) =>
        setTimeout(() => {
          busy = false;
          res();
        }, 1),
      );
    };
    const visitor: LayerVisitor = {
      entry: (e) => slow(`entry ${e.name}`),
      data: (c) => slow(`data ${c.length} ${c[0]}`),
      end: () => slow('end'),
    };
    await readLayer(chunks(tar, 1000), visitor);
    assert.deepEqual(log, [
      'entry a',
      'data 488 1',
      'data 1000 1',
      'data 1000 1',
      'data 512 1',
      'end',
      'entry b',
      'data 10 2',
      'end',
    ]);
  });
});
