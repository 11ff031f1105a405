/** Publishing finished work (src/internal/publish.ts): never replacing, keep-or-fail, temporaries. */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { isOcikitError } from '../../src/errors.js';
import { assertAbsent, publishDir, publishFile, syncPath, tempSibling } from '../../src/internal/publish.js';
import { tempDir } from '../helpers/tmp.js';

describe('tempSibling', () => {
  it('names a hidden, unique sibling in the same directory', () => {
    const a = tempSibling('/x/y/dest', 'ocikit');
    const b = tempSibling('/x/y/dest', 'ocikit');
    assert.equal(dirname(a), '/x/y');
    assert.match(basename(a), /^\.dest\.ocikit-[0-9a-f]{12}$/);
    assert.notEqual(a, b);
  });
});

describe('publishFile', () => {
  it('puts the file in place and removes the temporary name', async (t) => {
    const dir = await tempDir(t);
    const tmp = join(dir, '.f.tmp-1');
    await writeFile(tmp, 'new');
    assert.equal(await publishFile(tmp, join(dir, 'f')), 'published');
    assert.equal(await readFile(join(dir, 'f'), 'utf8'), 'new');
    assert.deepEqual(await readdir(dir), ['f']);
  });

  it('never replaces an existing file: EXISTS by default, the temporary kept for the caller', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'f'), 'old');
    const tmp = join(dir, '.f.tmp-1');
    await writeFile(tmp, 'new');
    await assert.rejects(publishFile(tmp, join(dir, 'f')), (e) => isOcikitError(e, 'EXISTS'));
    assert.equal(await readFile(join(dir, 'f'), 'utf8'), 'old');
    assert.equal(await readFile(tmp, 'utf8'), 'new');
  });

  it("with existing: 'keep' the target wins and the temporary is removed", async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'f'), 'old');
    const tmp = join(dir, '.f.tmp-1');
    await writeFile(tmp, 'new');
    assert.equal(await publishFile(tmp, join(dir, 'f'), { existing: 'keep' }), 'existed');
    assert.equal(await readFile(join(dir, 'f'), 'utf8'), 'old');
    assert.deepEqual(await readdir(dir), ['f']);
  });

  it('does not follow or replace a dangling symlink at the target', async (t) => {
    const dir = await tempDir(t);
    await symlink(join(dir, 'elsewhere'), join(dir, 'f'));
    const tmp = join(dir, '.f.tmp-1');
    await writeFile(tmp, 'new');
    await assert.rejects(publishFile(tmp, join(dir, 'f')), (e) => isOcikitError(e, 'EXISTS'));
    assert.deepEqual((await readdir(dir)).sort(), ['.f.tmp-1', 'f']);
  });
});

describe('publishDir', () => {
  it('renames the directory into place', async (t) => {
    const dir = await tempDir(t);
    const tmp = join(dir, '.d.tmp-1');
    await mkdir(tmp);
    await writeFile(join(tmp, 'x'), 'x');
    assert.equal(await publishDir(tmp, join(dir, 'd')), 'published');
    assert.deepEqual(await readdir(join(dir, 'd')), ['x']);
  });

  it('never replaces a directory, not even an empty one (which rename(2) would)', async (t) => {
    const dir = await tempDir(t);
    await mkdir(join(dir, 'd'));
    const tmp = join(dir, '.d.tmp-1');
    await mkdir(tmp);
    await assert.rejects(publishDir(tmp, join(dir, 'd')), (e) => isOcikitError(e, 'EXISTS'));
    assert.deepEqual(await readdir(join(dir, 'd')), []);
    assert.equal(await publishDir(tmp, join(dir, 'd'), { existing: 'keep' }), 'existed');
    assert.deepEqual(await readdir(dir), ['d']);
  });
});

describe('assertAbsent and syncPath', () => {
  it('assertAbsent passes for a missing path and fails with EXISTS naming the path', async (t) => {
    const dir = await tempDir(t);
    await assertAbsent(join(dir, 'none'));
    await writeFile(join(dir, 'f'), '');
    await assert.rejects(
      assertAbsent(join(dir, 'f'), 'destination'),
      (e) => isOcikitError(e, 'EXISTS') && e.message.includes(join(dir, 'f')),
    );
  });

  it('syncPath syncs files and directories, and names a missing path', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'f'), 'x');
    await syncPath(join(dir, 'f'));
    await syncPath(dir);
    await assert.rejects(syncPath(join(dir, 'none')), (e) => isOcikitError(e, 'NOT_FOUND'));
  });
});
