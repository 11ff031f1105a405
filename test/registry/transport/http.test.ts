/** Tests for src/registry/transport/http.ts: retries, backoff and redirects, through the client API. */
import * as assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { downloadBlob, getManifest } from '../../../src/registry/client.js';
import { tempDir } from '../../helpers/tmp.js';
import { BLOB, BLOB_DIGEST, MANIFEST, authFileFor, client, downloadTestBlob, serve } from '../fake-registry.js';

describe('send (through getManifest)', () => {
  it('retries 503 and 429 with backoff, then succeeds', async (t) => {
    let calls = 0;
    const { host } = await serve(t, (req, res) => {
      if (req.url === '/v2/') return res.end('{}');
      calls++;
      if (calls === 1) res.statusCode = 503;
      else if (calls === 2) {
        res.statusCode = 429;
        res.setHeader('retry-after', '0');
      } else return res.end(MANIFEST);
      res.end();
    });
    assert.deepEqual((await getManifest(client(t), { host, path: 'x', tlsVerify: false }, 'latest')).bytes, MANIFEST);
    assert.equal(calls, 3);
  });

  it('gives up after the bounded number of attempts with REGISTRY', async (t) => {
    let calls = 0;
    const { host } = await serve(t, (req, res) => {
      if (req.url === '/v2/') return res.end('{}');
      calls++;
      res.statusCode = 500;
      res.end();
    });
    await assert.rejects(getManifest(client(t), { host, path: 'x', tlsVerify: false }, 'latest'), { code: 'REGISTRY' });
    assert.equal(calls, 3);
  });

  it('retries a connection reset', async (t) => {
    let calls = 0;
    const { host } = await serve(t, (req, res) => {
      if (req.url === '/v2/') return res.end('{}');
      if (++calls === 1) return req.socket.resetAndDestroy();
      res.end(MANIFEST);
    });
    assert.deepEqual((await getManifest(client(t), { host, path: 'x', tlsVerify: false }, 'latest')).bytes, MANIFEST);
    assert.equal(calls, 2);
  });
});

describe('send (through downloadBlob)', () => {
  it('follows a redirect to another origin without sending the registry credentials there', async (t) => {
    let storageAuth: string | undefined = 'unset';
    const storage = await serve(t, (req, res) => {
      storageAuth = req.headers.authorization;
      res.end(BLOB);
    });
    const dir = await tempDir(t);
    const authFile = join(dir, 'auth.json');
    const { host } = await serve(t, (req, res) => {
      if (!req.headers.authorization) {
        res.statusCode = 401;
        res.setHeader('www-authenticate', 'Basic realm="r"');
        return res.end();
      }
      if (req.url === '/v2/') return res.end('{}');
      res.statusCode = 307;
      res.setHeader('location', `${storage.origin}/bucket/blob?sig=1`);
      res.end();
    });
    await writeFile(authFile, JSON.stringify({ auths: { [host]: { auth: Buffer.from('u:p').toString('base64') } } }));
    const file = join(dir, 'blob');
    await downloadBlob(
      client(t, { authFile }),
      { host, path: 'x', tlsVerify: false },
      { digest: BLOB_DIGEST, size: BLOB.length },
      file,
    );
    assert.deepEqual(await readFile(file), BLOB);
    assert.equal(storageAuth, undefined);
  });

  it('keeps credentials off the rest of a chain that leaves the origin and comes back', async (t) => {
    const dir = await tempDir(t);
    const hops: { at: string; authorization: string | undefined; range: string | undefined }[] = [];
    let registry = '';
    const foreign = await serve(
      t,
      (req, res) => {
        hops.push({ at: 'foreign', authorization: req.headers.authorization, range: req.headers.range });
        res.statusCode = 302;
        res.setHeader('location', `${registry}/back`);
        res.end();
      },
      '127.0.0.2',
    );
    const basic = `Basic ${Buffer.from('u:p').toString('base64')}`;
    const reg = await serve(t, (req, res) => {
      if (req.url === '/back') {
        hops.push({ at: 'back', authorization: req.headers.authorization, range: req.headers.range });
        return res.end(BLOB);
      }
      if (req.headers.authorization !== basic) {
        res.statusCode = 401;
        res.setHeader('www-authenticate', 'Basic realm="r"');
        return res.end();
      }
      if (req.url === '/v2/') return res.end('{}');
      res.statusCode = 307;
      res.setHeader('location', `${foreign.origin}/bucket`);
      res.end();
    });
    registry = reg.origin;
    const file = join(dir, 'blob');
    await downloadTestBlob(client(t, { authFile: await authFileFor(t, reg.host, 'u', 'p') }), reg.host, file);
    assert.deepEqual(await readFile(file), BLOB);
    assert.deepEqual(hops, [
      { at: 'foreign', authorization: undefined, range: undefined },
      { at: 'back', authorization: undefined, range: undefined },
    ]);
  });

  it('refuses a redirect to anything but http(s)', async (t) => {
    const { host } = await serve(t, (req, res) => {
      if (req.url === '/v2/') return res.end('{}');
      res.statusCode = 302;
      res.setHeader('location', 'file:///etc/passwd');
      res.end();
    });
    const dir = await tempDir(t);
    await assert.rejects(downloadTestBlob(client(t), host, join(dir, 'b')), {
      code: 'REGISTRY',
      message: `fetching blob ${BLOB_DIGEST} of ${host}/x: redirected to a file: URL`,
    });
  });
});
