import * as assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { fetch, type FetchOptions } from '../../src/fetch/fetch.js';
import { cachedImagePath, cachedListPath } from '../../src/osbuild/cache.js';
import { buildImage, makeDirImage, makeList, type GeneratedImage, writeListDir } from '../helpers/images.js';
import { startProxy } from '../helpers/proxy.js';
import { pushDir, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';
import { haveTool, needTool } from '../helpers/tools.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { ACCEPT_ANYTHING_POLICY } from '../helpers/trust-policy.js';

const run = promisify(execFile);
const OCIKIT = new URL('../../../bin/ocikit', import.meta.url).pathname;
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const D = (c: string) => `sha256:${c.repeat(64)}`;
const FAST: FetchOptions = {
  retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 50 },
  env: {},
  policy: ACCEPT_ANYTHING_POLICY,
};

function skopeoItem(
  img: { configDigest: string; manifestDigest: string },
  name: string,
  extra: Record<string, unknown> = {},
) {
  return {
    'org.osbuild.skopeo': {
      items: { [img.configDigest]: { image: { name, digest: img.manifestDigest, 'tls-verify': false, ...extra } } },
    },
  };
}

/** Checks a cache entry is a complete, sound dir: image: every blob hashes to its name. */
async function assertSoundEntry(cache: string, img: GeneratedImage): Promise<void> {
  const dir = cachedImagePath(cache, img.configDigest as never);
  assert.deepEqual(await readFile(join(dir, 'manifest.json')), img.manifest);
  assert.equal(await readFile(join(dir, 'version'), 'utf8'), 'Directory Transport Version: 1.1\n');
  const names = (await readdir(dir)).sort();
  const want = [img.configDigest, ...img.layers.map((l) => l.digest)].map((d) => d.slice(7));
  assert.deepEqual(names, [...new Set([...want, 'manifest.json', 'version'])].sort());
  for (const hex of want) assert.equal(sha(await readFile(join(dir, hex))), `sha256:${hex}`);
}

/** A second image sharing `base`'s layers (new config, new manifest), as a dir: image. */
async function sharingImage(base: GeneratedImage, dir: string, label: string): Promise<GeneratedImage> {
  const cfg = JSON.parse(base.config.toString()) as { config: { Labels: Record<string, string> } };
  cfg.config.Labels['ocikit.test'] = label;
  const config = Buffer.from(JSON.stringify(cfg));
  const m = JSON.parse(base.manifest.toString()) as { config: { digest: string; size: number } };
  m.config.digest = sha(config);
  m.config.size = config.length;
  const manifest = Buffer.from(JSON.stringify(m, null, 2));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'version'), 'Directory Transport Version: 1.1\n');
  await writeFile(join(dir, 'manifest.json'), manifest);
  await writeFile(join(dir, sha(config).slice(7)), config);
  for (const l of base.layers) await writeFile(join(dir, l.digest.slice(7)), l.bytes);
  return { ...base, dir, manifest, manifestDigest: sha(manifest), config, configDigest: sha(config) };
}

