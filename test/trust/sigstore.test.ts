/**
 * Tests for src/trust/sigstore.ts. Debian's skopeo 1.9.3 has sigstore verification patched out, so
 * the references are containers/image's own fixtures (signed by cosign, verified by its tests
 * with the public key below) and signatures made here with node:crypto exactly as containers/image
 * 5.23 writes them (`signature/sigstore/sign.go`: the marshalled payload, ECDSA-SHA256 ASN.1,
 * base64), checked against the rules read from `signature/internal/sigstore_payload.go` and
 * sigstore v1.4.2's key loading.
 */
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { manifestDigest } from '../../src/model/manifest.js';
import { readSignatures } from '../helpers/signatures.js';
import { SignatureError } from '../../src/trust/verifier.js';
import {
  SIGSTORE_SIGNATURE_ANNOTATION,
  SIGSTORE_SIGNATURE_MIME_TYPE,
  loadSigstorePublicKey,
  verifySigstore,
} from '../../src/trust/sigstore.js';
import { UPSTREAM } from '../helpers/fixtures.js';

const FIXTURES = join(UPSTREAM, 'containers-image/signature/fixtures');

/** containers/image `signature/fixtures/cosign.pub` (v5.23.1), the key its cosign fixtures are signed with. */
const COSIGN_PUB = Buffer.from(`-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEFNLqFhf4fiN6o/glAuYnq2jYUeL0
vRuLu/z39pmbVwS9ff5AYnlwaP9sxREajdLY9ynM6G1sy6AAmb7Z63TsLg==
-----END PUBLIC KEY-----
`);

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const REF = 'example.com/ns/app:1';

/** The payload as containers/image's `UntrustedSigstorePayload.MarshalJSON` writes it. */
function payload(type = 'cosign container image signature'): Buffer {
  return Buffer.from(
    `{"critical":{"identity":{"docker-reference":"${REF}"},"image":{"docker-manifest-digest":"${DIGEST}"},"type":"${type}"},"optional":{"creator":"containers/image 5.23.1","timestamp":1670000000}}`,
  );
}

function keyPair(type: 'ec' | 'rsa' | 'ed25519' | 'ed448' | 'rsa-pss' | 'dsa', curve = 'P-256') {
  const opts =
    type === 'ec'
      ? { namedCurve: curve }
      : type === 'rsa' || type === 'rsa-pss'
        ? { modulusLength: 2048 }
        : type === 'dsa'
          ? { modulusLength: 2048, divisorLength: 256 }
          : {};
  // biome-ignore lint/suspicious/noExplicitAny: generateKeyPairSync's overloads per type
  const pair = crypto.generateKeyPairSync(type as any, opts as any) as unknown as crypto.KeyPairKeyObjectResult;
  const { publicKey, privateKey } = pair;
  return { pem: Buffer.from(publicKey.export({ type: 'spki', format: 'pem' }) as string), privateKey, publicKey };
}

function sign(privateKey: crypto.KeyObject, data: Buffer): string {
  const alg = privateKey.asymmetricKeyType === 'ed25519' ? null : 'sha256';
  return crypto.sign(alg, data, privateKey).toString('base64');
}

function refusedFor(reason: string) {
  return (err: unknown) => {
    assert.ok(err instanceof SignatureError, String(err));
    assert.equal(err.reason, reason, err.message);
    assert.equal(err.code, 'SIGNATURE');
    return true;
  };
}

