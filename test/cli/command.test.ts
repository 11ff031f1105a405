/** The argument helpers of `src/cli/command.ts` that read files and rebase paths. */
import * as assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readManifestArg, rebasePaths } from '../../src/cli/command.js';
import { isOcikitError } from '../../src/errors.js';
import { tempDir } from '../helpers/tmp.js';

describe('readManifestArg', () => {
  it('reads a file relative to the working directory', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'm.json'), '{}');
    assert.equal((await readManifestArg('m.json', dir, 'manifest file')).toString(), '{}');
  });

  it('refuses a file over the limit, and a device without a size, with MANIFEST_TOO_LARGE', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'big'), 'x'.repeat(11));
    await assert.rejects(
      readManifestArg('big', dir, 'manifest file', 10),
      (e) => isOcikitError(e, 'MANIFEST_TOO_LARGE') && /manifest file big is 11 bytes/.test(e.message),
    );
    await assert.rejects(
      readManifestArg('/dev/zero', dir, 'manifest file', 10),
      (e) => isOcikitError(e, 'MANIFEST_TOO_LARGE') && /is at least 11 bytes/.test(e.message),
    );
  });

  it('reports a missing file as NOT_FOUND', async (t) => {
    const dir = await tempDir(t);
    await assert.rejects(readManifestArg('nope', dir, 'manifest file'), (e) => isOcikitError(e, 'NOT_FOUND'));
  });
});

describe('rebasePaths', () => {
  it('makes relative images and manifest-lists paths absolute against the base', () => {
    const inputs = { images: { path: 'img', data: 1 }, 'manifest-lists': { path: 'lists' }, other: { path: 'x' } };
    assert.deepEqual(rebasePaths(inputs, '/base'), {
      images: { path: '/base/img', data: 1 },
      'manifest-lists': { path: '/base/lists' },
      other: { path: 'x' },
    });
    assert.deepEqual(inputs.images, { path: 'img', data: 1 }, 'the input is not modified');
  });

  it('leaves absolute, empty and non-string paths and non-objects alone', () => {
    const inputs = { images: { path: '/abs' }, 'manifest-lists': { path: '' } };
    assert.deepEqual(rebasePaths(inputs, '/base'), inputs);
    assert.deepEqual(rebasePaths({ images: { path: 3 } }, '/base'), { images: { path: 3 } });
    for (const v of [null, 'x', [1], 3]) assert.deepEqual(rebasePaths(v, '/base'), v);
  });
});
