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
import { getManifest } from '../../../src/registry/client.js';
import { tempDir } from '../../helpers/tmp.js';
import { MANIFEST, client, closeServer, selfSignedCert, serve, sha } from '../fake-registry.js';

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
});