describe('fetch', () => {
  let reg: TestRegistry | undefined;
  let work: string;
  let oci: GeneratedImage;
  let docker: GeneratedImage;
  let shared: GeneratedImage;
  let amd: GeneratedImage;
  let arm: GeneratedImage;
  let list: { bytes: Buffer; digest: string };
  let big: GeneratedImage;

  before(async () => {
    if (!haveTool('docker-registry') || !haveTool('skopeo')) return;
    work = await mkdtemp(join(tmpdir(), 'ocikit-fetch-test-'));
    reg = await startRegistry();
    oci = await makeDirImage(join(work, 'oci'), { flavour: 'oci', layers: 2, layerSize: 50_000 });
    docker = await makeDirImage(join(work, 'docker'), { flavour: 'docker', layers: 2, layerSize: 50_000 });
    shared = await sharingImage(oci, join(work, 'shared'), 'shared');
    amd = await makeDirImage(join(work, 'amd'), { flavour: 'oci', platform: { architecture: 'amd64', os: 'linux' } });
    arm = await makeDirImage(join(work, 'arm'), {
      flavour: 'oci',
      platform: { architecture: 'arm64', os: 'linux', variant: 'v8' },
    });
    list = makeList([amd, arm], 'oci');
    const merged = join(work, 'merged');
    await writeListDir(merged, list, [amd, arm]);
    big = await makeDirImage(join(work, 'big'), { flavour: 'oci', layers: 1, layerSize: 1_500_000 });
    await pushDir(oci.dir, reg.host, 'test/oci:latest');
    await pushDir(docker.dir, reg.host, 'test/docker:latest');
    await pushDir(shared.dir, reg.host, 'test/shared:latest');
    await pushDir(merged, reg.host, 'test/list:latest', { multiArch: true });
    await pushDir(big.dir, reg.host, 'test/big:latest');
  });
  after(async () => {
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  for (const flavour of ['oci', 'docker'] as const) {
    it(`fetches a single ${flavour === 'oci' ? 'OCI' : 'Docker v2s2'} image into a sound dir: entry`, async (t) => {
      if (!needTool(t, 'docker-registry', 'skopeo')) return;
      const img = flavour === 'oci' ? oci : docker;
      const cache = await tempDir(t);
      const res = await fetch(skopeoItem(img, `${reg!.host}/test/${flavour}`), cache, FAST);
      assert.equal(res.items.length, 1);
      assert.deepEqual(
        { ...res.items[0], bytes: undefined },
        {
          id: img.configDigest,
          kind: 'image',
          name: `${reg!.host}/test/${flavour}`,
          digest: img.manifestDigest,
          status: 'fetched',
          bytes: undefined,
        },
      );
      assert.equal(res.items[0]!.bytes, img.config.length + img.layers.reduce((a, l) => a + l.size, 0));
      await assertSoundEntry(cache, img);
      // skopeo reads the entry and finds the same config
      const { stdout } = await run(
        'skopeo',
        ['inspect', '--raw', '--config', `dir:${cachedImagePath(cache, img.configDigest as never)}`],
        { encoding: 'buffer' },
      );
      assert.equal(sha(stdout), img.configDigest);
      assert.deepEqual(await readdir(cache), ['org.osbuild.containers']);
    });
  }

  it('fetches a two-architecture list and both its images', async (t) => {
    if (!needTool(t, 'docker-registry', 'skopeo')) return;
    const cache = await tempDir(t);
    const name = `${reg!.host}/test/list`;
    const res = await fetch(
      {
        'org.osbuild.skopeo': {
          items: Object.fromEntries(
            [amd, arm].map((i) => [i.configDigest, { image: { name, digest: i.manifestDigest, 'tls-verify': false } }]),
          ),
        },
        'org.osbuild.skopeo-index': { items: { [list.digest]: { image: { name, 'tls-verify': false } } } },
      },
      cache,
      FAST,
    );
    assert.deepEqual(
      res.items.map((i) => [i.kind, i.status]),
      [
        ['image', 'fetched'],
        ['image', 'fetched'],
        ['list', 'fetched'],
      ],
    );
    assert.deepEqual(await readFile(cachedListPath(cache, list.digest as never)), list.bytes);
    await assertSoundEntry(cache, amd);
    await assertSoundEntry(cache, arm);
  });

  it('refuses a list item whose digest names an image manifest with LIST_MISMATCH', async (t) => {
    if (!needTool(t, 'docker-registry', 'skopeo')) return;
    const cache = await tempDir(t);
    const src = {
      'org.osbuild.skopeo-index': {
        items: { [oci.manifestDigest]: { image: { name: `${reg!.host}/test/oci`, 'tls-verify': false } } },
      },
    };
    await assert.rejects(fetch(src, cache, FAST), { code: 'LIST_MISMATCH' });
  });

  it('downloads a blob shared by two images once and links it into both entries', async (t) => {
    if (!needTool(t, 'docker-registry', 'skopeo')) return;
    const cache = await tempDir(t);
    const src = {
      'org.osbuild.skopeo': {
        items: {
          [oci.configDigest]: {
            image: { name: `${reg!.host}/test/oci`, digest: oci.manifestDigest, 'tls-verify': false },
          },
          [shared.configDigest]: {
            image: { name: `${reg!.host}/test/shared`, digest: shared.manifestDigest, 'tls-verify': false },
          },
        },
      },
    };
    const res = await fetch(src, cache, { ...FAST, jobs: 2 });
    const layers = oci.layers.reduce((a, l) => a + l.size, 0);
    assert.equal(res.downloadedBytes, layers + oci.config.length + shared.config.length);
    await assertSoundEntry(cache, oci);
    await assertSoundEntry(cache, shared);
  });

  it('refuses a wrong image ID with DIGEST_MISMATCH naming both IDs, leaving nothing in the cache', async (t) => {
    if (!needTool(t, 'docker-registry', 'skopeo')) return;
    const cache = await tempDir(t);
    const src = {
      'org.osbuild.skopeo': {
        items: {
          [D('a')]: { image: { name: `${reg!.host}/test/oci`, digest: oci.manifestDigest, 'tls-verify': false } },
        },
      },
    };
    await assert.rejects(fetch(src, cache, FAST), (e: Error & { code: string; expected?: string; actual?: string }) => {
      assert.equal(e.code, 'DIGEST_MISMATCH');
      assert.equal(e.expected, D('a'));
      assert.equal(e.actual, oci.configDigest);
      assert.ok(e.message.includes(D('a')) && e.message.includes(oci.configDigest));
      return true;
    });
    assert.deepEqual(await readdir(cache), []);
  });

  it('reports a digest the repository does not have as NOT_FOUND', async (t) => {
    if (!needTool(t, 'docker-registry', 'skopeo')) return;
    const cache = await tempDir(t);
    await assert.rejects(
      fetch(
        skopeoItem({ configDigest: oci.configDigest, manifestDigest: docker.manifestDigest }, `${reg!.host}/test/oci`),
        cache,
        FAST,
      ),
      { code: 'NOT_FOUND' },
    );
  });

  it('reports a missing image as NOT_FOUND', async (t) => {
    if (!needTool(t, 'docker-registry', 'skopeo')) return;
    const cache = await tempDir(t);
    await assert.rejects(fetch(skopeoItem(oci, `${reg!.host}/test/wrong`), cache, FAST), { code: 'NOT_FOUND' });
  });

  it('refuses a manifest whose bytes do not have the requested digest (a lying registry)', async (t) => {
    const server = createServer((req, res) => res.end(req.url === '/v2/' ? '{}' : oci.manifest));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    t.after(() => new Promise<void>((r) => server.close(() => r())));
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const cache = await tempDir(t);
    await assert.rejects(
      fetch(skopeoItem({ configDigest: oci.configDigest, manifestDigest: D('c') }, `${host}/x`), cache, FAST),
      (e: Error & { code: string; expected?: string; actual?: string }) => {
        assert.equal(e.code, 'DIGEST_MISMATCH');
        assert.equal(e.expected, D('c'));
        assert.equal(e.actual, oci.manifestDigest);
        return true;
      },
    );
  });

  it('reports a cache it cannot write as IO naming the path, not as a raw system error', async (t) => {
    const index = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }),
    );
    const server = createServer((req, res) => res.end(req.url === '/v2/' ? '{}' : index));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    t.after(() => new Promise<void>((r) => server.close(() => r())));
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const cache = await tempDir(t);
    // The list's cache directory is taken by a file: creating it fails with EEXIST.
    await writeFile(join(cache, 'org.osbuild.files'), 'in the way');
    const src = {
      'org.osbuild.skopeo-index': { items: { [sha(index)]: { image: { name: `${host}/x`, 'tls-verify': false } } } },
    };
    await assert.rejects(fetch(src, cache, FAST), (e: Error & { code: string }) => {
      assert.equal(e.name, 'OcikitError');
      assert.equal(e.code, 'IO');
      assert.ok(e.message.includes(join(cache, 'org.osbuild.files')), e.message);
      return true;
    });
    assert.deepEqual((await readdir(cache)).sort(), ['org.osbuild.files'], "the run's temporary directory is removed");
  });

  it('survives a connection that drops in the middle of a blob (retried, verified)', async (t) => {
    if (!needTool(t, 'docker-registry', 'skopeo')) return;
    const proxy = await startProxy(reg!.port, { cutAfter: 400_000 }, t);
    const cache = await tempDir(t);
    const res = await fetch(skopeoItem(big, `${proxy.host}/test/big`), cache, FAST);
    assert.equal(res.items[0]!.status, 'fetched');
    assert.equal(proxy.stats.cut, 1);
    await assertSoundEntry(cache, big);
  });

  it('fails with DIGEST_MISMATCH when a proxy corrupts the blob, and caches nothing', async (t) => {
    if (!needTool(t, 'docker-registry', 'skopeo')) return;
    const proxy = await startProxy(reg!.port, { corruptAt: 600_000 }, t);
    const cache = await tempDir(t);
    await assert.rejects(fetch(skopeoItem(big, `${proxy.host}/test/big`), cache, FAST), { code: 'DIGEST_MISMATCH' });
    assert.ok(proxy.stats.corrupted >= 1);
    assert.deepEqual(await readdir(cache), []);
  });

  it('lets two concurrent fetch processes fill one cache soundly', async (t) => {
    if (!needTool(t, 'docker-registry', 'skopeo')) return;
    const cache = await tempDir(t);
    const name = `${reg!.host}/test/list`;
    const sources = join(cache, '..', `sources-${Date.now()}.json`);
    t.after(() => rm(sources, { force: true }));
    await writeFile(
      sources,
      JSON.stringify({
        'org.osbuild.skopeo': {
          items: Object.fromEntries(
            [amd, arm].map((i) => [i.configDigest, { image: { name, digest: i.manifestDigest, 'tls-verify': false } }]),
          ),
        },
        'org.osbuild.skopeo-index': { items: { [list.digest]: { image: { name, 'tls-verify': false } } } },
      }),
    );
    const once = () =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        const p = spawn(
          process.execPath,
          [OCIKIT, 'fetch', '--sources', sources, '--cache', cache, '--json', '--policy', ACCEPT_ANYTHING_POLICY],
          {
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        );
        let out = '';
        let err = '';
        p.stdout.on('data', (c: Buffer) => (out += c));
        p.stderr.on('data', (c: Buffer) => (err += c));
        p.on('close', (code) => resolve({ code, out, err }));
      });
    const results = await Promise.all([once(), once(), once()]);
    for (const r of results) {
      assert.equal(r.code, 0, r.err);
      const items = JSON.parse(r.out) as { status: string }[];
      assert.equal(items.length, 3);
      for (const i of items) assert.ok(['fetched', 'cached'].includes(i.status));
    }
    assert.deepEqual((await readdir(cache)).sort(), ['org.osbuild.containers', 'org.osbuild.files']);
    await assertSoundEntry(cache, amd);
    await assertSoundEntry(cache, arm);
    assert.deepEqual(await readFile(cachedListPath(cache, list.digest as never)), list.bytes);
  });

  it('serves a second run from the cache with the registry stopped, reporting cached', async (t) => {
    if (!needTool(t, 'docker-registry', 'skopeo')) return;
    const cache = await tempDir(t);
    const name = `${reg!.host}/test/list`;
    const src = {
      'org.osbuild.skopeo': {
        items: { [amd.configDigest]: { image: { name, digest: amd.manifestDigest, 'tls-verify': false } } },
      },
      'org.osbuild.skopeo-index': { items: { [list.digest]: { image: { name, 'tls-verify': false } } } },
    };
    assert.deepEqual(
      (await fetch(src, cache, FAST)).items.map((i) => i.status),
      ['fetched', 'fetched'],
    );
    await reg!.pause();
    try {
      const second = await fetch(src, cache, FAST);
      assert.deepEqual(
        second.items.map((i) => [i.status, i.bytes]),
        [
          ['cached', 0],
          ['cached', 0],
        ],
      );
      assert.equal(second.downloadedBytes, 0);
      // and a new item does need the registry, which is down
      await assert.rejects(fetch(skopeoItem(oci, `${reg!.host}/test/oci`), cache, FAST), { code: 'REGISTRY' });
    } finally {
      await reg!.restart();
    }
  });

  it('prints one JSON summary per item from the CLI', async (t) => {
    if (!needTool(t, 'docker-registry', 'skopeo')) return;
    const cache = await tempDir(t);
    const sources = join(cache, 'sources.json');
    await writeFile(sources, JSON.stringify(skopeoItem(docker, `${reg!.host}/test/docker`)));
    const { stdout, stderr } = await run(process.execPath, [
      OCIKIT,
      'fetch',
      '--sources',
      sources,
      '--cache',
      join(cache, 'c'),
      '--jobs',
      '2',
      '--json',
      '--policy',
      ACCEPT_ANYTHING_POLICY,
    ]);
    assert.equal(stderr, '');
    assert.deepEqual(JSON.parse(stdout), [
      {
        id: docker.configDigest,
        kind: 'image',
        name: `${reg!.host}/test/docker`,
        digest: docker.manifestDigest,
        status: 'fetched',
        bytes: docker.config.length + docker.layers.reduce((a, l) => a + l.size, 0),
      },
    ]);
    const again = await run(process.execPath, [
      OCIKIT,
      'fetch',
      '--sources',
      sources,
      '--cache',
      join(cache, 'c'),
      '--policy',
      ACCEPT_ANYTHING_POLICY,
    ]);
    assert.equal(again.stdout, '');
  });
});

