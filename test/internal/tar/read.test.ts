import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { detectCompression, readTarEntries, safeEntrySegments } from '../../../src/internal/tar/read.js';
import { isOcikitError } from '../../../src/errors.js';
import { makeArchive } from '../../helpers/tar.js';
import { tempDir } from '../../helpers/tmp.js';

const code = (c: string) => (e: unknown) => isOcikitError(e, c as never);

describe('safeEntrySegments', () => {
  const ok: [string, string[]][] = [
    ['./blobs/sha256/x', ['blobs', 'sha256', 'x']],
    ['blobs/', ['blobs']],
    ['.', []],
    ['a/./b', ['a', 'b']],
    // Names that begin with ".." are names (Kubernetes configmaps keep their files under "..data").
    ['..data', ['..data']],
    ['..data/out', ['..data', 'out']],
    ['...', ['...']],
    ['..foo/bar', ['..foo', 'bar']],
    ['a/..b', ['a', '..b']],
    ['./..data/', ['..data']],
  ];
  for (const [n, want] of ok) it(`normalises ${n}`, () => assert.deepEqual(safeEntrySegments(n), want));
  for (const n of ['/abs', '../x', 'a/../../b', 'a\0b', '..', 'a/../b', 'a/..', '/..data'])
    it(`refuses ${JSON.stringify(n)}`, () => assert.throws(() => safeEntrySegments(n), code('UNSAFE_PATH')));
});

describe('readTarEntries', () => {
  it('hands out every entry in order, plain or gzip-compressed, draining unread bodies', async (t) => {
    const dir = await tempDir(t);
    await makeArchive(join(dir, 'a.tar'), [
      { name: 'd', type: 'directory' },
      { name: 'd/f', body: 'data' },
      { name: 'skipped', body: 'not read' },
      { name: 'l', type: 'symlink', linkname: 'd/f' },
    ]);
    await writeFile(join(dir, 'a.tar.gz'), gzipSync(await readFile(join(dir, 'a.tar'))));
    for (const f of ['a.tar', 'a.tar.gz']) {
      const seen: string[] = [];
      await readTarEntries(join(dir, f), async (h, body) => {
        let text = '';
        if (h.name === 'd/f') for await (const c of body) text += c.toString();
        seen.push(`${h.type}:${h.name}${text ? `=${text}` : ''}${h.linkname ? `->${h.linkname}` : ''}`);
      });
      assert.deepEqual(seen, ['directory:d', 'file:d/f=data', 'file:skipped', 'symlink:l->d/f'], f);
    }
    assert.equal(await detectCompression(join(dir, 'a.tar.gz')), 'gzip');
    assert.equal(await detectCompression(join(dir, 'a.tar')), 'none');
  });
  it('stops with the error the handler throws', async (t) => {
    const dir = await tempDir(t);
    await makeArchive(join(dir, 'a.tar'), [{ name: '../x', body: 'x' }]);
    await assert.rejects(
      readTarEntries(join(dir, 'a.tar'), async (h) => {
        safeEntrySegments(h.name);
      }),
      code('UNSAFE_PATH'),
    );
  });
  it('refuses zstd as UNSUPPORTED and a missing file as NOT_FOUND', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'a.tar.zst'), Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0]));
    await assert.rejects(
      readTarEntries(join(dir, 'a.tar.zst'), async () => {}),
      code('UNSUPPORTED'),
    );
    await assert.rejects(
      readTarEntries(join(dir, 'none.tar'), async () => {}),
      code('NOT_FOUND'),
    );
  });
  it('reports an aborted read as INTERRUPTED', async (t) => {
    const dir = await tempDir(t);
    await makeArchive(join(dir, 'a.tar'), [{ name: 'f', body: 'x' }]);
    await assert.rejects(
      readTarEntries(join(dir, 'a.tar'), async () => {}, { signal: AbortSignal.abort() }),
      code('INTERRUPTED'),
    );
  });
});
