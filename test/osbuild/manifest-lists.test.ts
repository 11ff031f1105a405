import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseManifest } from '../../src/model/manifest.js';
import { expectManifestList } from '../../src/osbuild/manifest-lists.js';
import { buildImage, makeList } from '../helpers/images.js';

describe('expectManifestList', () => {
  it('returns the typed list of an OCI index and of a Docker list', async () => {
    const img = await buildImage({ flavour: 'oci' });
    for (const flavour of ['oci', 'docker'] as const) {
      const list = makeList([img], flavour);
      const got = expectManifestList(list.bytes, 'l');
      assert.equal(got.kind, 'list');
      assert.equal(got.digest, list.digest);
      assert.deepEqual(
        got.manifests.map((d) => d.digest),
        [img.manifestDigest],
      );
    }
  });

  it('uses the parse it is given instead of parsing again', async () => {
    const list = makeList([await buildImage()]);
    const parsed = parseManifest(list.bytes, 'l');
    assert.equal(expectManifestList(list.bytes, 'l', { parsed }), parsed);
  });

  it('refuses an image manifest with the caller’s code, naming its type', async () => {
    const img = await buildImage({ flavour: 'oci' });
    assert.throws(() => expectManifestList(img.manifest, 'x'), {
      code: 'INVALID_MANIFEST',
      message: 'x is not a manifest list (it is application/vnd.oci.image.manifest.v1+json)',
    });
    assert.throws(() => expectManifestList(img.manifest, 'x', { notAList: 'LIST_MISMATCH' }), {
      code: 'LIST_MISMATCH',
    });
  });

  it("refuses a list the typed parse accepts but osbuild's rule does not", () => {
    // Go's JSON decoding matches keys case-insensitively, so c/image reads an index; osbuild's
    // is_manifest_list looks up "mediaType" and "manifests" exactly and says no.
    const bytes = Buffer.from(
      '{"schemaVersion":2,"MediaType":"application/vnd.oci.image.index.v1+json","Manifests":[]}',
    );
    const parsed = parseManifest(bytes, 'x');
    assert.equal(parsed.kind, 'list');
    assert.throws(() => expectManifestList(bytes, 'x', { parsed }), { code: 'INVALID_MANIFEST' });
  });

  it('refuses bytes that are not JSON as INVALID_MANIFEST', () => {
    assert.throws(() => expectManifestList(Buffer.from('nope'), 'x', { notAList: 'LIST_MISMATCH' }), {
      code: 'INVALID_MANIFEST',
    });
  });
});
