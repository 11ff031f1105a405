/**
 * Where credentials go, for `fetch` and for skopeo, on the same hostile servers
 * (test/registry/foreign-origin.ts): a registry whose blobs are redirected to a foreign origin that
 * answers 401 with its own bearer realm. ocikit must fail naming that origin, send neither the
 * registry's credentials nor its token to the foreign origin or its token server, and never bring
 * the foreign token back to the registry. skopeo (containers/image) is run against the same
 * servers as the reference; where it differs, the test says how.
 */
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { fetch } from '../../src/fetch/fetch.js';
import { buildImage } from '../helpers/images.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';
import { authFileFor } from '../registry/fake-registry.js';
import { foreignOriginScenario, leaks, registrySecrets } from '../registry/foreign-origin.js';
import { ACCEPT_ANYTHING_POLICY } from '../helpers/trust-policy.js';

const run = promisify(execFile);

async function scenarioImage() {
  const img = await buildImage({ layers: 1 });
  const blobs = new Map<string, Buffer>([
    [img.configDigest, img.config],
    [img.layers[0]!.digest, img.layers[0]!.bytes],
  ]);
  return { img, blobs, manifests: new Map([[img.manifestDigest, img.manifest]]) };
}

for (const auth of ['basic', 'bearer'] as const) {
  for (const foreignAddress of ['127.0.0.1', '127.0.0.2'] as const) {
    const where = foreignAddress === '127.0.0.1' ? 'another port of the same host' : 'another host (127.0.0.2)';
    describe(`a ${auth} registry redirecting blobs to ${where} that wants its own token`, () => {
      it('fetch fails naming that origin and sends no credential or token where it does not belong', async (t) => {
        const { img, blobs, manifests } = await scenarioImage();
        const s = await foreignOriginScenario(t, { auth, foreignAddress, manifests, blobs });
        const authFile = await authFileFor(t, s.host, s.user, s.password);
        const cache = join(await tempDir(t), 'cache');
        const sources = {
          'org.osbuild.skopeo': {
            items: {
              [img.configDigest]: {
                image: { name: `${s.host}/ns/repo`, digest: img.manifestDigest, 'tls-verify': false },
              },
            },
          },
        };
        await assert.rejects(
          fetch(sources, cache, {
            authFile,
            env: {},
            policy: ACCEPT_ANYTHING_POLICY,
            retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 5 },
          }),
          (e: Error & { code: string }) => {
            assert.equal(e.code, 'REGISTRY');
            assert.ok(e.message.includes(s.foreignOrigin), e.message);
            assert.ok(!e.message.includes('\n'));
            return true;
          },
        );
        assert.ok(s.foreign.length > 0, 'the blob request reached the foreign origin');
        assert.deepEqual(leaks(s.foreign, registrySecrets(s)), []);
        assert.deepEqual(s.foreignTokens, [], 'the foreign token server is never asked');
        assert.deepEqual(leaks(s.registry, [s.foreignToken]), []);
        assert.deepEqual(await readdir(cache), []);
      });

      it('skopeo copy, the reference, never asks the foreign token server either', async (t) => {
        if (!needTool(t, 'skopeo')) return;
        const { img, blobs, manifests } = await scenarioImage();
        const s = await foreignOriginScenario(t, { auth, foreignAddress, manifests, blobs });
        const dir = await tempDir(t);
        const policy = join(dir, 'policy.json');
        await writeFile(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
        const r = await run(
          'skopeo',
          [
            '--policy',
            policy,
            'copy',
            '--retry-times',
            '0',
            '--src-tls-verify=false',
            '--src-creds',
            `${s.user}:${s.password}`,
            `docker://${s.host}/ns/repo@${img.manifestDigest}`,
            `dir:${join(dir, 'out')}`,
          ],
          { timeout: 60_000, env: { ...process.env, REGISTRY_AUTH_FILE: join(dir, 'none.json') } },
        ).then(
          () => ({ ok: true, stderr: '' }),
          (e: { stderr?: string }) => ({ ok: false, stderr: String(e.stderr) }),
        );
        // skopeo 1.9.3 fails with "reading blob …: unable to retrieve auth token: invalid
        // username/password: unauthorized: …": it does not follow the foreign challenge, and Go's
        // redirect rule (net/http, headers kept only for the same host and port) drops the
        // Authorization header on the way there, the other port of 127.0.0.1 included.
        assert.equal(r.ok, false);
        assert.match(r.stderr, /reading blob sha256:[0-9a-f]{64}: unable to retrieve auth token/);
        assert.ok(s.foreign.length > 0, 'the blob request reached the foreign origin');
        assert.deepEqual(leaks(s.foreign, registrySecrets(s)), []);
        assert.deepEqual(s.foreignTokens, []);
        assert.deepEqual(leaks(s.registry, [s.foreignToken]), []);
      });
    });
  }
}