describe('fetch (interruption, a lying registry)', () => {
  /** A registry that serves one manifest for every manifest request and never answers blob requests. */
  async function stallingRegistry(t: TestContext, manifest: Buffer) {
    let blobRequests = 0;
    const server = createServer((req, res) => {
      if (req.url === '/v2/') res.end('{}');
      else if (req.url?.includes('/manifests/')) res.end(manifest);
      else blobRequests++; // left hanging
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    t.after(() => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    });
    return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, blobRequests: () => blobRequests };
  }

  it('stops on abort with INTERRUPTED and leaves no staging directory', async (t) => {
    const img = await buildImage({ layers: 2 });
    const reg = await stallingRegistry(t, img.manifest);
    const cache = await tempDir(t);
    const controller = new AbortController();
    const done = fetch(skopeoItem(img, `${reg.host}/x`), cache, { ...FAST, signal: controller.signal });
    while (reg.blobRequests() === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort(new Error('stop'));
    await assert.rejects(done, { code: 'INTERRUPTED' });
    assert.deepEqual(await readdir(cache), []);
  });

  it('refuses to start with INTERRUPTED when the signal is aborted already', async (t) => {
    const cache = join(await tempDir(t), 'c');
    const img = await buildImage();
    await assert.rejects(fetch(skopeoItem(img, '127.0.0.1:9/x'), cache, { ...FAST, signal: AbortSignal.abort() }), {
      code: 'INTERRUPTED',
    });
    await assert.rejects(readdir(cache), { code: 'ENOENT' });
  });

  it('reports bytes that are no manifest and not the requested ones as DIGEST_MISMATCH', async (t) => {
    const img = await buildImage();
    const garbage = Buffer.from('<html>maintenance</html>');
    const reg = await stallingRegistry(t, garbage);
    const cache = await tempDir(t);
    await assert.rejects(fetch(skopeoItem(img, `${reg.host}/x`), cache, FAST), {
      code: 'DIGEST_MISMATCH',
      expected: img.manifestDigest,
      actual: sha(garbage),
    });
    // and the same bytes, requested by their own digest, are not a manifest
    await assert.rejects(
      fetch(skopeoItem({ configDigest: img.configDigest, manifestDigest: sha(garbage) }, `${reg.host}/x`), cache, FAST),
      { code: 'INVALID_MANIFEST' },
    );
  });
});

describe('fetch (CLI usage)', () => {
  const cases: [string, string[]][] = [
    ['no --sources', ['fetch', '--cache', '/tmp/x']],
    ['no --cache', ['fetch', '--sources', '/tmp/x.json']],
    ['a bad --jobs', ['fetch', '--sources', '/tmp/x.json', '--cache', '/tmp/x', '--jobs', '0']],
    ['an unknown flag', ['fetch', '--sources', '/tmp/x.json', '--cache', '/tmp/x', '--fast']],
  ];
  for (const [why, args] of cases) {
    it(`exits 2 for ${why}`, async () => {
      await assert.rejects(run(process.execPath, [OCIKIT, ...args]), (e: { code: number; stderr: string }) => {
        assert.equal(e.code, 2);
        assert.match(e.stderr, /^ocikit: /);
        return true;
      });
    });
  }
  it('exits 1 with INVALID_INPUT-style message for bad sources', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 's.json'), JSON.stringify({ 'org.osbuild.nope': {} }));
    await assert.rejects(
      run(process.execPath, [
        OCIKIT,
        'fetch',
        '--sources',
        join(dir, 's.json'),
        '--cache',
        join(dir, 'c'),
        '--policy',
        ACCEPT_ANYTHING_POLICY,
      ]),
      (e: { code: number; stderr: string }) => {
        assert.equal(e.code, 1);
        assert.match(e.stderr, /org\.osbuild\.nope/);
        return true;
      },
    );
  });
});

