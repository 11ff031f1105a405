/**
 * The osbuild manifest form against osbuild/images' own expectations: `pkg/osbuild/source_test.go`
 * (`TestGenSourcesSkopeo`, `TestGenSourcesWithSkopeoIndex`, `TestGenSourcesContainerStorage`, which
 * compare `json.MarshalIndent(sources, "", "  ")` with literal text) and the stage inputs of
 * `pkg/osbuild/containers_test.go` / osbuild's `test/data/stages/skopeo/a.json`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Digest } from '../../src/model/digest.js';
import { type ManifestFormSpec, manifestInputs, manifestSources } from '../../src/osbuild/manifest-form.js';

const ID = 'sha256:c2ecf25cf190e76b12b07436ad5140d4ba53d8a136d498705e57a006837a720f' as Digest;
const DIGEST = 'sha256:aabbcc5cf190e76b12b07436ad5140d4ba53d8a136d498705e57a006837a720f' as Digest;
const LIST = 'sha256:ffeeaabbcc90e76b12b07436ad5140d4ba53d8a136d498705e57a006837a720f' as Digest;

const spec = (over: Partial<ManifestFormSpec> = {}): ManifestFormSpec => ({
  source: 'some-source',
  digest: DIGEST,
  imageId: ID,
  listDigest: null,
  name: 'some-name',
  tlsVerify: null,
  localStorage: false,
  ...over,
});

/** The `org.osbuild.skopeo` part both source_test.go texts share. */
const SKOPEO_ITEM = `  "org.osbuild.skopeo": {
    "items": {
      "sha256:c2ecf25cf190e76b12b07436ad5140d4ba53d8a136d498705e57a006837a720f": {
        "image": {
          "name": "some-source",
          "digest": "sha256:aabbcc5cf190e76b12b07436ad5140d4ba53d8a136d498705e57a006837a720f"
        }
      }
    }
  }`;

/** Go's `json.MarshalIndent(v, "", "  ")`, which JSON.stringify with 2 spaces reproduces for these shapes. */
const indent = (v: unknown) => JSON.stringify(v, null, 2);

describe('manifestSources: osbuild/images source_test.go', () => {
  it('TestGenSourcesSkopeo', () => {
    assert.equal(
      indent(manifestSources([spec()])),
      `{
${SKOPEO_ITEM}
}`,
    );
  });

  it('TestGenSourcesWithSkopeoIndex', () => {
    assert.equal(
      indent(manifestSources([spec({ listDigest: LIST })])),
      `{
${SKOPEO_ITEM},
  "org.osbuild.skopeo-index": {
    "items": {
      "sha256:ffeeaabbcc90e76b12b07436ad5140d4ba53d8a136d498705e57a006837a720f": {
        "image": {
          "name": "some-source"
        }
      }
    }
  }
}`,
    );
  });

  it('TestGenSourcesContainerStorage: a local image, its list digest dropped', () => {
    assert.equal(
      indent(manifestSources([spec({ localStorage: true, listDigest: LIST })])),
      `{
  "org.osbuild.containers-storage": {
    "items": {
      "sha256:c2ecf25cf190e76b12b07436ad5140d4ba53d8a136d498705e57a006837a720f": {}
    }
  }
}`,
    );
  });

  it('tls-verify is written when set (true included) and left out when null', () => {
    const on = manifestSources([spec({ tlsVerify: true, listDigest: LIST })]);
    assert.equal(
      JSON.stringify(on),
      `{"org.osbuild.skopeo":{"items":{"${ID}":{"image":{"name":"some-source","digest":"${DIGEST}","tls-verify":true}}}},"org.osbuild.skopeo-index":{"items":{"${LIST}":{"image":{"name":"some-source","tls-verify":true}}}}}`,
    );
  });

  it('map keys come out sorted, as Go marshals maps', () => {
    const a = spec({ imageId: `sha256:${'b'.repeat(64)}` as Digest, digest: `sha256:${'1'.repeat(64)}` as Digest });
    const b = spec({ imageId: `sha256:${'a'.repeat(64)}` as Digest, digest: `sha256:${'2'.repeat(64)}` as Digest });
    const local = spec({ imageId: `sha256:${'c'.repeat(64)}` as Digest, localStorage: true });
    const s = manifestSources([a, local, b]);
    assert.deepEqual(Object.keys(s), ['org.osbuild.containers-storage', 'org.osbuild.skopeo']);
    assert.deepEqual(Object.keys(s['org.osbuild.skopeo']!.items), [b.imageId, a.imageId]);
  });
});

describe('manifestInputs: the org.osbuild.skopeo stage inputs', () => {
  it('remote with a list (osbuild test/data/stages/skopeo/a.json), then local (containers_test.go)', () => {
    const remote = spec({
      imageId: 'sha256:d0f28374e1a9b1ae28d543cadd0916b8ee4f8619a834900a964961a188bc16c4' as Digest,
      name: 'manifest-list-test',
      listDigest: 'sha256:11b8172c893595bfcdea054e15457deb54f208afdaf16a602d05fad8e1f6adc1' as Digest,
    });
    const local = spec({
      imageId: 'sha256:aabbccf64ebaeac67c5c2d9e4adc1e73aa6433b44a167268a3510c3d056062db' as Digest,
      name: 'local-name',
      localStorage: true,
      listDigest: LIST,
    });
    assert.equal(
      JSON.stringify(manifestInputs([local, remote])),
      JSON.stringify([
        {
          images: {
            type: 'org.osbuild.containers',
            origin: 'org.osbuild.source',
            references: {
              'sha256:d0f28374e1a9b1ae28d543cadd0916b8ee4f8619a834900a964961a188bc16c4': { name: 'manifest-list-test' },
            },
          },
          'manifest-lists': {
            type: 'org.osbuild.files',
            origin: 'org.osbuild.source',
            references: ['sha256:11b8172c893595bfcdea054e15457deb54f208afdaf16a602d05fad8e1f6adc1'],
          },
        },
        {
          images: {
            type: 'org.osbuild.containers-storage',
            origin: 'org.osbuild.source',
            references: {
              'sha256:aabbccf64ebaeac67c5c2d9e4adc1e73aa6433b44a167268a3510c3d056062db': { name: 'local-name' },
            },
          },
        },
      ]),
    );
  });

  it('no manifest-lists when no image has a list; nothing for no images', () => {
    assert.deepEqual(Object.keys(manifestInputs([spec()])[0]!), ['images']);
    assert.deepEqual(manifestInputs([]), []);
  });
});
