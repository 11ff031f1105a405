/**
 * `fetch` against scripted hostile registries on loopback: control characters in what the
 * registry says (shown escaped, checked on the stderr bytes of a whole `ocikit fetch` process), a
 * manifest that gives one digest two sizes (refused before any blob, nothing cached), and stalled
 * transfers ended by the low-speed limit, also as set with `--low-speed-limit`/`--low-speed-time`.
 */
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fetch, type FetchOptions } from '../../src/fetch/fetch.js';
import { cachedImagePath } from '../../src/osbuild/cache.js';
import { buildImage } from '../helpers/images.js';
import { tempDir } from '../helpers/tmp.js';
import { ACCEPT_ANYTHING_POLICY } from '../helpers/trust-policy.js';

const OCIKIT = new URL('../../../bin/ocikit', import.meta.url).pathname;
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const FAST: FetchOptions = {
  retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 5 },
  env: {},
  policy: ACCEPT_ANYTHING_POLICY,
};

async function serve(t: TestContext, handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function sources(host: string, id: string, digest: string) {
  return {
    'org.osbuild.skopeo': {
      items: { [id]: { image: { name: `${host}/x/y`, digest, 'tls-verify': false } } },
    },
  };
}

/** Runs `ocikit ARGS…` as a whole process; stdout and stderr as bytes. */
function ocikit(args: string[]): Promise<{ status: number; stdout: Buffer; stderr: Buffer; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [OCIKIT, ...args],
      { encoding: 'buffer', timeout: 60_000, env: { ...process.env, REGISTRY_AUTH_FILE: '/nonexistent/auth.json' } },
      (err, stdout, stderr) => {
        const status = err ? ((err as { code?: unknown }).code as number) : 0;
        resolve({ status, stdout, stderr, ms: Date.now() - started });
      },
    );
  });
}

/** The raw C0, DEL and C1 controls (as UTF-8) of `b`, bare CR included; '\n' only ends lines. */
function rawControls(b: Buffer): string[] {
  const text = b.toString('utf8');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  return [...text.matchAll(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g)].map((m) => m[0]);
}

async function writeSources(t: TestContext, doc: unknown) {
  const dir = await tempDir(t);
  const file = join(dir, 'sources.json');
  await writeFile(file, JSON.stringify(doc));
  return { dir, file, cache: join(dir, 'cache') };
}

