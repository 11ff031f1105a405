/**
 * Tests for src/trust/pgp.ts: simple-signing signatures made by real skopeo (`standalone-sign`,
 * gpgme) or gpg in a temporary GNUPGHOME, verified by ocikit and by `skopeo standalone-verify`
 * (the differential reference) on the same inputs; the `signedBy` rules (trusted identities are
 * primary keys) against a real `skopeo copy` under a signedBy policy.
 */
import * as assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { formatDockerReference, parseDockerReference } from '../../src/model/docker-reference.js';
import { manifestDigest } from '../../src/model/manifest.js';
import {
  loadGpgKeys,
  readGpgKeySource,
  verifyGpg,
  verifyPgpMessage,
  type TrustedGpgKeys,
} from '../../src/trust/pgp.js';
import { parseSimpleSigningPayload } from '../../src/trust/simple-signing.js';
import { SignatureError, type SignatureFailureReason as SignatureFailure } from '../../src/trust/verifier.js';
import {
  type GpgHome,
  addSigningSubkey,
  exportKeys,
  genKey,
  gpgSign,
  gpgVerifyStatus,
  makeGpgHome,
  revokeKey,
  skopeo,
  skopeoSign,
  skopeoVerify,
} from '../helpers/gpg.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';

const CONFIG = Buffer.from('{}');
const CONFIG_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';
const MANIFEST = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: CONFIG_DIGEST, size: 2 },
    layers: [],
  }),
);
const OTHER_MANIFEST = Buffer.from(MANIFEST.toString().replace('"layers":[]', '"layers":[],"annotations":{"a":"b"}'));
const REF = 'example.com/ns/app:1';

/** A simple-signing payload as containers/image writes it (keys sorted, as Go marshals maps). */
function payload(digest: string, ref: string): Buffer {
  return Buffer.from(
    `{"critical":{"identity":{"docker-reference":${JSON.stringify(ref)}},"image":{"docker-manifest-digest":"${digest}"},"type":"atomic container signature"},"optional":{"creator":"atomic 5.23.1","timestamp":1577900000}}`,
  );
}

/**
 * ocikit's counterpart of `skopeo standalone-verify` (containers/image `VerifyDockerManifestSignature`):
 * the keys of the whole GNUPGHOME, the signer must be `fpr`, the digest that of `manifest`, the
 * reference equal after normalisation. Returns true, or the failure reason.
 */
async function ocikitVerify(
  keys: TrustedGpgKeys,
  manifest: Buffer,
  ref: string,
  fpr: string,
  sig: Uint8Array,
): Promise<true | SignatureFailure | 'identity' | 'digest'> {
  try {
    const v = await verifyPgpMessage(sig, keys);
    if (v.signerFingerprint !== fpr) return 'untrusted-key';
    const claims = parseSimpleSigningPayload(v.payload);
    if (claims.dockerManifestDigest !== manifestDigest(manifest)) return 'digest';
    const norm = (r: string) => formatDockerReference(parseDockerReference(r));
    return norm(claims.dockerReference) === norm(ref) ? true : 'identity';
  } catch (err) {
    if (err instanceof SignatureError) return err.reason;
    throw err;
  }
}

interface Fixture {
  g: GpgHome;
  dir: string;
  manifestFile: string;
  otherManifestFile: string;
}

async function setup(t: TestContext): Promise<Fixture> {
  const g = await makeGpgHome(t);
  const dir = await tempDir(t);
  const manifestFile = join(dir, 'manifest.json');
  const otherManifestFile = join(dir, 'other.json');
  await writeFile(manifestFile, MANIFEST);
  await writeFile(otherManifestFile, OTHER_MANIFEST);
  return { g, dir, manifestFile, otherManifestFile };
}

/** Runs both verifiers on one case and asserts they agree; returns ocikit's verdict. */
async function both(
  f: Fixture,
  c: { sig: Buffer; fpr: string; manifest?: 'other'; ref?: string },
): Promise<{ skopeo: boolean; ocikit: true | string }> {
  const sigFile = join(f.dir, `sig-${Math.random().toString(36).slice(2)}`);
  await writeFile(sigFile, c.sig);
  const manifestFile = c.manifest === 'other' ? f.otherManifestFile : f.manifestFile;
  const ref = c.ref ?? REF;
  const s = skopeoVerify(f.g, manifestFile, ref, c.fpr, sigFile);
  const keys = await loadGpgKeys([exportKeys(f.g, [])]);
  const o = await ocikitVerify(keys, await readFile(manifestFile), ref, c.fpr, c.sig);
  assert.equal(o === true, s.ok, `ocikit ${String(o)} vs skopeo ${s.ok ? 'accepted' : s.stderr}`);
  return { skopeo: s.ok, ocikit: o };
}

