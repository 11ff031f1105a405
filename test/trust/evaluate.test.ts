/**
 * Policy evaluation with fake verifiers: every requirement must hold, reject wins, signature
 * requirements need one signature of their kind that verifies, is for the fetched manifest's
 * digest and claims an accepted identity; unimplemented requirements refuse (fail closed) with a
 * POLICY error naming the file, the scope and the field.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isOcikitError } from '../../src/errors.js';
import type { Digest } from '../../src/model/digest.js';
import { parseDockerReference } from '../../src/model/docker-reference.js';
import { evaluatePolicy, type PolicyImage, policyRefusal } from '../../src/trust/evaluate.js';
import { parsePolicy } from '../../src/trust/policy-parse.js';
import { dockerPolicyIdentity } from '../../src/trust/policy-scopes.js';
import {
  type ImageSignature,
  SignatureError,
  type SignatureVerifier,
  type SignedClaims,
} from '../../src/trust/verifier.js';
import { tempDir } from '../helpers/tmp.js';

const DIGEST = `sha256:${'1'.repeat(64)}` as Digest;
const OTHER = `sha256:${'2'.repeat(64)}`;
const REF = `registry.example.com/ns/app@${DIGEST}`;
const KEY = Buffer.from('good key').toString('base64');

/** A simple-signing "signature" whose bytes are the JSON claims, signed by the key named in it. */
function gpgSig(claims: SignedClaims & { key: string }): ImageSignature {
  return { kind: 'simple-signing', bytes: Buffer.from(JSON.stringify(claims)), source: `sig-${claims.key}` };
}
function sigstoreSig(claims: SignedClaims & { key: string }, annotate = true, mimeType?: string): ImageSignature {
  return {
    kind: 'sigstore',
    mimeType: mimeType ?? 'application/vnd.dev.cosign.simplesigning.v1+json',
    payload: Buffer.from(JSON.stringify(claims)),
    annotations: annotate ? { 'dev.cosignproject.cosign/signature': 'c2ln' } : {},
  };
}

/** Accepts a signature when its `key` equals one of the keys (as text); records the calls. */
function fakeVerifier(calls: string[] = []): SignatureVerifier {
  const check = (bytes: Uint8Array, keys: readonly Uint8Array[]) => {
    const c = JSON.parse(Buffer.from(bytes).toString()) as SignedClaims & { key: string };
    if (!keys.some((k) => Buffer.from(k).toString() === c.key))
      throw new SignatureError('untrusted-key', `signed by unknown key ${c.key}`);
    return { dockerManifestDigest: c.dockerManifestDigest, dockerReference: c.dockerReference };
  };
  return {
    async verifyGpg(sig, keys) {
      calls.push('gpg');
      return check(sig, keys);
    },
    async verifySigstore(payload, b64, pem) {
      calls.push(`sigstore:${b64}`);
      return check(payload, [pem]);
    },
  };
}

function image(sigs: readonly ImageSignature[], counter?: { n: number }): PolicyImage {
  return {
    identity: dockerPolicyIdentity(parseDockerReference(REF)),
    manifestDigest: DIGEST,
    async signatures() {
      if (counter) counter.n++;
      return sigs;
    },
  };
}

const policy = (reqs: string, file = '/etc/containers/policy.json') =>
  parsePolicy(
    Buffer.from(`{"default":[{"type":"reject"}],"transports":{"docker":{"registry.example.com/ns":[${reqs}]}}}`),
    file,
  );
const signedBy = (extra = '') => `{"type":"signedBy","keyType":"GPGKeys","keyData":"${KEY}"${extra}}`;
const good = { key: 'good key', dockerManifestDigest: DIGEST, dockerReference: 'registry.example.com/ns/app:v1' };

