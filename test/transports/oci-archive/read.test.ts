import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import tar from 'tar-stream';
import { withOciArchive } from '../../../src/transports/oci-archive/read.js';
import { extractTarSafely, safeEntrySegments, ustarHeader } from '../../../src/internal/tar/tar.js';
import { isOcikitError } from '../../../src/errors.js';
import { tempDir } from '../../helpers/tmp.js';

const code = (c: string) => (e: unknown) => isOcikitError(e, c as never);
const ARCHIVES = fileURLToPath(
  new URL('../../../../test/fixtures/upstream/skopeo-observed/archives/', import.meta.url),
);
const SKOPEO_DIGEST = 'sha256:769cbe45eb0457a8e090a7a763a535a119f3ed511403ee8172b3834581533367';

type Entry = {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'fifo';
  body?: string;
  linkname?: string;
};

async function makeArchive(file: string, entries: readonly Entry[]): Promise<void> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((res) => pack.on('end', () => res()));
  for (const e of entries) {
    const body = e.body ?? '';
    const header = {
      name: e.name,
      type: e.type ?? 'file',
      size: e.type && e.type !== 'file' ? 0 : body.length,
      linkname: e.linkname ?? '',
      mode: 0o644,
    } as const;
    if (e.type && e.type !== 'file') pack.entry(header);
    else pack.entry(header, body);
  }
  pack.finalize();
  await done;
  await writeFile(file, Buffer.concat(chunks));
}

describe('withOciArchive', () => {
  it('lends the extracted layout with the reader, and removes it afterwards', async (t) => {
    const tmp = await tempDir(t);
    let seen = '';
    const digest = await withOciArchive(
      join(ARCHIVES, 'oci-archive.tar'),
      async (r, layout) => {
        seen = layout;
        assert.ok(layout.startsWith(tmp), layout);
        assert.deepEqual((await readdir(layout)).sort(), ['blobs', 'index.json', 'oci-layout']);
        return r.manifest.digest;
      },
      { tmpdir: tmp },
    );
    assert.equal(digest, SKOPEO_DIGEST);
    assert.ok(seen);
    assert.deepEqual(await readdir(tmp), []);
  });

  for (const f of ['oci-archive.tar', 'oci-archive-dotslash-entries.tar', 'oci-archive.tar.gz']) {
    it(`reads skopeo's ${f}`, async (t) => {
      const tmp = await tempDir(t);
      const digest = await withOciArchive(join(ARCHIVES, f), async (r) => r.manifest.digest, { tmpdir: tmp });
      assert.equal(digest, SKOPEO_DIGEST);
      assert.deepEqual(await readdir(tmp), [], 'the extraction is removed');
    });
  }

  it('removes the extraction when the callback throws', async (t) => {
    const tmp = await tempDir(t);
    await assert.rejects(
      withOciArchive(
        join(ARCHIVES, 'oci-archive.tar'),
        async () => {
          throw new Error('boom');
        },
        { tmpdir: tmp },
      ),
      /boom/,
    );
    assert.deepEqual(await readdir(tmp), []);
  });

  it('reports a missing extraction directory as NOT_FOUND naming it, not as a raw ENOENT', async (t) => {
    const tmp = join(await tempDir(t), 'no-such-tmp');
    await assert.rejects(
      withOciArchive(join(ARCHIVES, 'oci-archive.tar'), async () => 0, { tmpdir: tmp }),
      (e: Error & { code: string }) => {
        assert.equal(e.name, 'OcikitError');
        assert.equal(e.code, 'NOT_FOUND');
        assert.ok(e.message.includes(tmp), e.message);
        return true;
      },
    );
  });

  it('refuses a tar without index.json as INVALID_INPUT', async (t) => {
    const dir = await tempDir(t);
    await makeArchive(join(dir, 'a.tar'), [{ name: 'hello.txt', body: 'hi' }]);
    await assert.rejects(
      withOciArchive(join(dir, 'a.tar'), async () => 0, { tmpdir: dir }),
      code('INVALID_INPUT'),
    );
  });

  const hostile: [string, Entry[]][] = [
    ['a ../ entry', [{ name: '../escape.txt', body: 'x' }]],
    ['a nested .. entry', [{ name: 'blobs/../../escape.txt', body: 'x' }]],
    ['an absolute entry', [{ name: '/tmp/ocikit-escape.txt', body: 'x' }]],
    ['a symlink out', [{ name: 'blobs', type: 'symlink', linkname: '/etc' }]],
    ['a relative symlink out', [{ name: 'x', type: 'symlink', linkname: '../../x' }]],
    [
      'a write through a symlink',
      [
        { name: 'd', type: 'symlink', linkname: '.' },
        { name: 'd/f', body: 'x' },
      ],
    ],
    ['a hard link out', [{ name: 'h', type: 'link', linkname: '/etc/passwd' }]],
    // Each link is inside by itself; together they climb out (d/l is the root, so d/l/.. is its parent).
    [
      'a symlink out through another symlink',
      [
        { name: 'd/', type: 'directory' },
        { name: 'd/l', type: 'symlink', linkname: '..' },
        { name: 'x', type: 'symlink', linkname: 'd/l/..' },
      ],
    ],
    [
      'a dangling symlink out through another symlink',
      [
        { name: 'd/', type: 'directory' },
        { name: 'd/l', type: 'symlink', linkname: '..' },
        { name: 'x', type: 'symlink', linkname: 'd/l/../no-such-dir/f' },
      ],
    ],
    [
      'a symlink out through a later symlink',
      [
        { name: 'd/', type: 'directory' },
        { name: 'x', type: 'symlink', linkname: 'd/l/..' },
        { name: 'd/l', type: 'symlink', linkname: '..' },
      ],
    ],
    // link(2) copies the symlink d/l -> .. to the root, where ".." is the parent of the extraction.
    [
      'a hard link to a symlink',
      [
        { name: 'd/', type: 'directory' },
        { name: 'd/l', type: 'symlink', linkname: '..' },
        { name: 'l', type: 'link', linkname: 'd/l' },
      ],
    ],
    ['a device file', [{ name: 'dev', type: 'character-device' }]],
    ['a fifo', [{ name: 'fifo', type: 'fifo' }]],
  ];
  for (const [label, entries] of hostile) {
    it(`refuses an archive with ${label} (UNSAFE_PATH), leaving nothing`, async (t) => {
      const dir = await tempDir(t);
      const tmp = join(dir, 'tmp');
      await mkdir(tmp);
      await makeArchive(join(dir, 'a.tar'), [{ name: 'index.json', body: '{}' }, ...entries]);
      await assert.rejects(
        withOciArchive(join(dir, 'a.tar'), async () => 0, { tmpdir: tmp }),
        code('UNSAFE_PATH'),
      );
      assert.deepEqual(await readdir(tmp), []);
      assert.deepEqual((await readdir(dir)).sort(), ['a.tar', 'tmp']);
    });
  }

  it('refuses a bzip2 archive as UNSUPPORTED', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'a.tar.bz2'), Buffer.from('BZh91AY&SY'));
    await assert.rejects(
      withOciArchive(join(dir, 'a.tar.bz2'), async () => 0, { tmpdir: dir }),
      code('UNSUPPORTED'),
    );
  });
});

