/**
 * Properties of manifest parsing (src/model/manifest.ts), the parser that takes untrusted bytes
 * first: `parseManifest` and `manifestDigest` throw only OcikitErrors, on arbitrary bytes and on
 * mutations of real manifests; `guessMediaType` never throws and agrees with a small model of
 * containers/image's `GuessMIMEType` (`manifest/manifest.go`) under Go's `encoding/json` rules.
 *
 * The model works on an abstract document (members in order, values by kind), from which the JSON
 * text is printed; it knows exactly the Go rules GuessMIMEType depends on: a key matches a field
 * case-insensitively (Go's folding: ASCII case, and `ſ` folds to `s`), repeated keys are applied
 * in order (the last wins; `null` leaves a string, int or struct field as it was and clears an
 * interface or slice), a value of the wrong type is an error (so the guess is ""), an int field
 * takes only integer literals that fit int64, and decoding into a struct merges repeated objects.
 */
import * as assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { guessMediaType, manifestDigest, parseManifest } from '../../src/model/manifest.js';
import { UPSTREAM } from '../helpers/fixtures.js';
import { onlyOcikitErrors, params } from './params.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const V2S2 = 'application/vnd.docker.distribution.manifest.v2+json';
const V2LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const V2S1 = 'application/vnd.docker.distribution.manifest.v1+json';
const V2S1_SIGNED = 'application/vnd.docker.distribution.manifest.v1+prettyjws';
const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
const TRUSTED = [V2S2, V2LIST, OCI_MANIFEST, OCI_INDEX];

// ---------------------------------------------------------------------------------------------
// The abstract document and its JSON text

type V =
  | { readonly t: 'null' }
  | { readonly t: 'bool'; readonly v: boolean }
  | { readonly t: 'num'; readonly text: string }
  | { readonly t: 'str'; readonly v: string }
  | { readonly t: 'arr'; readonly items: readonly V[] }
  | { readonly t: 'obj'; readonly members: readonly M[] };
/** A member: the key as decoded, and how it is written (plain or all `\u` escapes). */
type M = { readonly key: string; readonly escaped: boolean; readonly value: V };

function text(v: V): string {
  switch (v.t) {
    case 'null':
      return 'null';
    case 'bool':
      return String(v.v);
    case 'num':
      return v.text;
    case 'str':
      return JSON.stringify(v.v);
    case 'arr':
      return `[${v.items.map(text).join(',')}]`;
    case 'obj':
      return `{${v.members.map((m) => `${keyText(m)}:${text(m.value)}`).join(',')}}`;
  }
}

function keyText(m: M): string {
  if (!m.escaped) return JSON.stringify(m.key);
  return `"${[...m.key].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"`;
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

const NUMBERS = [
  '0',
  '1',
  '2',
  '3',
  '-1',
  '-0',
  '2.0',
  '1e0',
  '2E0',
  '20',
  '9223372036854775807',
  '9223372036854775808',
  '0.5',
];
const STRINGS = [OCI_MANIFEST, OCI_INDEX, OCI_CONFIG, V2S2, V2LIST, V2S1, V2S1_SIGNED, DOCKER_CONFIG, '', 'x'];

const num = fc.constantFrom(...NUMBERS).map((t): V => ({ t: 'num', text: t }));
const str = fc
  .oneof({ weight: 4, arbitrary: fc.constantFrom(...STRINGS) }, fc.string({ unit: 'binary', maxLength: 8 }))
  .map((v): V => ({ t: 'str', v }));
const scalar: fc.Arbitrary<V> = fc.oneof(
  fc.constant<V>({ t: 'null' }),
  fc.boolean().map((v): V => ({ t: 'bool', v })),
  num,
  str,
);

/** A key that folds to `name`: each letter in either case, an `s` sometimes as `ſ`. */
function keyFor(name: string): fc.Arbitrary<string> {
  const variants = [...name].map((c) => {
    const forms = new Set([c, c.toUpperCase(), c.toLowerCase()]);
    if (c === 's') forms.add('\u017f');
    return fc.constantFrom(...forms);
  });
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant(name) },
    fc.tuple(...variants).map((cs) => cs.join('')),
  );
}

