/**
 * `fetch` against scripted hostile registries on loopback: a manifest that gives one digest two
 * sizes (refused before any blob, nothing cached).
 */
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { fetch, type FetchOptions } from '../../src/fetch/fetch.js';
import { cachedImagePath } from '../../src/osbuild/cache.js';
import { buildImage } from '../helpers/images.js';
import { tempDir } from '../helpers/tmp.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const FAST: FetchOptions = { retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 5 }, env: {} };

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
