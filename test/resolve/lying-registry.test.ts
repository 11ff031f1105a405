/**
 * resolve against a registry that lies: asked for a manifest by digest, it answers other bytes.
 * The digest in the reference is verified, so the resolve fails with `DIGEST_MISMATCH` naming
 * both digests, and never reports the bytes it was sent.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isOcikitError } from '../../src/errors.js';
import { resolve } from '../../src/resolve/resolve.js';
import { tempDir } from '../helpers/tmp.js';
import { MANIFEST, serve, sha } from '../registry/fake-registry.js';

describe('resolve and a registry that sends other bytes for a pinned digest', () => {
  it('fails with DIGEST_MISMATCH naming the digest asked for and the one received', async (t) => {
    const wanted = `sha256:${'a'.repeat(64)}`;
    const seen: string[] = [];
    const { host } = await serve(t, (req, res) => {
      seen.push(req.url ?? '');
      if (req.url === '/v2/') return void res.writeHead(200).end();
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end(MANIFEST);
    });
    const home = await tempDir(t);
    await assert.rejects(
      resolve([`${host}/ns/app@${wanted}`], {
        arch: 'amd64',
        tlsVerify: false,
        env: { HOME: home },
        retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 5 },
      }),
      (e: unknown) => {
        assert.ok(isOcikitError(e, 'DIGEST_MISMATCH'), String(e));
        assert.ok((e as Error).message.includes(wanted), (e as Error).message);
        assert.ok((e as Error).message.includes(sha(MANIFEST)), (e as Error).message);
        return true;
      },
    );
    assert.ok(seen.includes(`/v2/ns/app/manifests/${wanted}`), seen.join(' '));
  });
});
