/**
 * Properties of the validators at the boundary, which take osbuild's untrusted JSON: sources
 * (`parseFetchSources`), stage options (`parseInstallOptions`), container inputs
 * (`resolveContainersInput`, `parseContainersInput`, the manifest-lists shape) throw only
 * OcikitErrors, on any value and on near-valid documents with arbitrary values in their holes.
 * And keys are data: maps keyed by names (archive keys, annotations) keep every key, `__proto__`
 * and the names of Object.prototype included.
 */
import * as assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { expandEnv } from '../../src/config/storage-conf.js';
import { parseManifest } from '../../src/model/manifest.js';
import { parseContainersInput, resolveContainersInput } from '../../src/osbuild/inputs.js';
import { validateManifestListsInput } from '../../src/osbuild/manifest-lists.js';
import { parseFetchSources } from '../../src/osbuild/sources.js';
import { parseInstallOptions } from '../../src/osbuild/stage-options.js';
import { parseIndexJson } from '../../src/transports/oci/read.js';
import { onlyOcikitErrors, onlyOcikitErrorsAsync, params } from './params.js';

const dir = mkdtempSync(join(tmpdir(), 'ocikit-prop-inputs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const anything = fc.anything({
  withNullPrototype: true,
  withBigInt: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withTypedArray: true,
  withSparseArray: true,
  withBoxedValues: true,
  withObjectString: true,
  key: fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', 'toString', 'items', 'image', 'path')),
});
/** Keys that name Object.prototype members, and others. */
const PROTO_KEYS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf'];
const nameKey = fc.oneof(fc.constantFrom(...PROTO_KEYS), fc.string({ minLength: 1, maxLength: 12 }));
const digest = fc.stringMatching(/^[a-f0-9]{64}$/).map((h) => `sha256:${h}`);
const hole = fc.oneof(anything, fc.constantFrom('quay.io/a/b', 'dir', 'oci', '/x', true, {}));

/** A sources document shaped like the real one, with arbitrary values where the values go. */
const nearSources = fc.record(
  {
    'org.osbuild.skopeo': fc.record({
      items: fc.dictionary(
        fc.oneof(digest, nameKey),
        fc.record({
          image: fc.dictionary(
            fc.constantFrom('name', 'digest', 'tls-verify', 'containers-transport', 'storage-location'),
            hole,
          ),
        }),
        { maxKeys: 3 },
      ),
    }),
    'org.osbuild.skopeo-index': fc.record({ items: fc.dictionary(fc.oneof(digest, nameKey), hole, { maxKeys: 3 }) }),
    'org.osbuild.containers-storage': fc.record({ items: fc.dictionary(digest, hole, { maxKeys: 2 }) }),
  },
  { requiredKeys: [] },
);
const nearOptions = fc.record(
  {
    destination: fc.oneof(
      hole,
      fc.dictionary(fc.constantFrom('type', 'path', 'storage-path', 'storage-driver', '__proto__'), hole),
    ),
    'remove-signatures': hole,
  },
  { requiredKeys: [] },
);
const nearInputs = fc.record(
  {
    images: fc.record({
      path: fc.constantFrom(dir, '', '/nonexistent-ocikit'),
      data: fc.record({
        archives: fc.dictionary(
          fc.oneof(digest, nameKey),
          fc.oneof(hole, fc.dictionary(fc.constantFrom('format', 'name', 'storage'), hole)),
        ),
      }),
    }),
    'manifest-lists': fc.oneof(
      hole,
      fc.record({
        path: fc.constantFrom(dir, 1),
        data: fc.record({ files: fc.dictionary(fc.oneof(digest, nameKey), hole, { maxKeys: 2 }) }),
      }),
    ),
  },
  { requiredKeys: ['images'] },
);

