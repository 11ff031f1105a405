import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { withOciArchive } from '../../../src/transports/oci-archive/read.js';
import { isOcikitError } from '../../../src/errors.js';
import { type Entry, makeArchive } from '../../helpers/tar.js';
import { tempDir } from '../../helpers/tmp.js';

const code = (c: string) => (e: unknown) => isOcikitError(e, c as never);
const ARCHIVES = fileURLToPath(
  new URL('../../../../test/fixtures/upstream/skopeo-observed/archives/', import.meta.url),
);
const SKOPEO_DIGEST = 'sha256:769cbe45eb0457a8e090a7a763a535a119f3ed511403ee8172b3834581533367';

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