describe('extractTarSafely', () => {
  it('creates links that stay inside', async (t) => {
    const dir = await tempDir(t);
    await makeArchive(join(dir, 'a.tar'), [
      { name: 'd/f', body: 'data' },
      { name: 'd/hard', type: 'link', linkname: 'd/f' },
      { name: 'd/soft', type: 'symlink', linkname: 'f' },
      { name: 'd/up', type: 'symlink', linkname: '../d/./f' },
      { name: 'dangling', type: 'symlink', linkname: 'd/none/../x' },
    ]);
    await mkdir(join(dir, 'out'));
    await extractTarSafely(join(dir, 'a.tar'), join(dir, 'out'));
    assert.equal(await readFile(join(dir, 'out/d/hard'), 'utf8'), 'data');
    assert.equal(await readFile(join(dir, 'out/d/soft'), 'utf8'), 'data');
    assert.equal(await readFile(join(dir, 'out/d/up'), 'utf8'), 'data');
    assert.equal(await readlink(join(dir, 'out/dangling')), 'd/none/../x');
  });
  it('refuses garbage as INVALID_INPUT', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'a.tar'), Buffer.alloc(1024, 7));
    await mkdir(join(dir, 'out'));
    await assert.rejects(extractTarSafely(join(dir, 'a.tar'), join(dir, 'out')), code('INVALID_INPUT'));
  });
});

describe('safeEntrySegments', () => {
  const ok: [string, string[]][] = [
    ['./blobs/sha256/x', ['blobs', 'sha256', 'x']],
    ['blobs/', ['blobs']],
    ['.', []],
    ['a/./b', ['a', 'b']],
  ];
  for (const [n, want] of ok) it(`normalises ${n}`, () => assert.deepEqual(safeEntrySegments(n), want));
  for (const n of ['/abs', '../x', 'a/../../b', 'a\0b'])
    it(`refuses ${JSON.stringify(n)}`, () => assert.throws(() => safeEntrySegments(n), code('UNSAFE_PATH')));
});

describe('ustarHeader', () => {
  it('reproduces the header skopeo 1.9.3 wrote for index.json', async () => {
    const tarBytes = await readFile(join(ARCHIVES, 'oci-archive.tar'));
    const at = tarBytes.indexOf(Buffer.from('index.json\0'));
    const theirs = tarBytes.subarray(at, at + 512);
    const size = parseInt(theirs.subarray(124, 135).toString('latin1'), 8);
    const mtime = parseInt(theirs.subarray(136, 147).toString('latin1'), 8);
    assert.deepEqual(ustarHeader({ name: 'index.json', type: 'file', size, mode: 0o644, mtime }), theirs);
  });
  it('reproduces a directory header', async () => {
    const tarBytes = await readFile(join(ARCHIVES, 'oci-archive.tar'));
    const theirs = tarBytes.subarray(0, 512);
    const mtime = parseInt(theirs.subarray(136, 147).toString('latin1'), 8);
    assert.deepEqual(ustarHeader({ name: 'blobs/', type: 'dir', size: 0, mode: 0o755, mtime }), theirs);
  });
  it('refuses a name longer than 100 bytes', () =>
    assert.throws(
      () => ustarHeader({ name: 'x'.repeat(101), type: 'file', size: 0, mode: 0o644, mtime: 0 }),
      code('UNSUPPORTED'),
    ));
});
