/**
 * Tests for src/registry/transport/bearer.ts: anonymous, Basic and bearer-token authorisation,
 * through `getManifest`.
 */
import * as assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { downloadBlob, getManifest } from '../../../src/registry/client.js';
import { tempDir } from '../../helpers/tmp.js';
import { MANIFEST, authFileFor, client, closeServer, selfSignedCert, serve, sha } from '../fake-registry.js';
import { foreignOriginScenario, leaks, registrySecrets } from '../foreign-origin.js';

describe('authedGet (through getManifest)', () => {
  it('runs the bearer flow: token from the realm with service and scope, Basic credentials from the auth file, reused', async (t) => {
    const dir = await tempDir(t);
    const authFile = join(dir, 'auth.json');
    const tokenRequests: URL[] = [];
    let tokenAuth = '';
    const { host, origin } = await serve(t, (req, res) => {
      const url = new URL(req.url!, 'http://x');
      if (url.pathname === '/token') {
        tokenRequests.push(url);
        tokenAuth = String(req.headers.authorization);
        return res.end(JSON.stringify({ access_token: 'T0K' }));
      }
      if (req.headers.authorization !== 'Bearer T0K') {
        res.statusCode = 401;
        res.setHeader('www-authenticate', `Bearer realm="${origin}/token",service="fake-registry"`);
        return res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      }
      res.end(MANIFEST);
    });
    await writeFile(
      authFile,
      JSON.stringify({ auths: { [host]: { auth: Buffer.from('alice:s3cret').toString('base64') } } }),
    );
    const c = client(t, { authFile });
    const loc = { host, path: 'ns/repo', tlsVerify: false };
    assert.deepEqual((await getManifest(c, loc, sha(MANIFEST))).bytes, MANIFEST);
    assert.deepEqual((await getManifest(c, loc, sha(MANIFEST))).bytes, MANIFEST);
    assert.equal(tokenRequests.length, 1);
    assert.equal(tokenRequests[0]!.searchParams.get('service'), 'fake-registry');
    assert.deepEqual(tokenRequests[0]!.searchParams.getAll('scope'), ['repository:ns/repo:pull']);
    assert.equal(tokenAuth, `Basic ${Buffer.from('alice:s3cret').toString('base64')}`);
  });

  it('reaches a self-signed HTTPS token server when tls-verify is false (as containers/image does)', async (t) => {
    const dir = await tempDir(t);
    const tokens = createHttpsServer(await selfSignedCert(dir), (_req, res) => res.end('{"token":"SELF"}'));
    await new Promise<void>((r) => tokens.listen(0, '127.0.0.1', () => r()));
    t.after(() => closeServer(tokens));
    const realm = `https://127.0.0.1:${(tokens.address() as AddressInfo).port}/token`;
    const { host } = await serve(t, (req, res) => {
      if (req.headers.authorization !== 'Bearer SELF') {
        res.statusCode = 401;
        res.setHeader('www-authenticate', `Bearer realm="${realm}"`);
        return res.end();
      }
      res.end(MANIFEST);
    });
    assert.deepEqual(
      (await getManifest(client(t), { host, path: 'a/b', tlsVerify: false }, sha(MANIFEST))).bytes,
      MANIFEST,
    );
  });

  it('gets a token anonymously when there are no credentials, reading "token"', async (t) => {
    let tokenAuth: string | undefined = 'unset';
    const { host, origin } = await serve(t, (req, res) => {
      if (req.url!.startsWith('/token')) {
        tokenAuth = req.headers.authorization;
        return res.end(JSON.stringify({ token: 'anon' }));
      }
      if (req.headers.authorization !== 'Bearer anon') {
        res.statusCode = 401;
        res.setHeader('www-authenticate', `Bearer realm="${origin}/token",service="s",scope="repository:x:pull"`);
        return res.end();
      }
      res.end(MANIFEST);
    });
    assert.deepEqual((await getManifest(client(t), { host, path: 'x', tlsVerify: false }, 'latest')).bytes, MANIFEST);
    assert.equal(tokenAuth, undefined);
  });

  it('answers a Basic challenge with auth-file credentials', async (t) => {
    const dir = await tempDir(t);
    const authFile = join(dir, 'auth.json');
    const { host } = await serve(t, (req, res) => {
      if (req.headers.authorization !== `Basic ${Buffer.from('bob:pw').toString('base64')}`) {
        res.statusCode = 401;
        res.setHeader('www-authenticate', 'Basic realm="registry"');
        return res.end();
      }
      res.end(req.url === '/v2/' ? '{}' : MANIFEST);
    });
    await writeFile(
      authFile,
      JSON.stringify({ auths: { [host]: { auth: Buffer.from('bob:pw').toString('base64') } } }),
    );
    assert.deepEqual(
      (await getManifest(client(t, { authFile }), { host, path: 'x', tlsVerify: false }, 'latest')).bytes,
      MANIFEST,
    );
  });

  it('reports a refused token as REGISTRY', async (t) => {
    const { host, origin } = await serve(t, (req, res) => {
      res.statusCode = 401;
      if (!req.url!.startsWith('/token')) res.setHeader('www-authenticate', `Bearer realm="${origin}/token"`);
      res.end();
    });
    await assert.rejects(getManifest(client(t), { host, path: 'x', tlsVerify: false }, 'latest'), { code: 'REGISTRY' });
  });

  it('learns no challenge from a ping redirected to another origin, so its realm never gets the credentials', async (t) => {
    const seen: { at: string; authorization: string | undefined }[] = [];
    const tokens = await serve(t, (req, res) => {
      seen.push({ at: 'foreign token server', authorization: req.headers.authorization });
      res.end('{"token":"FOREIGN"}');
    });
    const foreign = await serve(
      t,
      (req, res) => {
        seen.push({ at: 'foreign origin', authorization: req.headers.authorization });
        res.statusCode = 401;
        res.setHeader('www-authenticate', `Bearer realm="${tokens.origin}/token",service="evil"`);
        res.end();
      },
      '127.0.0.2',
    );
    const basic = `Basic ${Buffer.from('carol:pw').toString('base64')}`;
    const { host } = await serve(t, (req, res) => {
      if (req.url === '/v2/') {
        res.statusCode = 307;
        res.setHeader('location', `${foreign.origin}/v2/`);
        return res.end();
      }
      if (req.headers.authorization !== basic) {
        res.statusCode = 401;
        res.setHeader('www-authenticate', 'Basic realm="registry"');
        return res.end();
      }
      res.end(MANIFEST);
    });
    const authFile = await authFileFor(t, host, 'carol', 'pw');
    const m = await getManifest(client(t, { authFile }), { host, path: 'x', tlsVerify: false }, 'latest');
    assert.deepEqual(m.bytes, MANIFEST);
    assert.deepEqual(seen, [{ at: 'foreign origin', authorization: undefined }]);
  });

  it('sends no credentials where the token request is redirected to another origin', async (t) => {
    const foreignAuth: (string | undefined)[] = [];
    const foreign = await serve(
      t,
      (req, res) => {
        foreignAuth.push(req.headers.authorization);
        res.end('{"token":"FROM-ELSEWHERE"}');
      },
      '127.0.0.2',
    );
    const { host, origin } = await serve(t, (req, res) => {
      if (req.url!.startsWith('/token')) {
        res.statusCode = 307;
        res.setHeader('location', `${foreign.origin}/issue${req.url!.slice('/token'.length)}`);
        return res.end();
      }
      if (req.headers.authorization !== 'Bearer FROM-ELSEWHERE') {
        res.statusCode = 401;
        res.setHeader('www-authenticate', `Bearer realm="${origin}/token",service="s"`);
        return res.end();
      }
      res.end(MANIFEST);
    });
    const authFile = await authFileFor(t, host, 'dave', 'pw');
    const m = await getManifest(client(t, { authFile }), { host, path: 'x', tlsVerify: false }, 'latest');
    assert.deepEqual(m.bytes, MANIFEST);
    assert.deepEqual(foreignAuth, [undefined]);
  });

  it('fails naming the origin when a redirected blob meets a 401 there, offering it nothing', async (t) => {
    const img = { config: Buffer.from('{"c":1}') };
    const digest = sha(img.config);
    const s = await foreignOriginScenario(t, {
      auth: 'bearer',
      foreignAddress: '127.0.0.2',
      manifests: new Map(),
      blobs: new Map([[digest, img.config]]),
    });
    const dir = await tempDir(t);
    const authFile = await authFileFor(t, s.host, s.user, s.password);
    await assert.rejects(
      downloadBlob(
        client(t, { authFile }),
        { host: s.host, path: 'ns/repo', tlsVerify: false },
        { digest, size: img.config.length },
        join(dir, 'blob'),
      ),
      (e: Error & { code: string }) => {
        assert.equal(e.code, 'REGISTRY');
        assert.equal(
          e.message,
          `fetching blob ${digest} of ${s.host}/ns/repo: redirected to ${s.foreignOrigin}, which answered HTTP 401; ` +
            'ocikit sends no credentials to an origin other than the registry',
        );
        return true;
      },
    );
    assert.equal(s.foreign.length, 1, 'asked once, not again with a token');
    assert.deepEqual(leaks(s.foreign, registrySecrets(s)), []);
    assert.deepEqual(s.foreignTokens, []);
    assert.deepEqual(leaks(s.registry, [s.foreignToken]), []);
  });
});
