import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { extractTarSafely } from '../../../src/internal/tar/extract.js';
import { isOcikitError } from '../../../src/errors.js';
import { makeArchive } from '../../helpers/tar.js';
import { tempDir } from '../../helpers/tmp.js';

const code = (c: string) => (e: unknown) => isOcikitError(e, c as never);

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
  it('extracts names that begin with ".." (..data, ..., a/..b) as ordinary names, links between them too', async (t) => {
    const dir = await tempDir(t);
    await makeArchive(join(dir, 'a.tar'), [
      { name: '..data/f', body: 'data' },
      { name: '...', body: 'dots' },
      { name: 'a/..b', body: 'b' },
      { name: 'cfg', type: 'symlink', linkname: '..data/f' },
      { name: 'a/up', type: 'symlink', linkname: '../...' },
    ]);
    await mkdir(join(dir, 'out'));
    await extractTarSafely(join(dir, 'a.tar'), join(dir, 'out'));
    assert.equal(await readFile(join(dir, 'out/..data/f'), 'utf8'), 'data');
    assert.equal(await readFile(join(dir, 'out/...'), 'utf8'), 'dots');
    assert.equal(await readFile(join(dir, 'out/a/..b'), 'utf8'), 'b');
    assert.equal(await readFile(join(dir, 'out/cfg'), 'utf8'), 'data');
    assert.equal(await readFile(join(dir, 'out/a/up'), 'utf8'), 'dots');
  });
  it('refuses garbage as INVALID_INPUT', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'a.tar'), Buffer.alloc(1024, 7));
    await mkdir(join(dir, 'out'));
    await assert.rejects(extractTarSafely(join(dir, 'a.tar'), join(dir, 'out')), code('INVALID_INPUT'));
  });
});
