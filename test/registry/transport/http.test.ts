/** Tests for src/registry/transport/http.ts: retries, backoff and redirects, through the client API. */
import * as assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { downloadBlob, getManifest } from '../../../src/registry/client.js';
import { tempDir } from '../../helpers/tmp.js';
import { BLOB, BLOB_DIGEST, MANIFEST, client, serve } from '../fake-registry.js';

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
});
