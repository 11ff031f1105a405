/**
 * Tests for src/trust/signature-files.ts: signature files made by real skopeo (`copy --sign-by`
 * into `dir:`) read back; files ocikit writes (simple signing, sigstore, per-instance names) read
 * by skopeo (`skopeo copy dir: dir:` carries them byte for byte — it decodes and re-encodes each
 * blob, so equal bytes show ocikit encodes as containers/image does — and a signedBy policy
 * accepts them); the blob format's refusals.
 */
import { readSignatures, writeSignatures } from '../helpers/signatures.js';
import * as assert from 'node:assert/strict';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sha256 } from '../../src/model/digest.js';
import { manifestDigest } from '../../src/model/manifest.js';
import { loadGpgKeys, verifyGpg } from '../../src/trust/pgp.js';
import {
  type StoredSignature,
  decodeSignatureBlob,
  encodeSignatureBlob,
  signatureFileName,
} from '../../src/trust/signature-files.js';
import { SignatureError } from '../../src/trust/verifier.js';
import { exportKeys, genKey, makeGpgHome, skopeo, skopeoSign } from '../helpers/gpg.js';
import { UPSTREAM } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';

const FIXTURES = join(UPSTREAM, 'containers-image/signature/fixtures');
const REF = 'example.com/ns/app:1';
const CONFIG = Buffer.from('{"architecture":"amd64","os":"linux"}');
const CONFIG_DIGEST = sha256(CONFIG);
const MANIFEST = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: CONFIG_DIGEST, size: CONFIG.length },
    layers: [],
  }),
);
const INSTANCE = manifestDigest(MANIFEST);
const LIST = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: INSTANCE,
        size: MANIFEST.length,
        platform: { architecture: 'amd64', os: 'linux' },
      },
    ],
  }),
);

/** A dir: image (or a list with its one instance) without signatures. */
async function makeImage(dir: string, list = false): Promise<void> {
  await mkdir(dir);
  await writeFile(join(dir, CONFIG_DIGEST.slice(7)), CONFIG);
  if (list) {
    await writeFile(join(dir, 'manifest.json'), LIST);
    await writeFile(join(dir, `${INSTANCE.slice(7)}.manifest.json`), MANIFEST);
  } else {
    await writeFile(join(dir, 'manifest.json'), MANIFEST);
  }
  await writeFile(join(dir, 'version'), 'Directory Transport Version: 1.1\n');
}

const sigstore = (payload: string, annotations: [string, string][]): StoredSignature => ({
  format: 'sigstore',
  mimeType: 'application/vnd.dev.cosign.simplesigning.v1+json',
  payload: Buffer.from(payload),
  annotations: new Map(annotations),
});

