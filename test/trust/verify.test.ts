/**
 * The real verifier: OpenPGP and sigstore signatures verified through pgp.ts and sigstore.ts, keys
 * imported once per content and run, and every refusal a one-line SignatureError.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, it } from 'node:test';
import * as openpgp from 'openpgp';
import { SignatureError } from '../../src/trust/verifier.js';
import { createSignatureVerifier } from '../../src/trust/verify.js';

const DIGEST = `sha256:${'5'.repeat(64)}`;
const payload = (type: string) =>
  Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': 'quay.io/a/b:v1' },
        image: { 'docker-manifest-digest': DIGEST },
        type,
      },
      optional: type === 'atomic container signature' ? { creator: 'test' } : null,
    }),
  );

async function pgpKey() {
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'ed25519Legacy',
    userIDs: [{ email: 'a@example.com' }],
    format: 'object',
  });
  return { privateKey, publicKey: publicKey.write() as Uint8Array };
}

async function pgpSign(key: openpgp.PrivateKey, data: Uint8Array): Promise<Uint8Array> {
  const message = await openpgp.createMessage({ binary: data });
  return (await openpgp.sign({ message, signingKeys: key, format: 'binary' })) as Uint8Array;
}

const refusal = (reason: string, re: RegExp) => (err: unknown) => {
  assert.ok(err instanceof SignatureError, String(err));
  assert.equal(err.reason, reason);
  assert.match(err.message, re);
  assert.doesNotMatch(err.message, /\n/);
  return true;
};

describe('createSignatureVerifier', () => {
  it('verifies simple signing and imports each key set once per run', async () => {
    const a = await pgpKey();
    const b = await pgpKey();
    const imports: string[] = [];
    const v = createSignatureVerifier({ onKeyImport: (k) => imports.push(k) });
    const signature = await pgpSign(a.privateKey, payload('atomic container signature'));
    for (let i = 0; i < 3; i++) {
      const claims = await v.verifyGpg(signature, [Buffer.from(a.publicKey)]);
      assert.equal(claims.dockerManifestDigest, DIGEST);
      assert.equal(claims.dockerReference, 'quay.io/a/b:v1');
      assert.equal(claims.creator, 'test');
      assert.equal(claims.keyIdentity, a.privateKey.getFingerprint().toUpperCase());
    }
    assert.deepEqual(imports, ['gpg']);
    await assert.rejects(
      v.verifyGpg(signature, [Buffer.from(b.publicKey)]),
      refusal('untrusted-key', /not a trusted key/),
    );
    await assert.rejects(
      v.verifyGpg(signature, [Buffer.from(b.publicKey)]),
      refusal('untrusted-key', /not a trusted key/),
    );
    assert.deepEqual(imports, ['gpg', 'gpg']);
    await assert.rejects(v.verifyGpg(signature, [Buffer.from('no key')]), refusal('no-keys', /no OpenPGP public keys/));
    await assert.rejects(
      v.verifyGpg(Buffer.from([0xa3, 1, 2]), [Buffer.from(a.publicKey)]),
      refusal('bad-signature', /OpenPGP/),
    );
  });

  it('verifies sigstore signatures and imports each public key once per run', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = Buffer.from(publicKey.export({ type: 'spki', format: 'pem' }));
    const body = payload('cosign container image signature');
    const b64 = sign('sha256', body, { key: privateKey, dsaEncoding: 'der' }).toString('base64');
    const imports: string[] = [];
    const v = createSignatureVerifier({ onKeyImport: (k) => imports.push(k) });
    for (let i = 0; i < 3; i++) assert.equal((await v.verifySigstore(body, b64, pem)).dockerManifestDigest, DIGEST);
    assert.deepEqual(imports, ['sigstore']);
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' });
    await assert.rejects(
      v.verifySigstore(body, b64, Buffer.from(other)),
      refusal('bad-signature', /verification failed/),
    );
    await assert.rejects(v.verifySigstore(body, b64, Buffer.from('junk')), refusal('no-keys', /PEM decoding failed/));
    await assert.rejects(v.verifySigstore(body, b64, Buffer.from('junk')), refusal('no-keys', /PEM decoding failed/));
    assert.deepEqual(imports, ['sigstore', 'sigstore', 'sigstore']);
  });
});
