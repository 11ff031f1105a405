import * as assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { Digest } from '../../src/model/digest.js';
import { MANIFEST_ACCEPT } from '../../src/model/media-types.js';
import {
  closeRegistryClient,
  createRegistryClient,
  downloadBlob,
  getManifest,
  type RegistryClient,
} from '../../src/registry/client.js';
import { tempDir } from '../helpers/tmp.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function serve(t: TestContext, handler: Handler): Promise<{ host: string; origin: string; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  const port = (server.address() as AddressInfo).port;
  return { host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}`, server };
}

function client(t: TestContext, opts: Parameters<typeof createRegistryClient>[0] = {}): RegistryClient {
  const c = createRegistryClient({
    retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
    env: {},
    home: '/nonexistent',
    ...opts,
  });
  t.after(() => closeRegistryClient(c));
  return c;
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;
const MANIFEST = Buffer.from(
  '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}',
);
const BLOB = randomBytes(300_000);
const BLOB_DIGEST = sha(BLOB);

describe('getManifest', () => {
  it('sends every manifest media type in Accept and returns the exact bytes (anonymous)', async (t) => {
    let accept = '';
    const { host } = await serve(t, (req, res) => {
      if (req.url === '/v2/') return res.end('{}');
      accept = String(req.headers.accept);
      res.setHeader('content-type', 'application/vnd.oci.image.manifest.v1+json');
      res.end(MANIFEST);
    });
    const m = await getManifest(client(t), { host, path: 'a/b', tlsVerify: false }, sha(MANIFEST));
    assert.deepEqual(m.bytes, MANIFEST);
    assert.deepEqual(accept.split(', '), [...MANIFEST_ACCEPT]);
  });

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
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    const gen = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    if (gen.status !== 0) assert.fail('openssl could not make a self-signed certificate');
    const tokens = createHttpsServer({ key: await readFile(key), cert: await readFile(cert) }, (_req, res) =>
      res.end('{"token":"SELF"}'),
    );
    await new Promise<void>((r) => tokens.listen(0, '127.0.0.1', () => r()));
    t.after(
      () =>
        new Promise<void>((r) => {
          tokens.closeAllConnections();
          tokens.close(() => r());
        }),
    );
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

  it('maps 404 to NOT_FOUND with the registry error text', async (t) => {
    const { host } = await serve(t, (req, res) => {
      if (req.url === '/v2/') return res.end('{}');
      res.statusCode = 404;
      res.end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
    });
    await assert.rejects(
      getManifest(client(t), { host, path: 'x', tlsVerify: false }, 'latest'),
      (e: Error & { code: string }) => {
        assert.equal(e.code, 'NOT_FOUND');
        assert.match(e.message, /MANIFEST_UNKNOWN/);
        return true;
      },
    );
  });

  it('refuses a manifest over 4 MiB', async (t) => {
    const { host } = await serve(t, (req, res) =>
      res.end(req.url === '/v2/' ? '{}' : Buffer.alloc(4 * 1024 * 1024 + 1, 32)),
    );
    await assert.rejects(getManifest(client(t), { host, path: 'x', tlsVerify: false }, 'latest'), {
      code: 'MANIFEST_TOO_LARGE',
    });
  });

  it('does not fall back to plain HTTP when TLS is verified', async (t) => {
    const { host } = await serve(t, (_req, res) => res.end('{}'));
    await assert.rejects(getManifest(client(t), { host, path: 'x' }, 'latest'), { code: 'REGISTRY' });
  });
});

describe('downloadBlob', () => {
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

  for (const ranges of [true, false]) {
    it(`recovers from a connection cut mid-body ${ranges ? 'with a Range request' : 'by restarting when Range is ignored'}`, async (t) => {
      const seen: (string | undefined)[] = [];
      const { host } = await serve(t, (req, res) => {
        if (req.url === '/v2/') return res.end('{}');
        seen.push(req.headers.range);
        if (seen.length === 1) {
          res.setHeader('content-length', BLOB.length);
          res.write(BLOB.subarray(0, 100_000), () => setTimeout(() => req.socket.destroy(), 20));
          return;
        }
        const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
        if (ranges && m) {
          const from = Number(m[1]);
          res.statusCode = 206;
          res.setHeader('content-range', `bytes ${from}-${BLOB.length - 1}/${BLOB.length}`);
          return res.end(BLOB.subarray(from));
        }
        res.end(BLOB);
      });
      const dir = await tempDir(t);
      const file = join(dir, 'blob');
      let counted = 0;
      await downloadBlob(
        client(t),
        { host, path: 'x', tlsVerify: false },
        { digest: BLOB_DIGEST, size: BLOB.length },
        file,
        { onBytes: (n) => (counted += n) },
      );
      assert.deepEqual(await readFile(file), BLOB);
      assert.equal(seen.length, 2);
      assert.match(seen[1] ?? '', /^bytes=\d+-$/);
      assert.ok(Number(/\d+/.exec(seen[1]!)![0]) > 0);
      assert.equal(counted, ranges ? BLOB.length : BLOB.length + Number(/\d+/.exec(seen[1]!)![0]));
    });
  }

  const wrong: [string, Buffer][] = [
    ['different content of the same size', Buffer.from(BLOB).fill(1, 0, 1)],
    ['a shorter body', BLOB.subarray(1)],
    ['a longer body', Buffer.concat([BLOB, Buffer.from('x')])],
  ];
  for (const [why, body] of wrong) {
    it(`refuses ${why} with DIGEST_MISMATCH`, async (t) => {
      const { host } = await serve(t, (req, res) => res.end(req.url === '/v2/' ? '{}' : body));
      const dir = await tempDir(t);
      await assert.rejects(
        downloadBlob(
          client(t),
          { host, path: 'x', tlsVerify: false },
          { digest: BLOB_DIGEST, size: BLOB.length },
          join(dir, 'blob'),
        ),
        { code: 'DIGEST_MISMATCH' },
      );
    });
  }

  it('maps a missing blob to NOT_FOUND', async (t) => {
    const { host } = await serve(t, (req, res) => {
      if (req.url !== '/v2/') res.statusCode = 404;
      res.end('{}');
    });
    const dir = await tempDir(t);
    await assert.rejects(
      downloadBlob(
        client(t),
        { host, path: 'x', tlsVerify: false },
        { digest: BLOB_DIGEST, size: BLOB.length },
        join(dir, 'blob'),
      ),
      { code: 'NOT_FOUND' },
    );
  });

  it('gives up with REGISTRY when the connection keeps breaking', async (t) => {
    const { host } = await serve(t, (req, res) => {
      if (req.url === '/v2/') return res.end('{}');
      res.setHeader('content-length', BLOB.length);
      res.write(BLOB.subarray(0, 1000), () => setTimeout(() => req.socket.destroy(), 10));
    });
    const dir = await tempDir(t);
    await assert.rejects(
      downloadBlob(
        client(t),
        { host, path: 'x', tlsVerify: false },
        { digest: BLOB_DIGEST, size: BLOB.length },
        join(dir, 'blob'),
      ),
      { code: 'REGISTRY' },
    );
  });

  it('stops with INTERRUPTED when the signal is aborted', async (t) => {
    const { host } = await serve(t, (req, res) => {
      if (req.url === '/v2/') return res.end('{}');
      res.setHeader('content-length', BLOB.length);
      res.write(BLOB.subarray(0, 1000));
    });
    const dir = await tempDir(t);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    await assert.rejects(
      downloadBlob(
        client(t),
        { host, path: 'x', tlsVerify: false },
        { digest: BLOB_DIGEST, size: BLOB.length },
        join(dir, 'blob'),
        { signal: ac.signal },
      ),
      { code: 'INTERRUPTED' },
    );
  });
});