describe('dir: signature files', () => {
  it('reads what skopeo copy --sign-by writes; the signature verifies', async (t) => {
    if (!needTool(t, 'skopeo', 'gpg')) return;
    const g = await makeGpgHome(t);
    const dir = await tempDir(t);
    const fpr = genKey(g, 'd@example.com');
    await makeImage(join(dir, 'src'));
    const out = join(dir, 'out');
    const r = skopeo(g, ['copy', '--sign-by', fpr, '--sign-identity', REF, `dir:${join(dir, 'src')}`, `dir:${out}`]);
    assert.equal(r.status, 0, r.stderr);
    const sigs = await readSignatures(out);
    assert.equal(sigs.length, 1);
    const [s] = sigs;
    assert.ok(s?.format === 'simple-signing');
    const claims = await verifyGpg(s.blob, await loadGpgKeys([exportKeys(g, [fpr])]));
    assert.equal(claims.dockerManifestDigest, manifestDigest(MANIFEST));
    assert.equal(claims.dockerReference, REF);
    assert.deepEqual(encodeSignatureBlob(s), await readFile(join(out, 'signature-1')));
  });

  it('skopeo reads what ocikit writes: copied byte for byte, accepted by a signedBy policy', async (t) => {
    if (!needTool(t, 'skopeo', 'gpg')) return;
    const g = await makeGpgHome(t);
    const dir = await tempDir(t);
    const fpr = genKey(g, 'w@example.com');
    const src = join(dir, 'src');
    await makeImage(src, true);
    const gpgSig = skopeoSign(g, join(src, `${INSTANCE.slice(7)}.manifest.json`), REF, fpr, join(dir, 's.sig'));
    const cosign = sigstore('{"critical":{},"optional":null}', [
      ['z-last', 'a<b>&c\u2028'],
      ['dev.cosignproject.cosign/signature', 'MEUCIQ=='],
      ['a-first', ''],
    ]);
    await writeSignatures(src, [cosign]);
    await writeSignatures(src, [{ format: 'simple-signing', blob: gpgSig }, cosign], INSTANCE);
    assert.deepEqual((await readdir(src)).filter((n) => n.includes('signature')).sort(), [
      `${INSTANCE.slice(7)}.signature-1`,
      `${INSTANCE.slice(7)}.signature-2`,
      'signature-1',
    ]);
    const out = join(dir, 'out');
    const r = skopeo(g, ['copy', '--all', `dir:${src}`, `dir:${out}`]);
    assert.equal(r.status, 0, r.stderr);
    for (const name of ['signature-1', `${INSTANCE.slice(7)}.signature-1`, `${INSTANCE.slice(7)}.signature-2`]) {
      assert.deepEqual(await readFile(join(out, name)), await readFile(join(src, name)), name);
    }
    const read = await readSignatures(src, INSTANCE);
    assert.equal(read.length, 2);
    const [, second] = read;
    assert.ok(second?.format === 'sigstore');
    assert.deepEqual(Buffer.from(second.payload), cosign.format === 'sigstore' ? cosign.payload : undefined);
    assert.deepEqual(second.annotations, cosign.format === 'sigstore' ? cosign.annotations : undefined);

    // The instance's signature, read by skopeo under a signedBy policy (one image of the list).
    const keyFile = join(dir, 'pub.gpg');
    await writeFile(keyFile, exportKeys(g, [fpr]));
    const policy = join(dir, 'policy.json');
    const req = { type: 'signedBy', keyType: 'GPGKeys', keyPath: keyFile };
    const signedIdentity = { type: 'exactReference', dockerReference: REF };
    await writeFile(
      policy,
      JSON.stringify({ default: [{ type: 'reject' }], transports: { dir: { '': [{ ...req, signedIdentity }] } } }),
    );
    const one = skopeo(g, ['--policy', policy, 'copy', `dir:${src}`, `dir:${join(dir, 'one')}`]);
    assert.equal(one.status, 0, one.stderr);
  });

  it("containers/image's fixtures decode and re-encode to the same bytes", async () => {
    // (dir-img-cosign-mixed's signature-1 has a newline after the JSON that json.Marshal never writes.)
    for (const name of ['dir-img-valid', 'dir-img-cosign-valid', 'dir-img-cosign-valid-2']) {
      const dir = join(FIXTURES, name);
      const sigs = await readSignatures(dir);
      assert.ok(sigs.length > 0, name);
      for (const [i, s] of sigs.entries()) {
        assert.deepEqual(encodeSignatureBlob(s), await readFile(join(dir, `signature-${i + 1}`)), `${name} ${i + 1}`);
      }
    }
    const mixed = await readSignatures(join(FIXTURES, 'dir-img-cosign-mixed'));
    assert.deepEqual(
      mixed.map((s) => s.format),
      ['sigstore', 'sigstore'],
    );
  });

  it('refuses blobs containers/image does not read; stops at the first gap; never overwrites', async (t) => {
    const bad: [Buffer, RegExp][] = [
      [Buffer.alloc(0), /empty signature blob/],
      [Buffer.from('-----BEGIN PGP MESSAGE-----\n'), /starting with binary 0x2d/],
      [Buffer.from('\0sigstore-json'), /missing newline/],
      [Buffer.from('\0x\u0001\n{}'), /non-ASCII byte 0x1/],
      [Buffer.from('\0other\n{}'), /unrecognized signature format "other"/],
      [Buffer.from('\0sigstore-json\n{"payload":"!"}'), /sigstore signature/],
    ];
    for (const [blob, re] of bad) {
      assert.throws(
        () => decodeSignatureBlob(blob),
        (err: unknown) => {
          assert.ok(err instanceof SignatureError && err.reason === 'format');
          assert.match(err.message, re);
          return true;
        },
      );
    }
    // `\0simple-signing\n` wraps an OpenPGP blob; Go's case-insensitive field names are read.
    assert.deepEqual(decodeSignatureBlob(Buffer.from('\0simple-signing\nabc')), {
      format: 'simple-signing',
      blob: Buffer.from('abc'),
    });
    const folded = decodeSignatureBlob(Buffer.from('\0sigstore-json\n{"MIMETYPE":"m","Payload":"YQ==","x":1}'));
    assert.ok(folded.format === 'sigstore' && folded.mimeType === 'm' && folded.annotations.size === 0);
    assert.deepEqual(Buffer.from(folded.payload), Buffer.from('a'));

    const dir = await tempDir(t);
    const s = sigstore('{}', []);
    await writeSignatures(dir, [s]);
    await writeFile(join(dir, 'signature-3'), encodeSignatureBlob(s));
    assert.equal((await readSignatures(dir)).length, 1);
    assert.deepEqual(await readSignatures(join(dir, 'missing')), []);
    await writeFile(join(dir, 'signature-2'), 'garbage');
    await assert.rejects(readSignatures(dir), (err: unknown) => err instanceof SignatureError);
    assert.equal(signatureFileName(2, INSTANCE), `${INSTANCE.slice(7)}.signature-2`);
    assert.throws(() => signatureFileName(0));
  });
});