describe('fetch shows what a registry says safely (ocikit fetch as a whole process)', () => {
  const NASTY = '\u001b[31mred\u001b[0m\rocikit: all good\n\u009b2J\u0007\u007f\u0085end';

  it('escapes control characters of an error body: no ESC, no bare CR, no C1 on stderr', async (t) => {
    const img = await buildImage();
    const host = await serve(t, (req, res) => {
      if (req.url === '/v2/') return res.end('{}');
      res.statusCode = 403;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ errors: [{ code: 'DENIED', message: NASTY }] }));
    });
    const s = await writeSources(t, sources(host, img.configDigest, img.manifestDigest));
    const r = await ocikit(['fetch', '--sources', s.file, '--cache', s.cache, '--policy', ACCEPT_ANYTHING_POLICY]);
    assert.equal(r.status, 1);
    assert.deepEqual(rawControls(r.stderr), []);
    const text = r.stderr.toString('utf8');
    assert.equal(text.split('\n').length, 2, 'one line');
    assert.ok(
      text.includes('DENIED: \\x1b[31mred\\x1b[0m\\rocikit: all good\\n\\u009b2J\\x07\\x7f\\u0085end'),
      JSON.stringify(text),
    );
  });

  it('escapes a C1 control that arrives in a header (the bearer realm named in an error)', async (t) => {
    const img = await buildImage();
    const host = await serve(t, (_req, res) => {
      res.statusCode = 401;
      // Node writes header strings as latin1: the byte 0x9b is the C1 control CSI on the client side.
      res.setHeader('www-authenticate', 'Bearer realm="\u009b31mnot a url",service="s"');
      res.end();
    });
    const s = await writeSources(t, sources(host, img.configDigest, img.manifestDigest));
    const r = await ocikit(['fetch', '--sources', s.file, '--cache', s.cache, '--policy', ACCEPT_ANYTHING_POLICY]);
    assert.equal(r.status, 1);
    assert.deepEqual(rawControls(r.stderr), []);
    assert.match(r.stderr.toString('utf8'), /bearer realm "\\u009b31mnot a url" is not a URL/);
  });

  it('lets no ESC or bare CR of a header through (the HTTP parser refuses them; the error is one clean line)', async (t) => {
    const img = await buildImage();
    const server = createTcpServer((sock: Socket) => {
      sock.once('data', () =>
        sock.end(
          Buffer.from(
            'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm="\u001b]0;pwned\u0007\r"\r\nContent-Length: 0\r\n\r\n',
            'latin1',
          ),
        ),
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    t.after(() => new Promise<void>((r) => server.close(() => r())));
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const s = await writeSources(t, sources(host, img.configDigest, img.manifestDigest));
    const r = await ocikit(['fetch', '--sources', s.file, '--cache', s.cache, '--policy', ACCEPT_ANYTHING_POLICY]);
    assert.equal(r.status, 1);
    assert.deepEqual(rawControls(r.stderr), []);
    assert.match(r.stderr.toString('utf8'), /^ocikit: pinging registry http:\/\/127\.0\.0\.1:\d+: .+\n$/);
  });
});

describe('fetch refuses a manifest that gives one digest two sizes', () => {
  /** A registry serving `manifest` and every blob of `blobs`, counting blob requests. */
  async function registry(t: TestContext, manifest: Buffer, blobs: Map<string, Buffer>) {
    let blobRequests = 0;
    const host = await serve(t, (req, res) => {
      if (req.url === '/v2/') return res.end('{}');
      if (req.url?.includes('/manifests/')) {
        res.setHeader('content-type', 'application/vnd.oci.image.manifest.v1+json');
        return res.end(manifest);
      }
      blobRequests++;
      const blob = blobs.get(req.url!.slice(req.url!.lastIndexOf('/') + 1));
      if (!blob) res.statusCode = 404;
      res.end(blob);
    });
    return { host, blobRequests: () => blobRequests };
  }

  const img = buildImage({ layers: 2 });
  // Where the wrong size is: on the config, on the last descriptor, or on one before the last.
  const cases: [string, (m: ManifestDoc) => void][] = [
    [
      'the config and a layer (the config says the wrong size)',
      (m) => {
        m.layers.push({ ...m.config });
        m.config.size += 1;
      },
    ],
    ['two layers, the last one wrong', (m) => void m.layers.push({ ...m.layers[0]!, size: m.layers[0]!.size + 1 })],
    [
      'two layers, an earlier one wrong',
      (m) => void m.layers.unshift({ ...m.layers[0]!, size: m.layers[0]!.size - 1 }),
    ],
  ];
  /** The image with its manifest edited by `edit`, served; and a fresh cache. */
  async function edited(t: TestContext, edit: (m: ManifestDoc) => void) {
    const i = await img;
    const doc = JSON.parse(i.manifest.toString()) as ManifestDoc;
    edit(doc);
    const manifest = Buffer.from(JSON.stringify(doc));
    const blobs = new Map([
      [i.configDigest, i.config],
      ...i.layers.map((l) => [l.digest, l.bytes] as [string, Buffer]),
    ]);
    const reg = await registry(t, manifest, blobs);
    return { reg, src: sources(reg.host, i.configDigest, sha(manifest)), cache: await tempDir(t), id: i.configDigest };
  }

  for (const [where, edit] of cases) {
    it(`with INVALID_MANIFEST before any blob, caching nothing: ${where}`, async (t) => {
      const { reg, src, cache } = await edited(t, edit);
      await assert.rejects(fetch(src, cache, FAST), (e: Error & { code: string }) => {
        assert.equal(e.code, 'INVALID_MANIFEST');
        assert.match(e.message, /is declared with two sizes, \d+ and \d+ bytes$/);
        return true;
      });
      assert.equal(reg.blobRequests(), 0);
      assert.deepEqual(await readdir(cache), []);
    });
  }

  it('accepts one digest named twice with the same size, fetching it once', async (t) => {
    const { reg, src, cache, id } = await edited(t, (m) => void m.layers.push({ ...m.layers[0]! }));
    await fetch(src, cache, FAST);
    assert.equal(reg.blobRequests(), 3);
    assert.equal((await readdir(cachedImagePath(cache, id as never))).length, 5);
  });
});

interface ManifestDoc {
  config: { digest: string; size: number; mediaType: string };
  layers: { digest: string; size: number; mediaType: string }[];
}

describe('ocikit fetch --low-speed-limit/--low-speed-time', () => {
  it('ends a blob attempt that drips a byte a second within the window given, and succeeds on the retry', async (t) => {
    const i = await buildImage({ layerSize: 20_000 });
    const layer = i.layers[0]!;
    let layerRequests = 0;
    const host = await serve(t, (req, res) => {
      if (req.url === '/v2/') return res.end('{}');
      if (req.url?.includes('/manifests/')) return res.end(i.manifest);
      if (req.url?.endsWith(i.configDigest)) return res.end(i.config);
      if (++layerRequests > 1) return res.end(layer.bytes);
      res.setHeader('content-length', layer.size);
      res.flushHeaders();
      let n = 0;
      const timer = setInterval(() => {
        if (n >= 30 || res.destroyed) return clearInterval(timer);
        res.write(layer.bytes.subarray(n, ++n));
      }, 1000);
      res.on('close', () => clearInterval(timer));
    });
    const s = await writeSources(t, sources(host, i.configDigest, i.manifestDigest));
    const r = await ocikit([
      'fetch',
      '--sources',
      s.file,
      '--cache',
      s.cache,
      '--policy',
      ACCEPT_ANYTHING_POLICY,
      '--low-speed-limit',
      '1000',
      '--low-speed-time',
      '1',
    ]);
    assert.equal(r.status, 0, r.stderr.toString());
    assert.equal(layerRequests, 2);
    assert.ok(r.ms < 15_000, `took ${r.ms} ms (the default window is 30 s)`);
  });

  for (const [flag, value] of [
    ['--low-speed-limit', '1e3'],
    ['--low-speed-limit', '1.5'],
    ['--low-speed-time', '0'],
    ['--low-speed-time', 'soon'],
    ['--low-speed-time', '86401'],
  ] as const) {
    it(`exits 2 for ${flag} ${value}`, async () => {
      const r = await ocikit(['fetch', '--sources', '/nonexistent.json', '--cache', '/nonexistent', flag, value]);
      assert.equal(r.status, 2);
      assert.match(r.stderr.toString(), new RegExp(`^ocikit: fetch: ${flag} "`));
    });
  }
});