const JUNK_KEYS = ['layers', 'foo', 'mediatype_', 'schema Version', '', 'signature'];
const memberOf = (key: fc.Arbitrary<string>, value: fc.Arbitrary<V>): fc.Arbitrary<M> =>
  fc.record({ key, escaped: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, fc.constant(true)), value });

const anyValue: fc.Arbitrary<V> = fc.letrec<{ v: V }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(tie('v'), { maxLength: 3 }).map((items): V => ({ t: 'arr', items })),
    fc
      .array(memberOf(fc.constantFrom('mediaType', 'a', 'size'), tie('v')), { maxLength: 3 })
      .map((members): V => ({ t: 'obj', members })),
  ),
})).v;

const obj = (members: fc.Arbitrary<M[]>): fc.Arbitrary<V> => members.map((ms): V => ({ t: 'obj', members: ms }));

const DESCRIPTOR_FIELDS = ['mediaType', 'digest', 'size', 'urls', 'annotations', 'artifactType'];
const descriptor: fc.Arbitrary<V> = fc.oneof(
  {
    weight: 4,
    arbitrary: obj(
      fc.array(memberOf(fc.constantFrom(...DESCRIPTOR_FIELDS, 'foo').chain(keyFor), anyValue), { maxLength: 4 }),
    ),
  },
  scalar,
);
const configValue: fc.Arbitrary<V> = fc.oneof(
  {
    weight: 4,
    arbitrary: obj(
      fc.array(memberOf(fc.oneof(keyFor('mediaType'), fc.constant('digest')), fc.oneof(str, scalar, anyValue)), {
        maxLength: 3,
      }),
    ),
  },
  anyValue,
);
const manifestsValue: fc.Arbitrary<V> = fc.oneof(
  { weight: 4, arbitrary: fc.array(descriptor, { maxLength: 3 }).map((items): V => ({ t: 'arr', items })) },
  anyValue,
);

/** A top-level member: one of GuessMIMEType's fields (in any spelling Go matches) or another key. */
const topMember: fc.Arbitrary<M> = fc.oneof(
  memberOf(keyFor('mediaType'), fc.oneof({ weight: 4, arbitrary: str }, anyValue)),
  memberOf(keyFor('schemaVersion'), fc.oneof({ weight: 4, arbitrary: num }, anyValue)),
  memberOf(keyFor('signatures'), anyValue),
  memberOf(keyFor('config'), configValue),
  memberOf(keyFor('manifests'), manifestsValue),
  memberOf(fc.constantFrom(...JUNK_KEYS), anyValue),
);
const documentArb: fc.Arbitrary<V> = fc.oneof(
  { weight: 9, arbitrary: obj(fc.array(topMember, { maxLength: 7 })) },
  anyValue,
);

// ---------------------------------------------------------------------------------------------
// The Go model

/** Go's folded form of an ASCII field name or a generated key (`ſ` folds with `s`). */
const fold = (s: string): string => s.replace(/\u017f/g, 's').toUpperCase();
const INT64_MAX = 2n ** 63n - 1n;

class TypeError_ {}
const fail = (): never => {
  throw new TypeError_();
};

/** The struct's fields decoded from `v` over `cur` (a struct: null keeps it, an object merges). */
function decodeStruct(v: V, fields: Record<string, (v: V, cur: unknown) => unknown>, cur: Record<string, unknown>) {
  if (v.t === 'null') return cur;
  if (v.t !== 'obj') return fail();
  const out = { ...cur };
  for (const m of v.members) {
    const name = Object.keys(fields).find((f) => fold(f) === fold(m.key));
    if (name !== undefined) out[name] = fields[name]!(m.value, out[name]);
  }
  return out;
}
/** Go decodes a lone surrogate escape (`"\ud800"`) as U+FFFD. */
const goText = (s: string): string =>
  s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
