/**
 * signedIdentity rules (containers/image 5.23 `signature/policy_reference_match.go`), each kind
 * with matching and non-matching signature references, and the reference parsing they rely on.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  matchesSignedIdentity,
  type NamedReference,
  parseNormalizedNamed,
  type ReferenceMatch,
  remapPrefixProblem,
} from '../../src/trust/identity.js';

const D = `sha256:${'a'.repeat(64)}`;
const E = `sha256:${'e'.repeat(64)}`;
const tagged: NamedReference = { name: 'quay.io/ns/app', tag: 'v1' };
const digested: NamedReference = { name: 'quay.io/ns/app', digest: D };

/** [match, image reference, signature reference, expected] */
const TABLE: [ReferenceMatch, NamedReference | null, string, boolean][] = [
  // matchRepoDigestOrExact: tagged image → exact; digested image → same repository; name-only signature never.
  [{ type: 'matchRepoDigestOrExact' }, tagged, 'quay.io/ns/app:v1', true],
  [{ type: 'matchRepoDigestOrExact' }, tagged, 'quay.io/ns/app:v2', false],
  [{ type: 'matchRepoDigestOrExact' }, tagged, `quay.io/ns/app@${D}`, false],
  [{ type: 'matchRepoDigestOrExact' }, digested, 'quay.io/ns/app:anything', true],
  [{ type: 'matchRepoDigestOrExact' }, digested, `quay.io/ns/app@${E}`, true],
  [{ type: 'matchRepoDigestOrExact' }, digested, 'quay.io/ns/app', false],
  [{ type: 'matchRepoDigestOrExact' }, digested, 'quay.io/ns/other:v1', false],
  [{ type: 'matchRepoDigestOrExact' }, { name: 'docker.io/library/busybox', tag: 'latest' }, 'busybox:latest', true],
  [{ type: 'matchRepoDigestOrExact' }, { name: 'docker.io/library/busybox', tag: 'latest' }, 'busybox', false],
  [{ type: 'matchRepoDigestOrExact' }, null, 'quay.io/ns/app:v1', false],
  [{ type: 'matchRepoDigestOrExact' }, digested, 'not a reference', false],
  // matchExact: both must carry a tag or digest, and be equal.
  [{ type: 'matchExact' }, tagged, 'quay.io/ns/app:v1', true],
  [{ type: 'matchExact' }, digested, `quay.io/ns/app@${D}`, true],
  [{ type: 'matchExact' }, digested, 'quay.io/ns/app:v1', false],
  [{ type: 'matchExact' }, digested, `quay.io/ns/app@${E}`, false],
  [{ type: 'matchExact' }, { name: 'quay.io/ns/app' }, 'quay.io/ns/app', false],
  // matchRepository: names only.
  [{ type: 'matchRepository' }, tagged, 'quay.io/ns/app', true],
  [{ type: 'matchRepository' }, tagged, 'quay.io/ns/app:other', true],
  [{ type: 'matchRepository' }, tagged, 'quay.io/ns/app2:v1', false],
  [{ type: 'matchRepository' }, null, 'quay.io/ns/app', false],
  // exactReference / exactRepository: the image's own reference does not matter.
  [{ type: 'exactReference', dockerReference: 'quay.io/ns/app:v1' }, null, 'quay.io/ns/app:v1', true],
  [{ type: 'exactReference', dockerReference: 'busybox:1' }, tagged, 'docker.io/library/busybox:1', true],
  [{ type: 'exactReference', dockerReference: 'quay.io/ns/app:v1' }, tagged, 'quay.io/ns/app:v2', false],
  [{ type: 'exactReference', dockerReference: 'quay.io/ns/app:v1' }, tagged, 'quay.io/ns/app', false],
  [{ type: 'exactRepository', dockerRepository: 'quay.io/ns/app' }, null, 'quay.io/ns/app:x', true],
  [{ type: 'exactRepository', dockerRepository: 'quay.io/ns/app:ignored' }, tagged, `quay.io/ns/app@${D}`, true],
  [{ type: 'exactRepository', dockerRepository: 'quay.io/ns/app' }, tagged, 'quay.io/ns/app2:v1', false],
  // remapIdentity: the image's prefix is rewritten, then matchRepoDigestOrExact.
  [
    { type: 'remapIdentity', prefix: 'mirror.local/quay', signedPrefix: 'quay.io' },
    { name: 'mirror.local/quay/ns/app', tag: 'v1' },
    'quay.io/ns/app:v1',
    true,
  ],
  [
    { type: 'remapIdentity', prefix: 'mirror.local/quay', signedPrefix: 'quay.io' },
    { name: 'mirror.local/quay/ns/app', digest: D },
    'quay.io/ns/app:v9',
    true,
  ],
  [
    { type: 'remapIdentity', prefix: 'mirror.local/quay', signedPrefix: 'quay.io' },
    { name: 'mirror.local/quay/ns/app', tag: 'v1' },
    'mirror.local/quay/ns/app:v1',
    false,
  ],
  // Not at a "/" boundary: no rewrite; the original name must then match.
  [
    { type: 'remapIdentity', prefix: 'mirror.local/qu', signedPrefix: 'quay.io' },
    { name: 'mirror.local/quay/ns/app', tag: 'v1' },
    'quay.io/ns/app:v1',
    false,
  ],
  [
    { type: 'remapIdentity', prefix: 'mirror.local/qu', signedPrefix: 'quay.io' },
    { name: 'mirror.local/quay/ns/app', tag: 'v1' },
    'mirror.local/quay/ns/app:v1',
    true,
  ],
  // The whole name equal to the prefix.
  [
    { type: 'remapIdentity', prefix: 'mirror.local/app', signedPrefix: 'quay.io/ns/app' },
    { name: 'mirror.local/app', tag: 'v1' },
    'quay.io/ns/app:v1',
    true,
  ],
  // A rewrite that is not canonical (docker.io short form) fails the match.
  [
    { type: 'remapIdentity', prefix: 'mirror.local/lib', signedPrefix: 'busybox' },
    { name: 'mirror.local/lib', tag: 'v1' },
    'busybox:v1',
    false,
  ],
  [{ type: 'remapIdentity', prefix: 'mirror.local', signedPrefix: 'quay.io' }, null, 'quay.io/ns/app:v1', false],
];

