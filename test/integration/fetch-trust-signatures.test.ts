/**
 * Signatures kept: the signatures that satisfied the policy are written into the cache entry as
 * `signature-N` (skopeo's `dir:` format), and `install` of that entry carries them into
 * containers-storage. The signatures and the verifier come through fetch's test seam
 * (`trustTestHooks`) until the registry's signature sources and the real verifier are wired: the
 * signature is a real one (`skopeo standalone-sign`), the verifier a stand-in that accepts exactly it.
 */
import assert from 'node:assert/strict';
import { readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fetch } from '../../src/fetch/fetch.js';
import { trustTestHooks } from '../../src/fetch/trust.js';
import { install } from '../../src/install/install.js';
import { SignatureFailure, type SignedClaims } from '../../src/trust/verifier.js';
import { exportKeys, genKey, makeGpgHome, skopeoSign } from '../helpers/gpg.js';
import { makeDirImage } from '../helpers/images.js';
import { env as installEnv, inputs, req, storageOptions, store } from '../helpers/install-env.js';
import { pushDir, startRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';
import { writePolicy } from '../helpers/trust-policy.js';

describe('fetch keeps the signatures that satisfied the policy', () => {
  it('writes the accepted signature as signature-1 (not the rejected one), and install carries it into containers-storage', async (t) => {
    if (!needTool(t, 'skopeo', 'docker-registry', 'gpg', 'podman')) return;
    const dir = await tempDir(t);
    const reg = await startRegistry(t);
    const img = await makeDirImage(join(dir, 'img'), { flavour: 'oci' });
    await pushDir(img.dir, reg.host, 'ns/signed:v1');
    const g = await makeGpgHome(t);
    const fpr = genKey(g, 'signer@example.com');
    const name = `${reg.host}/ns/signed`;
    const good = skopeoSign(g, join(img.dir, 'manifest.json'), `${name}:v1`, fpr, join(dir, 'sig'));
    const bogus = Buffer.from([0xa3, 1, 2, 3]);
    const key = join(dir, 'key.gpg');
    await writeFile(key, exportKeys(g, [fpr]));
    const policy = await writePolicy(join(dir, 'policy.json'), {
      default: [{ type: 'reject' }],
      transports: { docker: { [name]: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: key }] } },
    });
    let asked = 0;
    trustTestHooks.signatures = async ({ digest }) => {
      asked++;
      assert.equal(digest, img.manifestDigest);
      return [
        { kind: 'simple-signing', bytes: bogus, source: 'test:1' },
        { kind: 'simple-signing', bytes: good, source: 'test:2' },
      ];
    };
    trustTestHooks.verifier = {
      async verifyGpg(sig): Promise<SignedClaims> {
        if (!Buffer.from(sig).equals(good)) throw new SignatureFailure('not a valid signature');
        return { dockerManifestDigest: img.manifestDigest, dockerReference: `${name}:v1` };
      },
      verifySigstore: () => Promise.reject(new SignatureFailure('no sigstore here')),
    };
    t.after(() => {
      trustTestHooks.signatures = undefined;
      trustTestHooks.verifier = undefined;
    });
    const cache = join(dir, 'cache');
    const sources = {
      'org.osbuild.skopeo': {
        items: { [img.configDigest]: { image: { name, digest: img.manifestDigest, 'tls-verify': false } } },
      },
    };
    await fetch(sources, cache, { policy, env: {} });
    assert.equal(asked, 1);
    const entry = join(cache, 'org.osbuild.containers', img.configDigest, 'image');
    const files = await readdir(entry);
    assert.ok(files.includes('signature-1'), files.join(' '));
    assert.ok(!files.includes('signature-2'), 'only the accepted signature is kept');
    assert.deepEqual(await readFile(join(entry, 'signature-1')), good);

    // Without signatures that satisfy it, the same policy refuses and nothing is cached.
    trustTestHooks.signatures = async () => [{ kind: 'simple-signing', bytes: bogus }];
    const cache2 = join(dir, 'cache2');
    await assert.rejects(fetch(sources, cache2, { policy, env: {} }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'POLICY');
      assert.match(e.message, /requirement 1 \(signedBy\): not a valid signature/);
      return true;
    });
    assert.deepEqual(await readdir(join(cache2, 'org.osbuild.containers')).catch(() => []), []);

    // install carries the kept signature into containers-storage (skopeo copy dir: → storage).
    const e = await installEnv(t);
    await rename(entry, join(e.images, img.configDigest));
    await install(
      req(e, inputs(e, { [img.configDigest]: { format: 'dir', name: 'localhost/signed:v1' } }), storageOptions()),
    );
    // containers/storage keeps an image's signatures as its "signatures" big data, sized in the
    // record's metadata (`signature-sizes`).
    const records = JSON.parse(await readFile(join(store(e), 'vfs-images', 'images.json'), 'utf8')) as {
      id: string;
      metadata?: string;
      'big-data-names'?: string[];
    }[];
    const rec = records.find((r) => r.id === img.configDigest.slice(7));
    assert.ok(rec?.['big-data-names']?.includes('signatures'), JSON.stringify(rec));
    if (rec === undefined) return;
    assert.deepEqual((JSON.parse(rec.metadata ?? '{}') as { 'signature-sizes'?: number[] })['signature-sizes'], [
      good.length,
    ]);
  });
});