describe('fetch (containers-storage items)', () => {
  let work: string;
  let img: GeneratedImage;
  let other: GeneratedImage;
  let storage: { driver: string; graphroot: string; runroot: string };
  before(async () => {
    if (!haveTool('skopeo')) return;
    work = await mkdtemp(join(tmpdir(), 'ocikit-fetch-cs-'));
    storage = { driver: 'vfs', graphroot: join(work, 'root'), runroot: join(work, 'run') };
    img = await makeDirImage(join(work, 'img'), { flavour: 'oci' });
    other = await makeDirImage(join(work, 'other'), { flavour: 'oci' });
    await run('skopeo', [
      'copy',
      '--quiet',
      `dir:${img.dir}`,
      `containers-storage:[vfs@${storage.graphroot}+${storage.runroot}]localhost/x:latest`,
    ]);
  });
  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });
  const local = (id: string, name: string, digest: string) => ({
    'org.osbuild.skopeo': {
      items: { [id]: { image: { name, digest, 'containers-transport': 'containers-storage' } } },
    },
  });

  it('verifies an image found by name@digest and by ID, without touching the cache', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const cache = await tempDir(t);
    const res = await fetch(
      {
        ...local(img.configDigest, 'localhost/x', img.manifestDigest),
        'org.osbuild.containers-storage': { items: { [img.configDigest]: {} } },
      },
      cache,
      { storage, policy: ACCEPT_ANYTHING_POLICY },
    );
    assert.deepEqual(
      res.items.map((i) => [i.kind, i.status, i.bytes]),
      [
        ['local', 'verified', 0],
        ['local', 'verified', 0],
      ],
    );
    assert.deepEqual(await readdir(cache), []);
  });

  it('finds the store through storage.conf ($CONTAINERS_STORAGE_CONF)', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const dir = await tempDir(t);
    const conf = join(dir, 'storage.conf');
    await writeFile(
      conf,
      `[storage]\ndriver = "vfs"\ngraphroot = "${storage.graphroot}"\nrunroot = "${storage.runroot}"\n`,
    );
    const res = await fetch(
      { 'org.osbuild.containers-storage': { items: { [img.configDigest]: {} } } },
      join(dir, 'cache'),
      { env: { CONTAINERS_STORAGE_CONF: conf }, policy: ACCEPT_ANYTHING_POLICY },
    );
    assert.equal(res.items[0]!.status, 'verified');
  });

  it('uses storage-location as the graph root', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const cache = await tempDir(t);
    const src = {
      'org.osbuild.skopeo': {
        items: {
          [img.configDigest]: {
            image: {
              name: 'localhost/x',
              digest: img.manifestDigest,
              'containers-transport': 'containers-storage',
              'storage-location': storage.graphroot,
            },
          },
        },
      },
    };
    const res = await fetch(src, cache, {
      storage: { driver: 'vfs', graphroot: '/nonexistent', runroot: storage.runroot },
      policy: ACCEPT_ANYTHING_POLICY,
    });
    assert.equal(res.items[0]!.status, 'verified');
  });

  const missing: [string, () => unknown][] = [
    ['a name that is not in the store', () => local(img.configDigest, 'localhost/nothere', img.manifestDigest)],
    ['a digest that is not in the store', () => local(other.configDigest, 'localhost/x', other.manifestDigest)],
    [
      'an ID that is not in the store',
      () => ({ 'org.osbuild.containers-storage': { items: { [other.configDigest]: {} } } }),
    ],
    [
      'a store that does not exist',
      () => ({
        'org.osbuild.skopeo': {
          items: {
            [img.configDigest]: {
              image: {
                name: 'localhost/x',
                digest: img.manifestDigest,
                'containers-transport': 'containers-storage',
                'storage-location': join(work, 'nostore'),
              },
            },
          },
        },
      }),
    ],
  ];
  for (const [why, src] of missing) {
    it(`reports ${why} as NOT_FOUND`, async (t) => {
      if (!needTool(t, 'skopeo')) return;
      const cache = await tempDir(t);
      await assert.rejects(fetch(src(), cache, { storage, policy: ACCEPT_ANYTHING_POLICY }), { code: 'NOT_FOUND' });
    });
  }

  it('refuses a wrong image ID with DIGEST_MISMATCH', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const cache = await tempDir(t);
    await assert.rejects(
      fetch(local(D('f'), 'localhost/x', img.manifestDigest), cache, { storage, policy: ACCEPT_ANYTHING_POLICY }),
      (e: Error & { code: string; expected?: string; actual?: string }) => {
        assert.equal(e.code, 'DIGEST_MISMATCH');
        assert.equal(e.expected, D('f'));
        assert.equal(e.actual, img.configDigest);
        return true;
      },
    );
  });

  it('reports a skopeo failure on an image that exists as TOOL_FAILED, not NOT_FOUND', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const dir = await tempDir(t);
    const fake = join(dir, 'skopeo');
    await writeFile(
      fake,
      '#!/bin/sh\necho "Error: identifier is not an image (but really: disk on fire)" >&2\nexit 1\n',
      { mode: 0o755 },
    );
    await assert.rejects(
      fetch({ 'org.osbuild.containers-storage': { items: { [img.configDigest]: {} } } }, join(dir, 'c'), {
        storage,
        policy: ACCEPT_ANYTHING_POLICY,
        skopeo: { binary: fake },
      }),
      {
        code: 'TOOL_FAILED',
      },
    );
  });
});