describe('matchesSignedIdentity', () => {
  for (const [match, image, signed, want] of TABLE) {
    const label = `${match.type}${'prefix' in match ? ` ${match.prefix}→${match.signedPrefix}` : ''}: image ${image ? `${image.name}${image.tag ? `:${image.tag}` : ''}${image.digest ? '@…' : ''}` : 'none'} vs ${signed}`;
    it(`${want ? 'matches' : 'does not match'}: ${label}`, () => {
      assert.equal(matchesSignedIdentity(match, image, signed), want);
    });
  }
});

describe('parseNormalizedNamed (containers/image 5.23)', () => {
  it('normalises and keeps tag and digest', () => {
    assert.deepEqual(parseNormalizedNamed('busybox'), {
      name: 'docker.io/library/busybox',
      tag: undefined,
      digest: undefined,
    });
    assert.deepEqual(parseNormalizedNamed(`index.docker.io/a/b:t@${D}`), {
      name: 'docker.io/a/b',
      tag: 't',
      digest: D,
    });
  });
  it('takes sha384 and sha512 digests, refuses unknown algorithms and wrong lengths', () => {
    const d512 = `sha512:${'c'.repeat(128)}`;
    assert.deepEqual(parseNormalizedNamed(`quay.io/a@${d512}`), { name: 'quay.io/a', tag: undefined, digest: d512 });
    assert.equal(typeof parseNormalizedNamed(`quay.io/a@sha384:${'c'.repeat(96)}`), 'object');
    assert.equal(typeof parseNormalizedNamed(`quay.io/a@md5:${'c'.repeat(32)}`), 'string');
    assert.equal(typeof parseNormalizedNamed(`quay.io/a@sha256:${'c'.repeat(63)}`), 'string');
    assert.equal(typeof parseNormalizedNamed(`quay.io/a@sha256:${'C'.repeat(64)}`), 'string');
  });
  it('refuses what 5.23 refuses: upper case, IPv6 literals, overlong normalised names', () => {
    assert.equal(typeof parseNormalizedNamed('Foo/bar'), 'string');
    assert.equal(typeof parseNormalizedNamed('quay.io/Foo'), 'string');
    assert.equal(typeof parseNormalizedNamed('Foo.io/bar'), 'object');
    assert.equal(typeof parseNormalizedNamed('[::1]:5000/a'), 'string');
    assert.equal(typeof parseNormalizedNamed('a'.repeat(240)), 'string'); // docker.io/library/ makes it > 255
    assert.equal(typeof parseNormalizedNamed('a'.repeat(200)), 'object');
  });
  it('remap prefixes: a domain, or a name starting with one', () => {
    for (const ok of ['quay.io', 'quay.io:443', 'quay.io/ns', 'localhost/x', 'busybox/x']) {
      assert.equal(remapPrefixProblem(ok), undefined, ok);
    }
    for (const bad of ['', 'quay.io/', 'quay.io/NS', '/ns', 'quay.io:port']) {
      assert.match(remapPrefixProblem(bad) ?? '', /is not valid/, bad);
    }
  });
});