describe('evaluatePolicy', () => {
  it('insecureAcceptAnything accepts without asking for signatures', async () => {
    const counter = { n: 0 };
    const d = await evaluatePolicy(policy('{"type":"insecureAcceptAnything"}'), image([], counter), fakeVerifier());
    assert.equal(d.accepted, true);
    assert.equal(counter.n, 0);
  });

  it('reject refuses; the POLICY error names the file and the scope', async () => {
    const d = await evaluatePolicy(
      policy('{"type":"insecureAcceptAnything"},{"type":"reject"}'),
      image([]),
      fakeVerifier(),
    );
    assert.equal(d.accepted, false);
    assert.deepEqual(
      d.requirements.map((r) => [r.type, r.allowed]),
      [
        ['insecureAcceptAnything', true],
        ['reject', false],
      ],
    );
    const err = policyRefusal(d, image([]).identity);
    assert.ok(isOcikitError(err, 'POLICY'));
    assert.equal(
      err.message,
      `docker://${REF} rejected by trust policy /etc/containers/policy.json (transports.docker["registry.example.com/ns"]): requirement 2 (reject): rejected by policy`,
    );
  });

  it('signedBy: one valid signature among bad ones is enough; signatures are fetched once', async () => {
    const counter = { n: 0 };
    const sigs = [gpgSig({ ...good, key: 'evil' }), gpgSig(good)];
    const d = await evaluatePolicy(policy(`${signedBy()},${signedBy()}`), image(sigs, counter), fakeVerifier());
    assert.equal(d.accepted, true);
    assert.equal(counter.n, 1);
    assert.deepEqual(
      d.requirements[0]?.signatures?.map((s) => s.accepted),
      [false, true],
    );
  });

  const refusals: [string, ImageSignature[], string, RegExp][] = [
    ['no signature', [], signedBy(), /^A signature was required, but no signature exists$/],
    [
      'only sigstore signatures (signedBy counts simple signing only)',
      [sigstoreSig(good)],
      signedBy(),
      /no signature exists$/,
    ],
    ['wrong key', [gpgSig({ ...good, key: 'evil' })], signedBy(), /^signed by unknown key evil$/],
    [
      'wrong digest',
      [gpgSig({ ...good, dockerManifestDigest: OTHER })],
      signedBy(),
      /^Signature for digest sha256:2+ does not match \(the manifest fetched is sha256:[0-9a-f]{64}\)$/,
    ],
    [
      'wrong identity',
      [gpgSig({ ...good, dockerReference: 'registry.example.com/ns/other:v1' })],
      signedBy(),
      /^Signature for identity registry\.example\.com\/ns\/other:v1 is not accepted \(the image is \S+, signedIdentity matchRepoDigestOrExact\)$/,
    ],
    [
      'identity for matchExact on a digest pull',
      [gpgSig(good)],
      signedBy(',"signedIdentity":{"type":"matchExact"}'),
      /identity .* is not accepted/,
    ],
    [
      'several reasons',
      [gpgSig({ ...good, key: 'evil' }), gpgSig({ ...good, dockerManifestDigest: OTHER })],
      signedBy(),
      /^None of the signatures were accepted, reasons: signed by unknown key evil; Signature for digest/,
    ],
    [
      'keyPaths: []',
      [gpgSig(good)],
      '{"type":"signedBy","keyType":"GPGKeys","keyPaths":[]}',
      /^No public keys imported$/,
    ],
    [
      'missing key file',
      [gpgSig(good)],
      '{"type":"signedBy","keyType":"GPGKeys","keyPath":"/nonexistent/key.gpg"}',
      /cannot read key file "\/nonexistent\/key\.gpg"/,
    ],
    [
      'sigstore: no signature',
      [],
      '{"type":"sigstoreSigned","keyPath":"/k"}',
      /^A signature was required, but no signature exists$/,
    ],
    [
      'sigstore: only other kinds',
      [gpgSig(good), sigstoreSig(good, true, 'application/vnd.oci.image.layer.v1.tar')],
      `{"type":"sigstoreSigned","keyData":"${KEY}"}`,
      /no signature exists \(1 non-sigstore signatures, 1 sigstore non-signature attachments\)$/,
    ],
    [
      'sigstore: missing annotation',
      [sigstoreSig(good, false)],
      `{"type":"sigstoreSigned","keyData":"${KEY}"}`,
      /^missing dev\.cosignproject\.cosign\/signature annotation$/,
    ],
    [
      'sigstore: wrong key',
      [sigstoreSig({ ...good, key: 'evil' })],
      `{"type":"sigstoreSigned","keyData":"${KEY}"}`,
      /unknown key evil/,
    ],
    [
      'sigstore: keyData null',
      [sigstoreSig(good)],
      '{"type":"sigstoreSigned","keyData":null}',
      /cannot read key file ""/,
    ],
  ];
  for (const [name, sigs, req, re] of refusals) {
    it(`refuses: ${name}`, async () => {
      const d = await evaluatePolicy(policy(req), image(sigs), fakeVerifier());
      assert.equal(d.accepted, false);
      assert.match(d.requirements[0]?.reason ?? '', re);
    });
  }

  it('sigstoreSigned accepts a valid attachment signature and passes the annotation', async () => {
    const calls: string[] = [];
    const d = await evaluatePolicy(
      policy(`{"type":"sigstoreSigned","keyData":"${KEY}"}`),
      image([sigstoreSig(good)]),
      fakeVerifier(calls),
    );
    assert.equal(d.accepted, true);
    assert.deepEqual(calls, ['sigstore:c2ln']);
  });

  it('reads key files relative to the host working directory, only when there is a signature', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'key.gpg'), 'good key');
    const p = policy('{"type":"signedBy","keyType":"GPGKeys","keyPaths":["key.gpg"]}');
    assert.equal(
      (await evaluatePolicy(p, image([gpgSig(good)]), fakeVerifier(), { host: { cwd: dir } })).accepted,
      true,
    );
    const none = await evaluatePolicy(
      policy('{"type":"signedBy","keyType":"GPGKeys","keyPath":"/nonexistent"}'),
      image([]),
      fakeVerifier(),
    );
    assert.match(none.requirements[0]?.reason ?? '', /no signature exists/);
  });

  it('an error getting the signatures propagates (the image is not accepted)', async () => {
    const img: PolicyImage = { ...image([]), signatures: () => Promise.reject(new Error('lookaside down')) };
    await assert.rejects(evaluatePolicy(policy(signedBy()), img, fakeVerifier()), /lookaside down/);
  });

  describe('fails closed on what it does not implement', () => {
    const cases: [string, string, string][] = [
      ['signedBaseLayer', '{"type":"signedBaseLayer","baseLayerIdentity":{"type":"matchRepository"}}', 'type'],
      ['signedBy keyType signedByGPGKeys', '{"type":"signedBy","keyType":"signedByGPGKeys","keyPath":"/k"}', 'keyType'],
      [
        'signedBy keyType X509Certificates',
        '{"type":"signedBy","keyType":"X509Certificates","keyPath":"/k"}',
        'keyType',
      ],
      [
        'signedBy keyType signedByX509CAs',
        '{"type":"signedBy","keyType":"signedByX509CAs","keyData":"a2V5"}',
        'keyType',
      ],
    ];
    for (const [name, req, field] of cases) {
      it(`${name}: refused even with a valid signature and after an accepting requirement`, async () => {
        const calls: string[] = [];
        const d = await evaluatePolicy(
          policy(`{"type":"insecureAcceptAnything"},${req}`),
          image([gpgSig(good)]),
          fakeVerifier(calls),
        );
        assert.equal(d.accepted, false);
        assert.equal(d.requirements[1]?.unimplemented, field);
        assert.deepEqual(calls, []);
        const err = policyRefusal(d, image([]).identity);
        assert.ok(isOcikitError(err, 'POLICY'));
        assert.match(
          err.message,
          /\/etc\/containers\/policy\.json \(transports\.docker\["registry\.example\.com\/ns"\]\)/,
        );
        assert.match(
          err.message,
          new RegExp(`requirement 2 \\(\\w+, field "${field}"\\): .*not implemented.*fail closed`),
        );
      });
    }
  });
});