const goString = (v: V, cur: unknown): unknown => (v.t === 'null' ? cur : v.t === 'str' ? goText(v.v) : fail());
const goInt = (v: V, cur: unknown): unknown => {
  if (v.t === 'null') return cur;
  if (v.t !== 'num' || !/^-?(0|[1-9][0-9]*)$/.test(v.text)) return fail();
  const n = BigInt(v.text);
  return n > INT64_MAX || n < -INT64_MAX - 1n ? fail() : n;
};
const goAny = (v: V): unknown => (v.t === 'null' ? undefined : v);
const goSlice =
  (elem: (v: V, cur: unknown) => unknown) =>
  (v: V): unknown => {
    if (v.t === 'null') return undefined;
    if (v.t !== 'arr') return fail();
    return v.items.map((item) => elem(item, undefined));
  };
const goMapOfStrings = (v: V, cur: unknown): unknown => {
  if (v.t === 'null') return undefined;
  if (v.t !== 'obj') return fail();
  for (const m of v.members) goString(m.value, '');
  return cur ?? {};
};
const goDescriptor = (v: V, cur: unknown): unknown =>
  decodeStruct(
    v,
    {
      mediaType: goString,
      digest: goString,
      size: goInt,
      urls: goSlice(goString),
      annotations: goMapOfStrings,
      artifactType: goString,
    },
    (cur as Record<string, unknown> | undefined) ?? {},
  );

/** GuessMIMEType of the document, as the model computes it. */
function modelGuess(doc: V): string {
  try {
    const meta = decodeStruct(doc, { mediaType: goString, schemaVersion: goInt, signatures: goAny }, {});
    const mediaType = (meta.mediaType as string | undefined) ?? '';
    if (TRUSTED.includes(mediaType)) return mediaType;
    const version = (meta.schemaVersion as bigint | undefined) ?? 0n;
    if (version === 1n) return meta.signatures !== undefined ? V2S1_SIGNED : V2S1;
    if (version !== 2n) return '';
    const withConfig = decodeStruct(
      doc,
      { config: (v, cur) => decodeStruct(v, { mediaType: goString }, (cur as Record<string, unknown>) ?? {}) },
      {},
    );
    const configType = ((withConfig.config as Record<string, unknown> | undefined)?.mediaType as string) ?? '';
    if (configType === OCI_CONFIG) return OCI_MANIFEST;
    if (configType === DOCKER_CONFIG) return V2S2;
    const index = decodeStruct(doc, { manifests: goSlice(goDescriptor) }, {});
    if (((index.manifests as unknown[] | undefined) ?? []).length > 0)
      return configType === '' ? OCI_INDEX : configType;
    return OCI_MANIFEST;
  } catch (err) {
    if (err instanceof TypeError_) return '';
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Seeds for mutation: every manifest fixture of containers/image

const FIXTURES = join(UPSTREAM, 'containers-image', 'manifest', 'fixtures');
const SEEDS = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json'))
  .map((f) => readFileSync(join(FIXTURES, f)));

const SEEDS_BY_NAME = (name: string): Buffer => readFileSync(join(FIXTURES, name));

/** A byte-level mutation of a seed: a flipped byte, a cut, or inserted bytes. */
const byteMutation = fc
  .tuple(
    fc.nat(SEEDS.length - 1),
    fc.array(
      fc.tuple(fc.constantFrom('flip', 'cut', 'insert'), fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 4 })),
      {
        minLength: 1,
        maxLength: 4,
      },
    ),
  )
  .map(([i, ops]) => {
    let b = Buffer.from(SEEDS[i]!);
    for (const [op, at, bytes] of ops) {
      const p = b.length === 0 ? 0 : at % b.length;
      if (op === 'flip' && b.length > 0) b[p] = b[p]! ^ bytes[0]!;
      else if (op === 'cut') b = Buffer.concat([b.subarray(0, p), b.subarray(p + bytes.length)]);
      else b = Buffer.concat([b.subarray(0, p), Buffer.from(bytes), b.subarray(p)]);
    }
    return b;
  });

