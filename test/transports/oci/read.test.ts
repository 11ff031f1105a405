import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import {
  OCI_LAYOUT_FILE,
  ociBlobPath,
  openOciLayout,
  parseIndexJson,
  resolveIndexEntry,
} from '../../../src/transports/oci/read.js';
import { isOcikitError } from '../../../src/errors.js';
import type { Digest } from '../../../src/model/digest.js';

const code = (c: string) => (e: unknown) => isOcikitError(e, c as never);
const FIX = fileURLToPath(new URL('../../../../test/fixtures/upstream/', import.meta.url));
const layoutFixture = (name: string) => join(FIX, 'containers-image/oci/layout/fixtures', name);
const observed = (name: string) => join(FIX, 'skopeo-observed/layouts', name);
const entriesOf = async (dir: string) => parseIndexJson(await readFile(join(dir, 'index.json')), dir);

describe('OCI_LAYOUT_FILE', () => {
  it('is what skopeo 1.9.3 writes', async () => {
    assert.equal(OCI_LAYOUT_FILE, await readFile(join(observed('oci-two-refs'), 'oci-layout'), 'utf8'));
  });
});

describe('ociBlobPath', () => {
  it('is blobs/sha256/<hex>', () =>
    assert.equal(ociBlobPath('/l', `sha256:${'b'.repeat(64)}` as Digest), `/l/blobs/sha256/${'b'.repeat(64)}`));
  it('refuses a non-digest', () =>
    assert.throws(() => ociBlobPath('/l', 'sha256:../x' as Digest), code('INVALID_DIGEST')));
});

describe('resolveIndexEntry', () => {
  it('takes the only entry when no reference is given (fixture manifest/)', async () => {
    const e = resolveIndexEntry(await entriesOf(layoutFixture('manifest')), {}, 'x');
    assert.match(e.digest, /^sha256:84afb618/);
    assert.equal(e.size, 496);
  });
  it('refuses several images without a reference (two_images_manifest/)', async () => {
    const entries = await entriesOf(layoutFixture('two_images_manifest'));
    assert.throws(() => resolveIndexEntry(entries, {}, 'x'), code('INVALID_INPUT'));
  });
  it('reports an empty index as NOT_FOUND', () =>
    assert.throws(() => resolveIndexEntry([], {}, 'x'), code('NOT_FOUND')));
  it('resolves @0 and refuses an index out of range', async () => {
    const entries = await entriesOf(layoutFixture('two_images_manifest'));
    assert.match(resolveIndexEntry(entries, { index: 0 }, 'x').digest, /^sha256:e692418e/);
    assert.throws(() => resolveIndexEntry(entries, { index: 6 }, 'x'), code('NOT_FOUND'));
  });
  for (const [ref, i] of [
    ['a', 0],
    ['b', 1],
    ['c', 2],
    ['d', 3],
  ] as const) {
    it(`resolves name ${ref} to entry ${i} (name_lookups/)`, async () => {
      const entries = await entriesOf(layoutFixture('name_lookups'));
      assert.equal(resolveIndexEntry(entries, { ref }, 'x'), entries[i]);
    });
  }
  it('refuses a name matching only unsupported media types', async () => {
    const entries = await entriesOf(layoutFixture('name_lookups'));
    assert.throws(() => resolveIndexEntry(entries, { ref: 'invalid-mime' }, 'x'), code('UNSUPPORTED'));
  });
  it('reports an unknown name as NOT_FOUND', async () => {
    const entries = await entriesOf(layoutFixture('name_lookups'));
    assert.throws(() => resolveIndexEntry(entries, { ref: 'nope' }, 'x'), code('NOT_FOUND'));
  });
});

describe('parseIndexJson', () => {
  it('refuses a document without manifests', () =>
    assert.throws(() => parseIndexJson(Buffer.from('{"schemaVersion":2}'), 'x'), code('INVALID_INPUT')));
  it('refuses a bad digest', () =>
    assert.throws(
      () => parseIndexJson(Buffer.from('{"manifests":[{"digest":"sha256:../../x","size":1}]}'), 'x'),
      code('INVALID_INPUT'),
    ));
  it('keeps unknown media types', () => {
    const e = parseIndexJson(
      Buffer.from(`{"manifests":[{"mediaType":"x/y","digest":"sha256:${'c'.repeat(64)}","size":1}]}`),
      'x',
    );
    assert.equal(e[0]?.mediaType, 'x/y');
  });
});

describe('openOciLayout', () => {
  it('opens a named image of a skopeo-written layout', async () => {
    const r = await openOciLayout(observed('oci-two-refs'), { ref: 'other' });
    assert.equal(r.manifest.digest, 'sha256:769cbe45eb0457a8e090a7a763a535a119f3ed511403ee8172b3834581533367');
    assert.equal(r.config.length, r.manifest.config.size);
  });
  it('resolves the host instance of a list entry (oci-list/)', async () => {
    const r = await openOciLayout(observed('oci-list'), { platform: { architecture: 'amd64', os: 'linux' } });
    assert.equal(r.manifest.kind, 'image');
  });
  it('refuses a manifest blob whose bytes do not match its digest', async (t) => {
    const { cp } = await import('node:fs/promises');
    const { tempDir } = await import('../../helpers/tmp.js');
    const dir = await tempDir(t);
    await cp(observed('oci-two-refs'), join(dir, 'l'), { recursive: true });
    const m = join(dir, 'l', 'blobs', 'sha256', '769cbe45eb0457a8e090a7a763a535a119f3ed511403ee8172b3834581533367');
    const { chmod } = await import('node:fs/promises');
    await chmod(m, 0o644);
    await writeFile(m, (await readFile(m, 'utf8')).replace('"schemaVersion":2', '"schemaVersion": 2'));
    await assert.rejects(openOciLayout(join(dir, 'l'), { ref: 'mytag' }), code('DIGEST_MISMATCH'));
  });
});
