/**
 * Tests for src/registry/client.ts: the API (`getManifest`, `downloadBlob`) against a scripted
 * registry. Retries and redirects are in transport/http.test.ts, the auth flow in
 * transport/bearer.test.ts, the scheme fallback in transport/ping.test.ts.
 */
import * as assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MANIFEST_ACCEPT } from '../../src/model/media-types.js';
import { downloadBlob, getManifest } from '../../src/registry/client.js';
import { tempDir } from '../helpers/tmp.js';
import { BLOB, BLOB_DIGEST, MANIFEST, client, serve, sha } from './fake-registry.js';

/** Downloads the fake registry's test blob (`BLOB`, repository `x`, plain HTTP) from `host` into `file`. */
function downloadTestBlob(
  t: Parameters<typeof client>[0],
  host: string,
  file: string,
  opts?: Parameters<typeof downloadBlob>[4],
): ReturnType<typeof downloadBlob> {
  return downloadBlob(
    client(t),
    { host, path: 'x', tlsVerify: false },
    { digest: BLOB_DIGEST, size: BLOB.length },
    file,
    opts,
  );
}

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

  it('escapes control characters of the registry error text (code and message)', async (t) => {
    const { host } = await serve(t, (req, res) => {
      if (req.url === '/v2/') return res.end('{}');
      res.statusCode = 500;
      res.end(JSON.stringify({ errors: [{ code: 'X\u001b[2J', message: 'a\rb\u009b31m\u007f' }, { message: 7 }] }));
    });
    await assert.rejects(
      getManifest(client(t, { retry: { attempts: 1 } }), { host, path: 'x', tlsVerify: false }, 'latest'),
      {
        code: 'REGISTRY',
        message: `fetching manifest latest of ${host}/x: HTTP 500 (X\\x1b[2J: a\\rb\\u009b31m\\x7f)`,
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
});

describe('downloadBlob', () => {
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
      await downloadTestBlob(t, host, file, { onBytes: (n) => (counted += n) });
      assert.deepEqual(await readFile(file), BLOB);
      assert.equal(seen.length, 2);
      assert.match(seen[1] ?? '', /^bytes=\d+-$/);
      assert.ok(Number(/\d+/.exec(seen[1]!)![0]) > 0);
      assert.equal(counted, ranges ? BLOB.length : BLOB.length + Number(/\d+/.exec(seen[1]!)![0]));
    });
  }

  const wrong: [string, Buffer][] = [
    ['different content of the same size', Buffer.from(BLOB).fill((BLOB[0] ?? 0) ^ 0xff, 0, 1)],
    ['a shorter body', BLOB.subarray(1)],
    ['a longer body', Buffer.concat([BLOB, Buffer.from('x')])],
  ];

  for (const [why, body] of wrong) {
    it(`refuses ${why} with DIGEST_MISMATCH`, async (t) => {
      const { host } = await serve(t, (req, res) => res.end(req.url === '/v2/' ? '{}' : body));
      const dir = await tempDir(t);
      await assert.rejects(downloadTestBlob(t, host, join(dir, 'blob')), { code: 'DIGEST_MISMATCH' });
    });
  }

  it('maps a missing blob to NOT_FOUND', async (t) => {
    const { host } = await serve(t, (req, res) => {
      if (req.url !== '/v2/') res.statusCode = 404;
      res.end('{}');
    });
    const dir = await tempDir(t);
    await assert.rejects(downloadTestBlob(t, host, join(dir, 'blob')), { code: 'NOT_FOUND' });
  });

  it('gives up with REGISTRY when the connection keeps breaking', async (t) => {
    const { host } = await serve(t, (req, res) => {
      if (req.url === '/v2/') return res.end('{}');
      res.setHeader('content-length', BLOB.length);
      res.write(BLOB.subarray(0, 1000), () => setTimeout(() => req.socket.destroy(), 10));
    });
    const dir = await tempDir(t);
    await assert.rejects(downloadTestBlob(t, host, join(dir, 'blob')), { code: 'REGISTRY' });
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
    await assert.rejects(downloadTestBlob(t, host, join(dir, 'blob'), { signal: ac.signal }), { code: 'INTERRUPTED' });
  });
});