describe('OpenPGP simple signing against skopeo standalone-verify', () => {
  it('valid, wrong key, tampered, wrong digest, wrong reference, two signers', async (t) => {
    if (!needTool(t, 'skopeo', 'gpg')) return;
    const f = await setup(t);
    const a = genKey(f.g, 'a@example.com');
    const b = genKey(f.g, 'b@example.com', { algo: 'rsa2048' });
    const sigA = skopeoSign(f.g, f.manifestFile, REF, a, join(f.dir, 'a.sig'));
    const sigB = skopeoSign(f.g, f.manifestFile, REF, b, join(f.dir, 'b.sig'));
    assert.equal(sigA[0], 0xa3, 'skopeo writes a compressed signed message');

    assert.deepEqual(await both(f, { sig: sigA, fpr: a }), { skopeo: true, ocikit: true });
    assert.deepEqual(await both(f, { sig: sigB, fpr: b }), { skopeo: true, ocikit: true });
    // Signed by b, a expected.
    assert.deepEqual(await both(f, { sig: sigB, fpr: a }), { skopeo: false, ocikit: 'untrusted-key' });
    // A byte of the RSA signature itself changed. The message is uncompressed, so the byte is the
    // signature's: flipping the last byte of a compressed message (as this case once did) lands in
    // the deflate stream, and gpgme still accepts about one such file in fifteen (measured with
    // skopeo standalone-verify), where openpgp refuses every one.
    const plainB = gpgSign(f.g, payload(manifestDigest(MANIFEST), REF), [b], { compress: false });
    const bad = Buffer.from(plainB);
    bad[bad.length - 20] = (bad[bad.length - 20] ?? 0) ^ 1;
    assert.deepEqual(await both(f, { sig: bad, fpr: b }), { skopeo: false, ocikit: 'bad-signature' });
    // An uncompressed message whose payload is changed after signing.
    const plain = gpgSign(f.g, payload(manifestDigest(MANIFEST), REF), [a], { compress: false });
    assert.deepEqual(await both(f, { sig: plain, fpr: a }), { skopeo: true, ocikit: true });
    const tampered = Buffer.from(plain.toString('latin1').replace('ns/app', 'ns/apq'), 'latin1');
    assert.notDeepEqual(tampered, plain);
    assert.deepEqual(await both(f, { sig: tampered, fpr: a }), { skopeo: false, ocikit: 'bad-signature' });
    // Valid signature, other manifest / other reference.
    assert.deepEqual(await both(f, { sig: sigA, fpr: a, manifest: 'other' }), { skopeo: false, ocikit: 'digest' });
    assert.deepEqual(await both(f, { sig: sigA, fpr: a, ref: 'example.com/ns/app:2' }), {
      skopeo: false,
      ocikit: 'identity',
    });
    // Normalised references are equal: docker.io/library/x:1 and x:1.
    const hub = skopeoSign(f.g, f.manifestFile, 'docker.io/library/busybox:1', a, join(f.dir, 'hub.sig'));
    assert.deepEqual(await both(f, { sig: hub, fpr: a, ref: 'busybox:1' }), { skopeo: true, ocikit: true });
    // One message signed by two keys: "Unexpected GPG signature count 2".
    const two = gpgSign(f.g, payload(manifestDigest(MANIFEST), REF), [a, b]);
    assert.deepEqual(await both(f, { sig: two, fpr: a }), { skopeo: false, ocikit: 'bad-signature' });
    // Not a signature at all.
    assert.deepEqual(await both(f, { sig: Buffer.from(payload(CONFIG_DIGEST, REF)), fpr: a }), {
      skopeo: false,
      ocikit: 'bad-signature',
    });
  });

  it('a key expired since it signed and a revoked key are refused (gpg --verify says "Good signature")', async (t) => {
    if (!needTool(t, 'skopeo', 'gpg')) return;
    const f = await setup(t);
    const e = genKey(f.g, 'e@example.com', { fakedTime: '20200101T000000', expire: '2020-06-01' });
    const expired = gpgSign(f.g, payload(manifestDigest(MANIFEST), REF), [e], { fakedTime: '20200102T000000' });
    await writeFile(join(f.dir, 'expired.sig'), expired);
    assert.equal(gpgVerifyStatus(f.g, join(f.dir, 'expired.sig')), 0);
    assert.deepEqual(await both(f, { sig: expired, fpr: e }), { skopeo: false, ocikit: 'expired' });

    const r = genKey(f.g, 'r@example.com');
    const byR = skopeoSign(f.g, f.manifestFile, REF, r, join(f.dir, 'r.sig'));
    assert.deepEqual(await both(f, { sig: byR, fpr: r }), { skopeo: true, ocikit: true });
    revokeKey(f.g, r);
    assert.equal(gpgVerifyStatus(f.g, join(f.dir, 'r.sig')), 0);
    assert.deepEqual(await both(f, { sig: byR, fpr: r }), { skopeo: false, ocikit: 'revoked' });

    // A signature that expired (a valid key, --default-sig-expire 1d in 2020).
    const k = genKey(f.g, 'k@example.com', { fakedTime: '20200101T000000' });
    const sigExpired = gpgSign(f.g, payload(manifestDigest(MANIFEST), REF), [k], {
      fakedTime: '20200102T000000',
      sigExpire: '1d',
    });
    assert.deepEqual(await both(f, { sig: sigExpired, fpr: k }), { skopeo: false, ocikit: 'expired' });
  });

  it('a subkey signature: the signer is the subkey; signedBy refuses it as skopeo copy does', async (t) => {
    if (!needTool(t, 'skopeo', 'gpg')) return;
    const f = await setup(t);
    const p = genKey(f.g, 's@example.com');
    const sub = addSigningSubkey(f.g, p, 's@example.com');
    const sig = skopeoSign(f.g, f.manifestFile, REF, sub, join(f.dir, 'sub.sig'));
    assert.deepEqual(await both(f, { sig, fpr: p }), { skopeo: false, ocikit: 'untrusted-key' });
    assert.deepEqual(await both(f, { sig, fpr: sub }), { skopeo: true, ocikit: true });

    // The policy path: trusted = the exported key (primary + subkey).
    const keyFile = join(f.dir, 'pub.gpg');
    await writeFile(keyFile, exportKeys(f.g, [p]));
    const trusted = await loadGpgKeys(await readGpgKeySource({ keyPath: keyFile }));
    assert.deepEqual(trusted.fingerprints, [p]);
    await assert.rejects(verifyGpg(sig, trusted), (err: unknown) => {
      assert.ok(err instanceof SignatureError && err.reason === 'untrusted-key');
      assert.match(err.message, new RegExp(`Signature by key ${sub} is not accepted`));
      return true;
    });
    const byPrimary = gpgSign(f.g, payload(manifestDigest(MANIFEST), REF), [p]);
    const claims = await verifyGpg(byPrimary, trusted);
    assert.equal(claims.dockerManifestDigest, manifestDigest(MANIFEST));
    assert.equal(claims.dockerReference, REF);
    assert.equal(claims.signerFingerprint, p);

    // skopeo copy under a signedBy policy: the subkey signature is refused, the primary's accepted.
    const img = join(f.dir, 'img');
    await mkdir(img);
    await writeFile(join(img, 'manifest.json'), MANIFEST);
    await writeFile(join(img, CONFIG_DIGEST.slice(7)), CONFIG);
    const policy = join(f.dir, 'policy.json');
    const req = { type: 'signedBy', keyType: 'GPGKeys', keyPath: keyFile };
    const identity = { type: 'exactReference', dockerReference: REF };
    await writeFile(
      policy,
      JSON.stringify({
        default: [{ type: 'reject' }],
        transports: { dir: { '': [{ ...req, signedIdentity: identity }] } },
      }),
    );
    const copy = async (s: Buffer, out: string) => {
      await writeFile(join(img, 'signature-1'), s);
      return skopeo(f.g, ['--policy', policy, 'copy', `dir:${img}`, `dir:${join(f.dir, out)}`]);
    };
    const refused = await copy(sig, 'out1');
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, new RegExp(`Signature by key ${sub} is not accepted`));
    assert.equal((await copy(byPrimary, 'out2')).status, 0);
  });

  it('keys: binary and armored keyrings, several files, keyData; nothing imported is refused', async (t) => {
    if (!needTool(t, 'gpg')) return;
    const f = await setup(t);
    const a = genKey(f.g, 'a@example.com');
    const b = genKey(f.g, 'b@example.com');
    const both2 = exportKeys(f.g, [a, b]);
    assert.deepEqual((await loadGpgKeys([both2])).fingerprints, [a, b]);
    const armored = Buffer.concat([exportKeys(f.g, [a], true), exportKeys(f.g, [b], true)]);
    assert.deepEqual((await loadGpgKeys([armored])).fingerprints, [a, b]);
    const fa = join(f.dir, 'a.asc');
    const fb = join(f.dir, 'b.gpg');
    await writeFile(fa, exportKeys(f.g, [a], true));
    await writeFile(fb, exportKeys(f.g, [b]));
    const fromFiles = await loadGpgKeys(await readGpgKeySource({ keyPaths: [fa, fb] }));
    assert.deepEqual(fromFiles.fingerprints, [a, b]);
    assert.deepEqual((await loadGpgKeys(await readGpgKeySource({ keyData: both2 }))).fingerprints, [a, b]);
    for (const blobs of [[], [Buffer.from('not a key')]]) {
      await assert.rejects(
        loadGpgKeys(blobs),
        (err: unknown) => err instanceof SignatureError && err.reason === 'no-keys',
      );
    }
    await assert.rejects(
      readGpgKeySource({ keyPath: fa, keyData: both2 }),
      (err: unknown) => err instanceof SignatureError && err.reason === 'no-keys',
    );
  });
});
