/**
 * planLayout(): what a native destination will hold, before a byte is copied: blobs once, each
 * counted for the first image that has it, repeated names folded, foreign layers left out of OCI
 * layouts, Docker images converted.
 */
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { join } from 'node:path';
import { planLayout, signaturesFor } from '../../src/install/layout-plan.js';
import { isOcikitError } from '../../src/errors.js';
import type { ImageManifest } from '../../src/model/manifest.js';
import { openDirImage } from '../../src/transports/dir/read.js';
import type { ImageReader } from '../../src/transports/reader.js';
import { writeFixedDirImage } from '../helpers/fixed-images.js';
import { tempDir } from '../helpers/tmp.js';

const code = (c: string) => (e: unknown) => isOcikitError(e, c as never);

describe('planLayout', () => {
  it('plans every blob once and counts a shared layer for the first image only', async (t) => {
    const dir = await tempDir(t);
    const a = await openDirImage((await writeFixedDirImage(join(dir, 'a'), 'oci', 1, [100, 200])).dir);
    const plan = planLayout(
      [
        { reader: a, name: 'localhost/a:1' },
        { reader: a, name: 'localhost/a:2' },
      ],
      'oci',
    );
    // manifest, config, two layers
    assert.equal(plan.blobs.size, 4);
    assert.deepEqual(
      plan.images.map((i) => [i.item, i.name, i.total]),
      [
        [0, 'localhost/a:1', 300],
        [1, 'localhost/a:2', 0],
      ],
    );
  });

  it('folds an item that repeats the name and image of an earlier one', async (t) => {
    const dir = await tempDir(t);
    const a = await openDirImage((await writeFixedDirImage(join(dir, 'a'), 'oci', 1, [10])).dir);
    const plan = planLayout(
      [
        { reader: a, name: 'localhost/a:1' },
        { reader: a, name: 'localhost/a:1' },
      ],
      'oci-archive',
    );
    assert.deepEqual(
      plan.images.map((i) => i.item),
      [0],
    );
  });

  it('converts a Docker image for an OCI layout and keeps it as it is for dir', async (t) => {
    const dir = await tempDir(t);
    const fixed = await writeFixedDirImage(join(dir, 'd'), 'docker', 2, [10]);
    const d = await openDirImage(fixed.dir);
    const [oci] = planLayout([{ reader: d, name: 'localhost/d:1' }], 'oci').images;
    assert.equal(oci!.manifestMediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.notEqual(oci!.manifestDigest, fixed.manifestDigest);
    const plan = planLayout([{ reader: d, name: 'not an oci name' }], 'dir');
    assert.equal(plan.images[0]!.manifestDigest, fixed.manifestDigest);
    assert.equal(plan.images[0]!.manifestMediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    // dir: no manifest blob, the manifest is manifest.json
    assert.equal(plan.blobs.has(fixed.manifestDigest as never), false);
  });

  it('references foreign layers without copying them into an OCI layout', async (t) => {
    const dir = await tempDir(t);
    const a = await openDirImage((await writeFixedDirImage(join(dir, 'a'), 'oci', 1, [10, 20])).dir);
    const [first, second] = a.manifest.layers;
    const foreign: ImageReader = {
      ...a,
      manifest: { ...a.manifest, layers: [first!, { ...second!, urls: ['https://example.com/l'] }] } as ImageManifest,
    };
    const plan = planLayout([{ reader: foreign, name: 'localhost/f:1' }], 'oci');
    assert.equal(plan.blobs.has(second!.digest), false);
    assert.equal(plan.images[0]!.total, 10);
    assert.equal(planLayout([{ reader: foreign, name: 'x' }], 'dir').blobs.has(second!.digest), true);
  });

  it('refuses a manifest that gives one digest two sizes, wherever the two descriptors are', async (t) => {
    const dir = await tempDir(t);
    const a = await openDirImage((await writeFixedDirImage(join(dir, 'a'), 'oci', 1, [10, 20])).dir);
    const [first, second] = a.manifest.layers;
    for (const layers of [
      [first!, { ...first!, size: 11 }, second!],
      [{ ...first!, size: 11 }, first!, second!],
    ]) {
      const dup: ImageReader = { ...a, manifest: { ...a.manifest, layers } as ImageManifest };
      for (const type of ['dir', 'oci'] as const) {
        assert.throws(() => planLayout([{ reader: dup, name: 'localhost/d:1' }], type), code('INVALID_MANIFEST'));
      }
    }
    const same: ImageReader = { ...a, manifest: { ...a.manifest, layers: [first!, first!] } as ImageManifest };
    assert.equal(planLayout([{ reader: same, name: 'localhost/d:1' }], 'dir').images[0]!.total, 10);
  });

  it('refuses a name that is not an oci reference, and one name for two images', async (t) => {
    const dir = await tempDir(t);
    const a = await openDirImage((await writeFixedDirImage(join(dir, 'a'), 'oci', 1, [10])).dir);
    const b = await openDirImage((await writeFixedDirImage(join(dir, 'b'), 'oci', 2, [10])).dir);
    assert.throws(() => planLayout([{ reader: a, name: 'bad name' }], 'oci'), code('INVALID_INPUT'));
    assert.throws(
      () =>
        planLayout(
          [
            { reader: a, name: 'localhost/x:1' },
            { reader: b, name: 'localhost/x:1' },
          ],
          'oci',
        ),
      code('INVALID_INPUT'),
    );
  });
});

describe('signaturesFor', () => {
  it("keeps a dir image's signatures and refuses them for an OCI layout", async () => {
    const signed = {
      reader: { source: 's', signatures: async () => [Buffer.from('sig')] } as unknown as ImageReader,
      name: 'localhost/s:1',
    };
    assert.deepEqual(await signaturesFor([signed], 'dir'), [Buffer.from('sig')]);
    await assert.rejects(signaturesFor([signed], 'oci'), code('UNSUPPORTED'));
    await assert.rejects(signaturesFor([signed], 'oci-archive'), code('UNSUPPORTED'));
  });
});