describe('validator properties', () => {
  it('parseFetchSources throws only OcikitErrors', () => {
    fc.assert(
      fc.property(fc.oneof(anything, nearSources), (doc) => onlyOcikitErrors(() => parseFetchSources(doc))),
      params(300),
    );
  });

  it('parseInstallOptions throws only OcikitErrors', () => {
    fc.assert(
      fc.property(fc.oneof(anything, nearOptions), (doc) => onlyOcikitErrors(() => parseInstallOptions(doc))),
      params(300),
    );
  });

  it('resolveContainersInput and the manifest-lists shape check throw only OcikitErrors', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(anything, nearInputs), async (doc) => {
        assert.ok(onlyOcikitErrors(() => validateManifestListsInput(doc)));
        return onlyOcikitErrorsAsync(() => resolveContainersInput(doc));
      }),
      params(200),
    );
  });

  // Found by the fuzzer, kept as fixed cases: messages about values JSON cannot write.
  it('reports a BigInt, an invalid Date or a BigInt inside an object as INVALID_INPUT', async () => {
    const item = (image: object) => ({ 'org.osbuild.skopeo': { items: { [`sha256:${'a'.repeat(64)}`]: { image } } } });
    for (const doc of [
      item({ name: 'quay.io/a/b', digest: { x: 0n } }),
      item({ name: 'quay.io/a/b', digest: `sha256:${'a'.repeat(64)}`, 'tls-verify': 1n }),
      item({ name: 0n }),
    ]) {
      assert.throws(() => parseFetchSources(doc), { name: 'OcikitError' });
    }
    assert.throws(() => parseInstallOptions({ 'remove-signatures': new Date(Number.NaN) }), { code: 'INVALID_INPUT' });
    await assert.rejects(
      resolveContainersInput({ images: { path: dir, data: { archives: { a: { format: [0n] } } } } }),
      { code: 'INVALID_INPUT' },
    );
  });

  it('parseContainersInput keeps every oci-archive key, Object.prototype names included', async () => {
    const fileName = fc.oneof(
      fc.constantFrom(...PROTO_KEYS),
      fc
        .stringMatching(/^[^/\0\ud800-\udfff]{1,20}$/)
        .filter((k) => k !== '.' && k !== '..' && Buffer.byteLength(k) <= 255),
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fileName, { minLength: 1, maxLength: 6 }), async (keys) => {
        const images = join(dir, `run${run++}`);
        mkdirSync(images);
        for (const k of keys) writeFileSync(join(images, k), '');
        // The input as JSON text, as osbuild hands it over (JSON.parse makes `__proto__` a key).
        const archives = keys.map(
          (k, i) => `${JSON.stringify(k)}: {"format": "oci-archive", "name": "localhost/i${i}"}`,
        );
        const inputs = JSON.parse(
          `{"images": {"path": ${JSON.stringify(images)}, "data": {"archives": {${archives.join(',')}}}}}`,
        );
        const out = await parseContainersInput(inputs);
        const expected = Object.keys(inputs.images.data.archives);
        assert.deepEqual(Object.keys(out), expected);
        assert.deepEqual(Object.keys(JSON.parse(JSON.stringify(out))), expected);
        for (const k of keys) assert.equal(Object.hasOwn(out, k) && out[k]!.checksum, k);
        rmSync(images, { recursive: true });
      }),
      params(100),
    );
  });

  it('storage.conf variables expand from own environment names only ($constructor is unset)', () => {
    const name = fc.oneof(
      fc.constantFrom(...PROTO_KEYS.filter((k) => /^\w+$/.test(k))),
      fc.stringMatching(/^[A-Za-z_]\w{0,6}$/),
    );
    fc.assert(
      fc.property(name, fc.dictionary(name, fc.string({ maxLength: 4 }), { maxKeys: 3 }), (n, env) => {
        const want = Object.hasOwn(env, n) ? env[n]! : '';
        assert.equal(expandEnv(`$${n}/x`, env), `${want}/x`);
        assert.equal(expandEnv(`\${${n}}/x`, env), `${want}/x`);
      }),
      params(),
    );
  });

  it('manifest and index annotations keep every key, the last of repeated ones', () => {
    const entries = fc.array(fc.tuple(nameKey, fc.string({ maxLength: 6 })), { maxLength: 6 });
    fc.assert(
      fc.property(entries, (pairs) => {
        const obj = `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
        const expected = new Map(pairs);
        const manifest = Buffer.from(
          `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:${'a'.repeat(64)}","size":1},"layers":[],"annotations":${obj}}`,
        );
        const m = parseManifest(manifest, 'm');
        assert.ok(m.kind === 'image');
        assert.deepEqual(new Map(Object.entries(m.annotations ?? {})), expected);
        const index = Buffer.from(
          `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:${'b'.repeat(64)}","size":1,"annotations":${obj}}]}`,
        );
        assert.deepEqual(new Map(Object.entries(parseIndexJson(index, 'index.json')[0]!.annotations)), expected);
      }),
      params(),
    );
  });
});
