/**
 * Tests for src/model/manifest.ts: media type guessing with Go JSON semantics, skopeo-identical
 * digests, osbuild's list rule and typed parsing. Expected values come from upstream tests
 * (containers/image `manifest/manifest_test.go` `TestDigest` on its `testdata/` manifests, the
 * image-spec `backwards-compatibility/` examples), from the fixture inventory
 * (test/fixtures/upstream/README.md, skopeo 1.9.3 output) and from the edge-case corpus
 * (test/helpers/digest-edge-cases.ts, checked against skopeo by test/integration/cli-digest.test.ts).
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isOcikitError } from '../../src/errors.js';
import {
  MAX_MANIFEST_SIZE,
  type ImageManifest,
  type ManifestList,
  type Schema1Manifest,
  guessMediaType,
  isManifestList,
  manifestDigest,
  parseManifest,
} from '../../src/model/manifest.js';
import { parseDescriptor, parsePlatform } from '../../src/model/descriptor.js';
import { platformString } from '../../src/model/platform.js';
import {
  DOCKER_LIST,
  DOCKER_V2S1,
  DOCKER_V2S1_SIGNED,
  DOCKER_V2S2,
  OCI_INDEX,
  OCI_MANIFEST,
} from '../../src/model/media-types.js';
import { SIGNED, UNSIGNED, edgeCases } from '../helpers/digest-edge-cases.js';

const UPSTREAM = fileURLToPath(new URL('../../../test/fixtures/upstream/', import.meta.url));
const read = (rel: string) => readFileSync(UPSTREAM + rel);
const sha = (b: Uint8Array | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function throwsCode(f: () => unknown, code: string, includes?: string): void {
  assert.throws(f, (err: unknown) => {
    assert.ok(isOcikitError(err), `expected an OcikitError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (includes !== undefined) assert.ok(err.message.includes(includes), `${err.message} should mention ${includes}`);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------
// The fixture inventory (README.md tables).

interface InventoryRow {
  readonly path: string;
  readonly sha256: string;
  readonly guessed: string;
  readonly skopeo: string;
}

const GUESSED_LABELS: Record<string, string> = {
  '': '',
  'docker v2s2': DOCKER_V2S2,
  'docker list v2': DOCKER_LIST,
  'docker v2s1': DOCKER_V2S1,
  'docker v2s1 signed': DOCKER_V2S1_SIGNED,
  'OCI manifest': OCI_MANIFEST,
  'OCI index': OCI_INDEX,
};

function inventory(): InventoryRow[] {
  const rows: InventoryRow[] = [];
  let dir: string | undefined;
  for (const line of read('README.md').toString('utf8').split('\n')) {
    const heading = /^### `([^`]*)`$/.exec(line);
    if (heading) {
      dir = heading[1];
      continue;
    }
    const cells = line.split('|').map((c) => c.trim());
    if (dir === undefined || cells.length !== 8 || !cells[1]!.startsWith('`')) continue;
    rows.push({
      path: dir + cells[1]!.replaceAll('`', ''),
      sha256: `sha256:${cells[3]!.replaceAll('`', '')}`,
      guessed: cells[4]!,
      skopeo: cells[5]!.replaceAll('`', ''),
    });
  }
  return rows;
}

const INVENTORY = inventory();

describe('fixture inventory', () => {
  it('lists every fixture file with its sha256', () => {
    assert.ok(INVENTORY.length >= 200, `only ${INVENTORY.length} rows parsed from README.md`);
    for (const row of INVENTORY) assert.equal(sha(read(row.path)), row.sha256, row.path);
  });

  it('covers every fixture file but the README itself', () => {
    const listed = new Set(INVENTORY.map((r) => r.path));
    const files = readdirSync(UPSTREAM, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => relative(UPSTREAM, join(e.parentPath ?? e.path, e.name)));
    assert.deepEqual(
      files.filter((f) => !listed.has(f)),
      ['README.md'],
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('manifestDigest', () => {
  const upstreamVectors: [string, string][] = [
    [
      'containers-image/internal/manifest/testdata/v2s2.manifest.json',
      'sha256:20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55',
    ],
    [
      'containers-image/internal/manifest/testdata/v2s1.manifest.json',
      'sha256:7364fea9d84ee548ab67d4c46c6006289800c98de3fbf8c0a97138dfcc23f000',
    ],
    [
      'containers-image/internal/manifest/testdata/v2s1-unsigned.manifest.json',
      'sha256:7364fea9d84ee548ab67d4c46c6006289800c98de3fbf8c0a97138dfcc23f000',
    ],
    [
      'containers-image/manifest/fixtures/v2s2.manifest.json',
      'sha256:20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55',
    ],
    [
      'containers-image/signature/fixtures/image.manifest.json',
      'sha256:20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55',
    ],
    [
      'containers-image/signature/fixtures/dir-img-valid/manifest.json',
      'sha256:20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55',
    ],
    [
      'containers-image/signature/fixtures/dir-img-cosign-valid/manifest.json',
      'sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00',
    ],
    [
      'skopeo/cmd/skopeo/fixtures/image.manifest.json',
      'sha256:20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55',
    ],
    [
      'skopeo/integration/fixtures/image.manifest.json',
      'sha256:20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55',
    ],
    [
      'skopeo/integration/fixtures/uncompressed-image-s1/manifest.json',
      'sha256:3b93a98785ed46f9fa9fefd53127c3fa91e1d0314f90c00d8fb9b8d7448ec1ad',
    ],
    [
      'image-spec/backwards-compatibility/docker-manifest-list.json',
      'sha256:4ffd0883f25635999f04ea543240a27c9a4341979ff7d46a9774f71512eebb1f',
    ],
    [
      'image-spec/backwards-compatibility/docker-v2s2-manifest.json',
      'sha256:888206c77cd2811ec47e752ba291e5b7734e3ef137dfd222daadaca39a9f17bc',
    ],
    [
      'image-spec/backwards-compatibility/docker-config-1.json',
      'sha256:a059ea7356d5b5a9e0f6352bfa463e7bd4721c2ade3ef168603826e0de6fe54b',
    ],
    [
      'image-spec/backwards-compatibility/docker-config-2.json',
      'sha256:a20665eb1fe2912accb3d5dadaed360430df0d1aa46874875886947d61d3d4ee',
    ],
  ];
  for (const [file, digest] of upstreamVectors) {
    it(`gives the upstream-stated digest of ${file}`, () => {
      assert.equal(manifestDigest(read(file)), digest);
    });
  }

  it('fails on every v2s1-invalid-signatures copy ("signatures": 1), as upstream requires', () => {
    const failing = INVENTORY.filter((r) => r.skopeo === 'ERROR');
    assert.ok(failing.length >= 6);
    for (const row of failing) throwsCode(() => manifestDigest(read(row.path)), 'INVALID_MANIFEST');
  });

  it('matches the skopeo manifest-digest column of the inventory for every fixture', () => {
    let checked = 0;
    for (const row of INVENTORY) {
      if (row.skopeo === 'ERROR') continue;
      // "= sha256 of bytes", a stated digest, or empty (a non-manifest: skopeo hashes it as it is).
      const expected = row.skopeo.startsWith('sha256:') ? row.skopeo : row.sha256;
      assert.equal(manifestDigest(read(row.path)), expected, row.path);
      checked++;
    }
    assert.ok(checked >= 200);
  });

  it('hashes empty input as the sha256 of nothing', () => {
    assert.equal(
      manifestDigest(new Uint8Array(0)),
      'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });

  it('strips the signatures of a signed schema 1 manifest: the payload is the unsigned twin', () => {
    assert.notEqual(sha(SIGNED), sha(UNSIGNED));
    assert.equal(manifestDigest(SIGNED), sha(UNSIGNED));
  });

  describe('digest edge cases (what skopeo 1.9.3 does)', () => {
    for (const c of edgeCases()) {
      it(c.name, () => {
        if (c.expect.kind === 'error') throwsCode(() => manifestDigest(c.bytes), 'INVALID_MANIFEST');
        else assert.equal(manifestDigest(c.bytes), sha(c.expect.kind === 'plain' ? c.bytes : c.expect.payload));
      });
    }
  });

  it(`accepts exactly ${MAX_MANIFEST_SIZE} bytes and refuses one more with MANIFEST_TOO_LARGE`, () => {
    const max = Buffer.alloc(MAX_MANIFEST_SIZE, 0x20);
    assert.equal(manifestDigest(max), sha(max));
    throwsCode(() => manifestDigest(Buffer.alloc(MAX_MANIFEST_SIZE + 1, 0x20)), 'MANIFEST_TOO_LARGE');
  });

  it('names the libtrust failure in the error', () => {
    throwsCode(
      () => manifestDigest(Buffer.from('{"schemaVersion":1,"Signatures":[]}')),
      'INVALID_MANIFEST',
      'missing signature key',
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('guessMediaType', () => {
  it('matches the guessed-type column of the inventory for every fixture', () => {
    for (const row of INVENTORY) {
      const expected = GUESSED_LABELS[row.guessed];
      assert.notEqual(expected, undefined, `unknown label ${row.guessed}`);
      assert.equal(guessMediaType(read(row.path)), expected, row.path);
    }
  });

  const j = (s: string) => Buffer.from(s);
  const cases: [string, Uint8Array, string][] = [
    // Top-level mediaType.
    [
      'a recognised mediaType wins over schemaVersion',
      j(`{"mediaType":"${OCI_INDEX}","schemaVersion":1,"signatures":[]}`),
      OCI_INDEX,
    ],
    ['mediaType key in capitals', j(`{"MEDIATYPE":"${DOCKER_V2S2}"}`), DOCKER_V2S2],
    [
      'a folded key after the exact one wins (last wins)',
      j(`{"mediaType":"${DOCKER_V2S2}","MediaType":"${OCI_MANIFEST}"}`),
      OCI_MANIFEST,
    ],
    ['last duplicate wins (exact keys)', j(`{"mediaType":"${DOCKER_V2S2}","mediaType":"${OCI_INDEX}"}`), OCI_INDEX],
    ['mediaType null keeps the earlier value', j(`{"mediaType":"${DOCKER_V2S2}","mediaType":null}`), DOCKER_V2S2],
    ['mediaType of the wrong type', j(`{"mediaType":5,"schemaVersion":1}`), ''],
    ['mediaType as an escaped string', j(`{"mediaType":"application\\/vnd.oci.image.index.v1+json"}`), OCI_INDEX],
    [
      'mediaType with invalid UTF-8 is not an error, just unknown',
      Buffer.from('{"schemaVersion":1,"mediaType":"\xff"}', 'latin1'),
      DOCKER_V2S1,
    ],
    ['a list mediaType only (no manifests)', j(`{"mediaType":"${DOCKER_LIST}"}`), DOCKER_LIST],
    // schemaVersion 1.
    ['schemaVersion 1, no signatures', j('{"schemaVersion":1}'), DOCKER_V2S1],
    ['schemaVersion 1, signatures []', j('{"schemaVersion":1,"signatures":[]}'), DOCKER_V2S1_SIGNED],
    ['schemaVersion 1, signatures 0', j('{"schemaVersion":1,"signatures":0}'), DOCKER_V2S1_SIGNED],
    ['schemaVersion 1, signatures null', j('{"schemaVersion":1,"signatures":null}'), DOCKER_V2S1],
    ['schemaVersion 1.0', j('{"schemaVersion":1.0}'), ''],
    ['schemaVersion 1e0', j('{"schemaVersion":1e0}'), ''],
    ['schemaVersion -0 is 0', j('{"schemaVersion":-0}'), ''],
    ['schemaVersion as a string', j('{"schemaVersion":"1"}'), ''],
    ['schemaVersion true', j('{"schemaVersion":true}'), ''],
    ['schemaVersion beyond int64', j('{"schemaVersion":9223372036854775808}'), ''],
    ['schemaVersion at int64 max', j('{"schemaVersion":9223372036854775807}'), ''],
    ['schemaVersion 3', j('{"schemaVersion":3}'), ''],
    ['SCHEMAVERSION in capitals', j('{"SCHEMAVERSION":1}'), DOCKER_V2S1],
    ['schemaVersion with a long s (U+017F) folds', j('{"\u017fchemaVersion":1}'), DOCKER_V2S1],
    ['schemaVersion written with \\u escapes', j('{"schema\\u0056ersion":1}'), DOCKER_V2S1],
    // Syntax.
    ['BOM', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), j('{"schemaVersion":1}')]), ''],
    ['trailing garbage', j('{"schemaVersion":1} x'), ''],
    ['trailing whitespace', j('{"schemaVersion":1}\r\n\t '), DOCKER_V2S1],
    ['two documents', j('{"schemaVersion":1}{}'), ''],
    ['top-level array', j('[{"schemaVersion":1}]'), ''],
    ['top-level string', j('"x"'), ''],
    ['top-level null', j('null'), ''],
    ['empty input', j(''), ''],
    ['a number with a leading zero', j('{"schemaVersion":01}'), ''],
    ['a control character in a string', j('{"x":"\t","schemaVersion":1}'), ''],
    ['an invalid escape', j('{"x":"\\x","schemaVersion":1}'), ''],
    ['a trailing comma', j('{"schemaVersion":1,}'), ''],
    ['an unrelated field of any type is ignored', j('{"schemaVersion":1,"x":[1e999,{"y":null}]}'), DOCKER_V2S1],
    ['signatures holding a number that overflows float64', j('{"schemaVersion":1,"signatures":[1e999]}'), ''],
    // schemaVersion 2 without a recognised mediaType.
    [
      'config OCI',
      j('{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json"}}'),
      OCI_MANIFEST,
    ],
    [
      'config Docker',
      j('{"schemaVersion":2,"config":{"mediaType":"application/vnd.docker.container.image.v1+json"}}'),
      DOCKER_V2S2,
    ],
    [
      'Config / MediaType keys in capitals',
      j('{"schemaVersion":2,"Config":{"MediaType":"application/vnd.oci.image.config.v1+json"}}'),
      OCI_MANIFEST,
    ],
    ['config that is not an object', j('{"schemaVersion":2,"config":"x"}'), ''],
    ['config.mediaType that is not a string', j('{"schemaVersion":2,"config":{"mediaType":1}}'), ''],
    ['config null, no manifests: artifact fallback', j('{"schemaVersion":2,"config":null}'), OCI_MANIFEST],
    ['nothing else: artifact fallback', j('{"schemaVersion":2}'), OCI_MANIFEST],
    [
      'custom config type: artifact',
      j('{"schemaVersion":2,"config":{"mediaType":"application/x-custom"}}'),
      OCI_MANIFEST,
    ],
    ['manifests non-empty, no config: index', j('{"schemaVersion":2,"manifests":[{}]}'), OCI_INDEX],
    ['manifests empty: artifact fallback', j('{"schemaVersion":2,"manifests":[]}'), OCI_MANIFEST],
    ['manifests null: artifact fallback', j('{"schemaVersion":2,"manifests":null}'), OCI_MANIFEST],
    [
      'manifests with a custom config type: the config type (upstream FIXME)',
      j('{"schemaVersion":2,"config":{"mediaType":"application/x-custom"},"manifests":[{}]}'),
      'application/x-custom',
    ],
    ['manifests that is an object', j('{"schemaVersion":2,"manifests":{}}'), ''],
    ['descriptor with a non-integer size', j('{"schemaVersion":2,"manifests":[{"size":1.5}]}'), ''],
    ['descriptor with a string size', j('{"schemaVersion":2,"manifests":[{"size":"1"}]}'), ''],
    ['descriptor with bad base64 data', j('{"schemaVersion":2,"manifests":[{"data":"!!!!"}]}'), ''],
    ['descriptor with unpadded base64 data', j('{"schemaVersion":2,"manifests":[{"data":"YQ"}]}'), ''],
    [
      'descriptor with valid base64 data (newlines skipped)',
      j('{"schemaVersion":2,"manifests":[{"data":"YW\\nJj"}]}'),
      OCI_INDEX,
    ],
    ['descriptor with data as a byte array', j('{"schemaVersion":2,"manifests":[{"data":[1,255]}]}'), OCI_INDEX],
    ['descriptor with data byte out of range', j('{"schemaVersion":2,"manifests":[{"data":[256]}]}'), ''],
    ['descriptor with urls not an array', j('{"schemaVersion":2,"manifests":[{"urls":"x"}]}'), ''],
    ['descriptor with a non-string annotation', j('{"schemaVersion":2,"manifests":[{"annotations":{"a":1}}]}'), ''],
    ['descriptor with a platform that is a string', j('{"schemaVersion":2,"manifests":[{"platform":"linux"}]}'), ''],
    [
      'descriptor with os.features not strings',
      j('{"schemaVersion":2,"manifests":[{"platform":{"os.features":[1]}}]}'),
      '',
    ],
    ['descriptor that is null', j('{"schemaVersion":2,"manifests":[null]}'), OCI_INDEX],
    ['descriptor with unknown fields of any type', j('{"schemaVersion":2,"manifests":[{"x":[true]}]}'), OCI_INDEX],
    [
      'a descriptor error is ignored when config decides first',
      j('{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json"},"manifests":{}}'),
      OCI_MANIFEST,
    ],
  ];
  for (const [name, bytes, expected] of cases) {
    it(`${name} → ${expected === '' ? '""' : expected}`, () => {
      assert.equal(guessMediaType(bytes), expected);
    });
  }

  it('accepts 10000 levels of nesting and rejects 10001 (Go maxNestingDepth)', () => {
    const doc = (arrays: number) => Buffer.from(`{"schemaVersion":1,"x":${'['.repeat(arrays)}${']'.repeat(arrays)}}`);
    assert.equal(guessMediaType(doc(9999)), DOCKER_V2S1);
    assert.equal(guessMediaType(doc(10000)), '');
  });
});

// ---------------------------------------------------------------------------------------------

describe('isManifestList', () => {
  const table: [string, unknown, boolean][] = [
    ['Docker list media type', { mediaType: DOCKER_LIST }, true],
    ['OCI index media type', { mediaType: OCI_INDEX, manifests: [] }, true],
    ['list media type without manifests', { mediaType: OCI_INDEX }, true],
    ['no mediaType, manifests []', { manifests: [] }, true],
    ['no mediaType, manifests non-empty', { schemaVersion: 2, manifests: [{}] }, true],
    ['mediaType null, manifests []', { mediaType: null, manifests: [] }, true],
    ['no mediaType, manifests of another type', { manifests: 'x' }, true],
    ['no mediaType and no manifests', { schemaVersion: 2 }, false],
    ['no mediaType, manifests null', { manifests: null }, false],
    ['OCI image manifest media type with manifests', { mediaType: OCI_MANIFEST, manifests: [] }, false],
    ['Docker image manifest media type with manifests', { mediaType: DOCKER_V2S2, manifests: [] }, false],
    ['mediaType "" with manifests', { mediaType: '', manifests: [] }, false],
    ['unknown mediaType with manifests', { mediaType: 'application/x', manifests: [{}] }, false],
    ['mediaType key in other case is just another key', { MediaType: OCI_MANIFEST, manifests: [] }, true],
    ['Manifests key in other case does not count', { Manifests: [] }, false],
    ['an array', [{ manifests: [] }], false],
    ['null', null, false],
    ['a string', OCI_INDEX, false],
    ['empty object', {}, false],
  ];
  for (const [name, doc, expected] of table) {
    it(`${name} → ${expected}`, () => {
      assert.equal(isManifestList(doc), expected);
    });
  }

  it('agrees with the inventory: every fixture guessed as a list is a list by the osbuild rule too', () => {
    for (const row of INVENTORY) {
      const t = GUESSED_LABELS[row.guessed];
      if (t !== DOCKER_LIST && t !== OCI_INDEX) continue;
      assert.equal(isManifestList(JSON.parse(read(row.path).toString('utf8'))), true, row.path);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('parseManifest', () => {
  it('parses a Docker v2s2 manifest, keeping the raw bytes', () => {
    const bytes = read('containers-image/internal/manifest/testdata/v2s2.manifest.json');
    const m = parseManifest(bytes, 'v2s2') as ImageManifest;
    assert.equal(m.kind, 'image');
    assert.equal(m.mediaType, DOCKER_V2S2);
    assert.equal(m.schemaVersion, 2);
    assert.equal(m.digest, 'sha256:20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55');
    assert.ok(m.raw.equals(bytes));
    const doc = JSON.parse(bytes.toString('utf8'));
    assert.deepEqual({ ...m.config }, doc.config);
    assert.deepEqual(
      m.layers.map((l) => ({ ...l })),
      doc.layers,
    );
  });

  it('parses an OCI manifest with annotations', () => {
    const bytes = read('containers-image/manifest/fixtures/ociv1.manifest.json');
    const m = parseManifest(bytes, 'oci') as ImageManifest;
    const doc = JSON.parse(bytes.toString('utf8'));
    assert.equal(m.kind, 'image');
    assert.equal(m.mediaType, OCI_MANIFEST);
    assert.deepEqual({ ...m.annotations }, doc.annotations);
    assert.equal(m.layers.length, doc.layers.length);
  });

  it('parses a Docker list with platforms', () => {
    const bytes = read('containers-image/internal/manifest/testdata/v2list.everything.json');
    const m = parseManifest(bytes, 'list') as ManifestList;
    assert.equal(m.kind, 'list');
    assert.equal(m.mediaType, DOCKER_LIST);
    assert.equal(m.manifests.length, 1);
    const d = m.manifests[0]!;
    assert.deepEqual(d.urls, ['https://some.example/manifest']);
    assert.deepEqual(
      { ...d.platform },
      { architecture: 'a', os: 'b', 'os.version': 'c', 'os.features': ['d'], variant: 'e' },
    );
  });

  it('parses an OCI index without mediaType', () => {
    const m = parseManifest(
      read('containers-image/internal/manifest/testdata/ociv1nomime.image.index.json'),
      'index',
    ) as ManifestList;
    assert.equal(m.kind, 'list');
    assert.equal(m.mediaType, OCI_INDEX);
    assert.deepEqual(
      m.manifests.map((d) => d.platform && platformString(d.platform)),
      ['linux/ppc64le', 'linux/amd64'],
    );
  });

  it('parses signed and unsigned schema 1, with the stripped digest', () => {
    const s = parseManifest(SIGNED, 'signed') as Schema1Manifest;
    const u = parseManifest(UNSIGNED, 'unsigned') as Schema1Manifest;
    assert.equal(s.kind, 'schema1');
    assert.equal(s.mediaType, DOCKER_V2S1_SIGNED);
    assert.equal(u.mediaType, DOCKER_V2S1);
    assert.equal(s.digest, u.digest);
    assert.equal(s.name, 'mitr/busybox');
    assert.equal(s.tag, 'latest');
    assert.equal(s.architecture, 'amd64');
    const doc = JSON.parse(SIGNED.toString('utf8'));
    assert.deepEqual(
      s.blobSums,
      doc.fsLayers.map((l: { blobSum: string }) => l.blobSum),
    );
  });

  it('parses every fixture that has a guessed type, except the known-invalid ones', () => {
    // Upstream conversion fixtures use size -1 ("unknown") and artifacts with an empty config digest.
    const invalid: Record<string, string> = {
      'schema1-to-oci1.json': 'INVALID_MANIFEST',
      'schema1-to-schema2.json': 'INVALID_MANIFEST',
      'ociv1.artifact.json': 'INVALID_DIGEST',
      'ociv1nomime.artifact.json': 'INVALID_DIGEST',
    };
    let parsed = 0;
    for (const row of INVENTORY) {
      if (row.guessed === '') continue;
      const bytes = read(row.path);
      const base = row.path.slice(row.path.lastIndexOf('/') + 1);
      const code = row.skopeo === 'ERROR' ? 'INVALID_MANIFEST' : invalid[base];
      if (code !== undefined) {
        throwsCode(() => parseManifest(bytes, row.path), code, row.path);
        continue;
      }
      const m = parseManifest(bytes, row.path);
      assert.equal(m.mediaType, GUESSED_LABELS[row.guessed], row.path);
      assert.equal(m.digest, row.skopeo.startsWith('sha256:') ? row.skopeo : row.sha256, row.path);
      assert.equal(
        m.kind,
        m.mediaType === DOCKER_LIST || m.mediaType === OCI_INDEX
          ? 'list'
          : m.mediaType.includes('v1+') && m.mediaType.includes('docker')
            ? 'schema1'
            : 'image',
      );
      parsed++;
    }
    assert.ok(parsed > 80, `parsed ${parsed}`);
  });

  it('matches fields case-insensitively, as Go does', () => {
    const d = `{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:${'a'.repeat(64)}","size":1}`;
    const m = parseManifest(
      Buffer.from(`{"SchemaVersion":2,"MediaType":"${OCI_MANIFEST}","CONFIG":${d},"Layers":[${d}]}`),
      'caps',
    ) as ImageManifest;
    assert.equal(m.layers.length, 1);
    assert.equal(m.config.size, 1);
  });

  const layer = (fields: string) =>
    `{"mediaType":"${OCI_MANIFEST}","schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:${'b'.repeat(64)}","size":2},"layers":[${fields}]}`;
  const okLayer = `"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:${'a'.repeat(64)}"`;
  const errors: [string, string, string, string?][] = [
    ['invalid JSON', '{', 'INVALID_MANIFEST', 'not valid JSON'],
    ['a top-level array', '[]', 'INVALID_MANIFEST'],
    ['an unknown type', '{"schemaVersion":3}', 'INVALID_MANIFEST', 'not a recognised manifest'],
    [
      'the FIXME config-type guess',
      '{"schemaVersion":2,"config":{"mediaType":"application/x-custom"},"manifests":[{}]}',
      'INVALID_MANIFEST',
      'application/x-custom',
    ],
    [
      'a layer with a sha512 digest',
      layer(`{"mediaType":"a","digest":"sha512:${'a'.repeat(128)}","size":1}`),
      'INVALID_DIGEST',
      'layer 0',
    ],
    [
      'a layer with an uppercase digest',
      layer(`{"mediaType":"a","digest":"sha256:${'A'.repeat(64)}","size":1}`),
      'INVALID_DIGEST',
    ],
    ['a layer with a negative size', layer(`{${okLayer},"size":-1}`), 'INVALID_MANIFEST', 'size'],
    ['a layer with a size beyond 2^53', layer(`{${okLayer},"size":9007199254740992}`), 'INVALID_MANIFEST', 'size'],
    ['a layer with a fractional size', layer(`{${okLayer},"size":1.5}`), 'INVALID_MANIFEST'],
    ['a layer without size', layer(`{${okLayer}}`), 'INVALID_MANIFEST', 'size'],
    [
      'a layer without mediaType',
      layer(`{"digest":"sha256:${'a'.repeat(64)}","size":1}`),
      'INVALID_MANIFEST',
      'mediaType',
    ],
    [
      'an image manifest without config',
      `{"mediaType":"${OCI_MANIFEST}","schemaVersion":2,"layers":[]}`,
      'INVALID_MANIFEST',
      'config',
    ],
    [
      'an image manifest with schemaVersion 1',
      `{"mediaType":"${OCI_MANIFEST}","schemaVersion":1,"config":{}}`,
      'INVALID_MANIFEST',
      'schemaVersion',
    ],
    [
      'an image manifest that also has manifests',
      `{"mediaType":"${OCI_MANIFEST}","schemaVersion":2,"manifests":[]}`,
      'INVALID_MANIFEST',
      'manifests',
    ],
    [
      'a list that also has layers',
      `{"mediaType":"${OCI_INDEX}","schemaVersion":2,"manifests":[],"layers":[]}`,
      'INVALID_MANIFEST',
      'layers',
    ],
    [
      'a list entry whose platform has no os',
      `{"mediaType":"${OCI_INDEX}","schemaVersion":2,"manifests":[{${okLayer},"size":1,"platform":{"architecture":"amd64"}}]}`,
      'INVALID_MANIFEST',
      'os',
    ],
    ['schema 1 without fsLayers', '{"schemaVersion":1,"fsLayers":[],"history":[]}', 'INVALID_MANIFEST', 'fsLayers'],
    [
      'schema 1 with fsLayers and history of different lengths',
      `{"schemaVersion":1,"fsLayers":[{"blobSum":"sha256:${'a'.repeat(64)}"}],"history":[]}`,
      'INVALID_MANIFEST',
      'history',
    ],
    [
      'schema 1 with a bad blobSum',
      '{"schemaVersion":1,"fsLayers":[{"blobSum":"x"}],"history":[{}]}',
      'INVALID_DIGEST',
      'blobSum',
    ],
    [
      'signed schema 1 whose signatures libtrust rejects',
      '{"schemaVersion":1,"signatures":{}}',
      'INVALID_MANIFEST',
      'error unmarshalling signatures',
    ],
  ];
  for (const [name, text, code, mention] of errors) {
    it(`rejects ${name} with ${code}, naming the manifest`, () => {
      throwsCode(() => parseManifest(Buffer.from(text), 'THE-MANIFEST'), code, 'THE-MANIFEST');
      if (mention !== undefined) throwsCode(() => parseManifest(Buffer.from(text), 'THE-MANIFEST'), code, mention);
    });
  }

  it('refuses more than 4 MiB with MANIFEST_TOO_LARGE', () => {
    const big = Buffer.alloc(MAX_MANIFEST_SIZE + 1, 0x20);
    big.write('{"schemaVersion":1}', 0);
    throwsCode(() => parseManifest(big, 'big'), 'MANIFEST_TOO_LARGE', 'big');
  });

  it('returns frozen data', () => {
    const m = parseManifest(
      read('containers-image/internal/manifest/testdata/v2s2.manifest.json'),
      'v2s2',
    ) as ImageManifest;
    assert.ok(Object.isFrozen(m) && Object.isFrozen(m.layers) && Object.isFrozen(m.config));
  });
});

describe('parseDescriptor', () => {
  const digest = `sha256:${'c'.repeat(64)}`;
  it('accepts plain JSON.parse output and returns frozen data', () => {
    const d = parseDescriptor(
      {
        mediaType: 'm',
        digest,
        size: 3,
        urls: ['u'],
        annotations: { a: 'b' },
        platform: { architecture: 'arm64', os: 'linux', variant: 'v8' },
      },
      'd',
    );
    assert.deepEqual(
      { ...d, platform: { ...d.platform } },
      {
        mediaType: 'm',
        digest,
        size: 3,
        urls: ['u'],
        annotations: { a: 'b' },
        platform: { architecture: 'arm64', os: 'linux', variant: 'v8' },
      },
    );
    assert.ok(Object.isFrozen(d));
  });
  const bad: [string, unknown, string][] = [
    ['not an object', 'x', 'INVALID_MANIFEST'],
    ['a fractional size', { mediaType: 'm', digest, size: 1.5 }, 'INVALID_MANIFEST'],
    ['a negative size', { mediaType: 'm', digest, size: -1 }, 'INVALID_MANIFEST'],
    ['a string size', { mediaType: 'm', digest, size: '1' }, 'INVALID_MANIFEST'],
    ['a non-string annotation', { mediaType: 'm', digest, size: 1, annotations: { a: 1 } }, 'INVALID_MANIFEST'],
    ['urls not strings', { mediaType: 'm', digest, size: 1, urls: [1] }, 'INVALID_MANIFEST'],
    ['a sha512 digest', { mediaType: 'm', digest: `sha512:${'c'.repeat(128)}`, size: 1 }, 'INVALID_DIGEST'],
  ];
  for (const [name, d, code] of bad) {
    it(`rejects ${name} with ${code}`, () => throwsCode(() => parseDescriptor(d, 'THE-DESC'), code, 'THE-DESC'));
  }
});

describe('parsePlatform', () => {
  it('keeps os.version and os.features', () => {
    const p = parsePlatform(
      { architecture: 'amd64', os: 'windows', 'os.version': '10', 'os.features': ['win32k'] },
      'p',
    );
    assert.deepEqual({ ...p }, { architecture: 'amd64', os: 'windows', 'os.version': '10', 'os.features': ['win32k'] });
  });
  for (const [name, p] of [
    ['no architecture', { os: 'linux' }],
    ['an empty os', { architecture: 'amd64', os: '' }],
    ['a numeric variant', { architecture: 'arm', os: 'linux', variant: 7 }],
    ['an array', []],
  ] as [string, unknown][]) {
    it(`rejects ${name}`, () => throwsCode(() => parsePlatform(p, 'THE-PLATFORM'), 'INVALID_MANIFEST', 'THE-PLATFORM'));
  }
});