/** A structure-level mutation: some value of the parsed seed replaced by another JSON value. */
const structMutation = fc
  .tuple(
    fc.nat(SEEDS.length - 1),
    fc.array(fc.tuple(fc.nat(), fc.jsonValue({ maxDepth: 2 })), { minLength: 1, maxLength: 3 }),
  )
  .map(([i, ops]) => {
    let doc: unknown;
    try {
      doc = JSON.parse(SEEDS[i]!.toString('utf8'));
    } catch {
      return SEEDS[i]!;
    }
    for (const [at, value] of ops) doc = replaceNth(doc, at, value);
    return Buffer.from(JSON.stringify(doc));
  });

/** `doc` with its `n`-th value (depth first, modulo their count) replaced by `value`. */
function replaceNth(doc: unknown, n: number, value: unknown): unknown {
  const count = (v: unknown): number =>
    1 + (v !== null && typeof v === 'object' ? Object.values(v).reduce((s: number, c) => s + count(c), 0) : 0);
  let k = n % count(doc);
  const walk = (v: unknown): unknown => {
    if (k-- === 0) return value;
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object')
      return Object.fromEntries(Object.entries(v).map(([key, c]) => [key, walk(c)]));
    return v;
  };
  return walk(doc);
}

const anyBytes = fc.oneof(
  fc.uint8Array({ maxLength: 512 }),
  fc.string({ unit: 'binary', maxLength: 256 }).map((s) => Buffer.from(s, 'utf8')),
  documentArb.map((d) => Buffer.from(text(d), 'utf8')),
  byteMutation,
  structMutation,
);

describe('manifest properties', () => {
  it('guessMediaType agrees with the Go-semantics model of GuessMIMEType', () => {
    fc.assert(
      fc.property(documentArb, (doc) => {
        const bytes = Buffer.from(text(doc), 'utf8');
        assert.equal(guessMediaType(bytes), modelGuess(doc), text(doc));
      }),
      params(400),
    );
  });

  it('guessMediaType never throws, on arbitrary and mutated bytes', () => {
    fc.assert(
      fc.property(anyBytes, (bytes) => {
        assert.equal(typeof guessMediaType(bytes), 'string');
      }),
      params(),
    );
  });

  it('parseManifest and manifestDigest throw only OcikitErrors, on arbitrary and mutated bytes', () => {
    fc.assert(
      fc.property(anyBytes, (bytes) => {
        assert.ok(onlyOcikitErrors(() => parseManifest(bytes, 'fuzzed manifest')));
        assert.ok(onlyOcikitErrors(() => manifestDigest(bytes)));
      }),
      params(400),
    );
  });

  // Found by the fuzzer, kept as fixed cases.
  it('refuses a schema 1 manifest with a null fsLayers entry as INVALID_DIGEST, not a TypeError', () => {
    const s1 = JSON.parse(SEEDS_BY_NAME('v2s1-unsigned.manifest.json').toString('utf8'));
    s1.fsLayers[1] = null;
    assert.throws(() => parseManifest(Buffer.from(JSON.stringify(s1)), 'm'), {
      name: 'OcikitError',
      code: 'INVALID_DIGEST',
    });
  });

  it('the model is not vacuous: the generated documents reach every guess', () => {
    const seen = new Set(fc.sample(documentArb, { seed: 42, numRuns: 3000 }).map(modelGuess));
    for (const t of ['', OCI_MANIFEST, OCI_INDEX, V2S2, V2LIST, V2S1, V2S1_SIGNED]) assert.ok(seen.has(t), t);
  });
});