describe('sigstore signatures', () => {
  it("containers/image's cosign fixtures: valid, valid-2, mixed, modified manifest", async () => {
    for (const name of ['dir-img-cosign-valid', 'dir-img-cosign-valid-2', 'dir-img-cosign-valid-with-tag']) {
      const dir = join(FIXTURES, name);
      const sigs = await readSignatures(dir);
      assert.ok(sigs.length >= 1, name);
      const manifest = await readFile(join(dir, 'manifest.json'));
      for (const s of sigs) {
        assert.equal(s.format, 'sigstore');
        if (s.format !== 'sigstore') continue;
        assert.equal(s.mimeType, SIGSTORE_SIGNATURE_MIME_TYPE);
        const claims = verifySigstore(s.payload, s.annotations.get(SIGSTORE_SIGNATURE_ANNOTATION) ?? '', COSIGN_PUB);
        assert.equal(claims.dockerManifestDigest, manifestDigest(manifest), name);
      }
    }
    // The manifest was modified after signing: the signature holds, the digest does not match.
    const mod = join(FIXTURES, 'dir-img-cosign-modified-manifest');
    const [s] = await readSignatures(mod);
    assert.ok(s?.format === 'sigstore');
    const claims = verifySigstore(s.payload, s.annotations.get(SIGSTORE_SIGNATURE_ANNOTATION) ?? '', COSIGN_PUB);
    assert.notEqual(claims.dockerManifestDigest, manifestDigest(await readFile(join(mod, 'manifest.json'))));
    // A key it was not signed with.
    assert.throws(
      () => verifySigstore(s.payload, s.annotations.get(SIGSTORE_SIGNATURE_ANNOTATION) ?? '', keyPair('ec').pem),
      refusedFor('bad-signature'),
    );
  });

  it('valid, wrong key, tampered payload, malformed base64, wrong payload type', () => {
    const { pem, privateKey } = keyPair('ec');
    const p = payload();
    const sig = sign(privateKey, p);
    assert.deepEqual(verifySigstore(p, sig, pem), {
      dockerManifestDigest: DIGEST,
      dockerReference: REF,
      creator: 'containers/image 5.23.1',
      timestamp: 1670000000,
    });
    assert.throws(() => verifySigstore(p, sig, keyPair('ec').pem), refusedFor('bad-signature'));
    const tampered = Buffer.from(p.toString().replace('ns/app', 'ns/apq'));
    assert.throws(() => verifySigstore(tampered, sig, pem), refusedFor('bad-signature'));
    for (const bad of [sig.slice(0, -1), `${sig}=`, `${sig.slice(0, 4)} ${sig.slice(4)}`, sig.replace(/[+/]/, '-')]) {
      if (bad === sig) continue;
      assert.throws(() => verifySigstore(p, bad, pem), refusedFor('bad-signature'), bad);
    }
    // Go's StdEncoding skips CR and LF.
    assert.equal(verifySigstore(p, `${sig.slice(0, 8)}\r\n${sig.slice(8)}`, pem).dockerReference, REF);
    const simple = payload('atomic container signature');
    assert.throws(() => verifySigstore(simple, sign(privateKey, simple), pem), refusedFor('payload'));
    // A signature over the SHA-256 digest in IEEE P1363 form (not ASN.1) is refused.
    const p1363 = crypto.sign('sha256', p, { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64');
    assert.throws(() => verifySigstore(p, p1363, pem), refusedFor('bad-signature'));
  });

  it('key types: ECDSA P-256/P-384/P-521, RSA (SPKI and PKCS #1), Ed25519; others refused', () => {
    const p = payload();
    for (const [type, curve] of [
      ['ec', 'P-256'],
      ['ec', 'P-384'],
      ['ec', 'P-521'],
      ['rsa', ''],
      ['ed25519', ''],
    ] as const) {
      const k = keyPair(type, curve || undefined);
      assert.equal(verifySigstore(p, sign(k.privateKey, p), k.pem).dockerReference, REF, `${type} ${curve}`);
      assert.equal(verifySigstore(p, sign(k.privateKey, p), loadSigstorePublicKey(k.pem)).dockerReference, REF);
    }
    const rsa = keyPair('rsa');
    const pkcs1 = Buffer.from(rsa.publicKey.export({ type: 'pkcs1', format: 'pem' }) as string);
    assert.match(pkcs1.toString(), /BEGIN RSA PUBLIC KEY/);
    assert.equal(verifySigstore(p, sign(rsa.privateKey, p), pkcs1).dockerReference, REF);
    // Text before the block is skipped, as Go's pem.Decode does.
    const withText = Buffer.concat([Buffer.from('comment\n'), keyPair('ec').pem]);
    assert.ok(loadSigstorePublicKey(withText));

    for (const type of ['ed448', 'rsa-pss', 'dsa'] as const) {
      assert.throws(() => loadSigstorePublicKey(keyPair(type).pem), refusedFor('no-keys'), type);
    }
    const priv = Buffer.from(rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    assert.throws(() => loadSigstorePublicKey(priv), /unknown public key PEM file type PRIVATE KEY/);
    assert.throws(() => loadSigstorePublicKey(Buffer.from('no PEM here')), /PEM decoding failed/);
    assert.throws(
      () => loadSigstorePublicKey(Buffer.from('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n')),
      refusedFor('no-keys'),
    );
  });
});
