/**
 * The lock file: what the writer writes the reader reads back; every malformed lock is refused
 * with an `INVALID_INPUT` naming the file and the field; a missing one is `NOT_FOUND`.
 */
import * as assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isOcikitError } from '../../src/errors.js';
import type { Digest } from '../../src/model/digest.js';
import { type LockFile, lockOf, parseLockFile, readLockFile, writeLockFile } from '../../src/resolve/lock.js';
import type { ResolvedSpec } from '../../src/resolve/resolve.js';
import { tempDir } from '../helpers/tmp.js';

const D = (c: string) => `sha256:${c.repeat(64)}` as Digest;
const SPEC: ResolvedSpec = {
  ref: 'quay.io/a/b:1',
  source: 'quay.io/a/b',
  name: 'quay.io/a/b:1',
  digest: D('1'),
  imageId: D('2'),
  listDigest: D('3'),
  platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
  arch: 'aarch64',
  tlsVerify: null,
  localStorage: false,
};
const LOCK: LockFile = lockOf(
  { arch: 'aarch64', specs: [SPEC, { ...SPEC, ref: 'x', listDigest: null, tlsVerify: false }] },
  new Date(0),
);

describe('lock files', () => {
  it('reads back what writeLockFile wrote', async (t) => {
    const file = join(await tempDir(t), 'lock.json');
    await writeLockFile(file, LOCK);
    assert.deepEqual(await readLockFile(file), LOCK);
  });

  const cases: [string, (l: Record<string, unknown>) => unknown, RegExp][] = [
    ['not an object', () => [], /must be a JSON object, not an array/],
    [
      'another version',
      (l) => ({ ...l, version: 2 }),
      /"version" must be 1 \(the version this ocikit reads\), not the number 2/,
    ],
    ['no version', (l) => ({ ...l, version: undefined }), /"version" must be 1 .*, not missing/],
    ['an unknown key', (l) => ({ ...l, extra: 1 }), /unknown key "extra"/],
    ['no arch', (l) => ({ ...l, arch: '' }), /"arch" must be a non-empty string/],
    ['a bad time', (l) => ({ ...l, resolved: 'yesterday' }), /"resolved" must be an ISO 8601 time/],
    ['specs not an array', (l) => ({ ...l, specs: {} }), /"specs" must be an array/],
    ['a spec that is not an object', (l) => ({ ...l, specs: [1] }), /specs\[0\] must be an object/],
    [
      'a bad digest',
      (l) => ({ ...l, specs: [{ ...SPEC, digest: 'sha256:12' }] }),
      /specs\[0\]\.digest must be a sha256 digest/,
    ],
    [
      'a bad list digest',
      (l) => ({ ...l, specs: [{ ...SPEC, listDigest: 'x' }] }),
      /specs\[0\]\.listDigest must be a sha256 digest or null/,
    ],
    ['an unknown spec key', (l) => ({ ...l, specs: [{ ...SPEC, extra: true }] }), /specs\[0\]: unknown key "extra"/],
    ['no platform', (l) => ({ ...l, specs: [{ ...SPEC, platform: null }] }), /specs\[0\]\.platform must be an object/],
    [
      'a platform key',
      (l) => ({ ...l, specs: [{ ...SPEC, platform: { ...SPEC.platform, cpu: 'x' } }] }),
      /platform: unknown key "cpu"/,
    ],
    ['tlsVerify', (l) => ({ ...l, specs: [{ ...SPEC, tlsVerify: 'no' }] }), /tlsVerify must be true, false or null/],
    ['localStorage', (l) => ({ ...l, specs: [{ ...SPEC, localStorage: 0 }] }), /localStorage must be a boolean/],
    ['an empty ref', (l) => ({ ...l, specs: [{ ...SPEC, ref: '' }] }), /specs\[0\]\.ref must be a non-empty string/],
  ];
  for (const [what, make, message] of cases) {
    it(`refuses ${what}`, () => {
      const doc = JSON.parse(JSON.stringify(make(JSON.parse(JSON.stringify(LOCK)))) ?? 'null');
      assert.throws(
        () => parseLockFile(doc, 'L.json'),
        (e) =>
          isOcikitError(e, 'INVALID_INPUT') && e.message.startsWith('lock file L.json: ') && message.test(e.message),
      );
    });
  }

  it('refuses a file that is not JSON (INVALID_INPUT) and a missing file (NOT_FOUND)', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'bad.json'), '{"version": 1,');
    await assert.rejects(
      readLockFile(join(dir, 'bad.json')),
      (e) => isOcikitError(e, 'INVALID_INPUT') && /invalid JSON/.test(e.message),
    );
    await assert.rejects(readLockFile(join(dir, 'none.json')), (e) => isOcikitError(e, 'NOT_FOUND'));
  });
});
