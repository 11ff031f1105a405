import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ustarHeader } from '../../../src/internal/tar/ustar.js';
import { isOcikitError } from '../../../src/errors.js';
import { UPSTREAM } from '../../helpers/fixtures.js';

const code = (c: string) => (e: unknown) => isOcikitError(e, c as never);
const ARCHIVES = join(UPSTREAM, 'skopeo-observed/archives/');

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
