/**
 * Proxies, differential: each scenario runs `skopeo copy` (1.9.3, Go's `http.ProxyFromEnvironment`)
 * and ocikit's `fetch()` on the same plain-HTTP docker-registry, with the same environment
 * (proxy variables, a temporary HOME), through the same logging proxy
 * (test/helpers/connect-proxy.ts), and asserts the same outcome and the same requests at the proxy:
 * `CONNECT` for the HTTPS try (both try HTTPS first, as `tls-verify` is off), absolute-form `GET`s
 * for the plain-HTTP fallback. The registry is addressed as `registry.example:PORT`, a name only
 * the proxy resolves (Go never proxies loopback names), so a request that bypasses the proxy fails.
 */
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { fetch } from '../../src/fetch/fetch.js';
import { type ConnectProxyOptions, startConnectProxy } from '../helpers/connect-proxy.js';
import { makeDirImage, type GeneratedImage } from '../helpers/images.js';
import { freePort, pushDir, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';
import { haveTool, needTool } from '../helpers/tools.js';
import { selfSignedCert } from '../registry/fake-registry.js';
import { ACCEPT_ANYTHING_POLICY } from '../helpers/trust-policy.js';

const run = promisify(execFile);

let reg: TestRegistry | undefined;
let img: GeneratedImage | undefined;
let imageDir: string | undefined;

before(async () => {
  if (!haveTool('skopeo') || !haveTool('docker-registry')) return;
  reg = await startRegistry();
  imageDir = await mkdtemp(join(tmpdir(), 'ocikit-proxy-image-'));
  img = await makeDirImage(join(imageDir, 'img'));
  await pushDir(join(imageDir, 'img'), reg.host, 'ns/repo');
});

after(async () => {
  await reg?.stop();
  if (imageDir !== undefined) await rm(imageDir, { recursive: true, force: true });
});

/** One tool's result: success, its error text, and the proxy's request lines (duplicates dropped). */
interface Outcome {
  readonly ok: boolean;
  readonly message: string;
  readonly lines: readonly string[];
}

interface Scenario {
  /** Proxy variables; `PROXY` stands for the proxy's `127.0.0.1:port`. */
  readonly env: Record<string, string>;
  /** The registry as named in the reference; `PORT` is the registry's port. */
  readonly host?: string;
  readonly proxy?: ConnectProxyOptions;
  /** Replaces `PROXY` (default: the logging proxy's address). */
  readonly proxyAddress?: string;
}

/**
 * Request lines as compared: each once, sorted (blobs are fetched in parallel), without
 * containers/image's `/v1/_ping`, the legacy ping it sends only to word an error better.
 */
function normalise(lines: readonly string[]): string[] {
  return [...new Set(lines.filter((l) => !l.endsWith('/v1/_ping')))].sort();
}

/** Runs skopeo and then ocikit on `s`: both outcomes. */
async function runBoth(t: TestContext, s: Scenario): Promise<{ skopeo: Outcome; ocikit: Outcome; port: number }> {
  const proxy = await startConnectProxy(t, s.proxy);
  const home = await tempDir(t);
  await mkdir(join(home, '.config/containers'), { recursive: true });
  await writeFile(
    join(home, '.config/containers/policy.json'),
    JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }),
  );
  const port = reg!.port;
  const env: Record<string, string> = { HOME: home };
  for (const [k, v] of Object.entries(s.env)) env[k] = v.replaceAll('PROXY', s.proxyAddress ?? proxy.host);
  const name = `${(s.host ?? 'registry.example:PORT').replaceAll('PORT', String(port))}/ns/repo`;
  const out = await tempDir(t);

  const sk = await run(
    'skopeo',
    [
      'copy',
      '--retry-times',
      '0',
      '--src-tls-verify=false',
      `docker://${name}@${img!.manifestDigest}`,
      `dir:${join(out, 'skopeo')}`,
    ],
    { timeout: 60_000, env: { PATH: process.env.PATH ?? '', ...env } },
  ).then(
    () => ({ ok: true, message: '' }),
    (e: { stderr?: string }) => ({ ok: false, message: String(e.stderr) }),
  );
  const skopeo = { ...sk, lines: normalise(proxy.lines()) };
  proxy.requests.length = 0;

  const sources = {
    'org.osbuild.skopeo': {
      items: { [img!.configDigest]: { image: { name, digest: img!.manifestDigest, 'tls-verify': false } } },
    },
  };
  const cache = join(out, 'cache');
  const oc = await fetch(sources, cache, {
    env,
    policy: ACCEPT_ANYTHING_POLICY,
    retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 5 },
  }).then(
    () => ({ ok: true, message: '' }),
    (e: Error) => ({ ok: false, message: e.message }),
  );
  const ocikit = { ...oc, lines: normalise(proxy.lines()) };
  if (!ocikit.ok) assert.deepEqual(await readdir(cache).catch(() => []), []);
  return { skopeo, ocikit, port };
}

/** What a whole pull through the proxy looks like: the HTTPS try, then plain HTTP. */
function pulled(port: number, opts: { connect?: boolean } = {}): string[] {
  const base = `http://registry.example:${port}/v2/`;
  return normalise([
    ...(opts.connect === false ? [] : [`CONNECT registry.example:${port}`]),
    `GET ${base}`,
    `GET ${base}ns/repo/manifests/${img!.manifestDigest}`,
    ...[img!.configDigest, ...img!.layers.map((l) => l.digest)].map((d) => `GET ${base}ns/repo/blobs/${d}`),
  ]);
}

function same(r: { skopeo: Outcome; ocikit: Outcome }): void {
  assert.equal(r.ocikit.ok, r.skopeo.ok, `skopeo: ${r.skopeo.message}\nocikit: ${r.ocikit.message}`);
  assert.deepEqual(r.ocikit.lines, r.skopeo.lines);
}

describe('fetch through a proxy, as skopeo copy', () => {
  const both = { HTTPS_PROXY: 'http://PROXY', HTTP_PROXY: 'http://PROXY' };

  it('HTTPS_PROXY and HTTP_PROXY: CONNECT for the HTTPS try, absolute-form GETs for plain HTTP', async (t) => {
    if (!needTool(t, 'skopeo', 'docker-registry')) return;
    const r = await runBoth(t, { env: both });
    same(r);
    assert.equal(r.ocikit.ok, true, r.ocikit.message);
    assert.deepEqual(r.ocikit.lines, pulled(r.port));
  });

  it('lower-case https_proxy and http_proxy, values without a scheme', async (t) => {
    if (!needTool(t, 'skopeo', 'docker-registry')) return;
    const r = await runBoth(t, { env: { https_proxy: 'PROXY', http_proxy: 'PROXY' } });
    same(r);
    assert.equal(r.ocikit.ok, true, r.ocikit.message);
    assert.deepEqual(r.ocikit.lines, pulled(r.port));
  });

  it('HTTP_PROXY only: the HTTPS try goes direct (and fails), plain HTTP through the proxy', async (t) => {
    if (!needTool(t, 'skopeo', 'docker-registry')) return;
    const r = await runBoth(t, { env: { HTTP_PROXY: 'http://PROXY', HTTPS_PROXY: '' } });
    same(r);
    assert.equal(r.ocikit.ok, true, r.ocikit.message);
    assert.deepEqual(r.ocikit.lines, pulled(r.port, { connect: false }));
  });

  it('REQUEST_METHOD set (CGI): HTTP_PROXY refused on the plain-HTTP fallback, the HTTPS try still proxied', async (t) => {
    if (!needTool(t, 'skopeo', 'docker-registry')) return;
    const r = await runBoth(t, { env: { ...both, REQUEST_METHOD: 'GET' } });
    same(r);
    assert.equal(r.ocikit.ok, false);
    assert.match(r.skopeo.message, /refusing to use HTTP_PROXY value in CGI environment/);
    assert.match(r.ocikit.message, /proxy setting HTTP_PROXY: refused in a CGI environment/);
    assert.deepEqual(r.ocikit.lines, [`CONNECT registry.example:${r.port}`]);
  });

  for (const noProxy of [{ NO_PROXY: 'registry.example' }, { no_proxy: 'other.test, .EXAMPLE:PORT' }]) {
    it(`NO_PROXY matching the host (${JSON.stringify(noProxy)}): direct, so the invented name fails`, async (t) => {
      if (!needTool(t, 'skopeo', 'docker-registry')) return;
      const env = { ...both, ...noProxy };
      for (const [k, v] of Object.entries(noProxy)) Object.assign(env, { [k]: v.replace('PORT', String(reg!.port)) });
      const r = await runBoth(t, { env });
      same(r);
      assert.equal(r.ocikit.ok, false);
      assert.deepEqual(r.ocikit.lines, []);
    });
  }

  it('NO_PROXY that does not match (a leading dot: subdomains only; another port): proxied', async (t) => {
    if (!needTool(t, 'skopeo', 'docker-registry')) return;
    const r = await runBoth(t, { env: { ...both, NO_PROXY: '.registry.example,registry.example:1' } });
    same(r);
    assert.equal(r.ocikit.ok, true, r.ocikit.message);
  });

  for (const host of ['127.0.0.1:PORT', 'localhost:PORT']) {
    it(`a loopback registry address (${host}) is never proxied`, async (t) => {
      if (!needTool(t, 'skopeo', 'docker-registry')) return;
      const r = await runBoth(t, { env: both, host });
      same(r);
      assert.equal(r.ocikit.ok, true, r.ocikit.message);
      assert.deepEqual(r.ocikit.lines, []);
    });
  }

  const credentials = { user: 'proxy user', password: 'pa:ss@w/rd' };
  const encoded = 'proxy%20user:pa%3Ass%40w%2Frd';

  it('proxy credentials in the URL, percent-decoded, sent as Proxy-Authorization: Basic', async (t) => {
    if (!needTool(t, 'skopeo', 'docker-registry')) return;
    const r = await runBoth(t, {
      env: { HTTPS_PROXY: `http://${encoded}@PROXY`, HTTP_PROXY: `http://${encoded}@PROXY` },
      proxy: { credentials },
    });
    same(r);
    assert.equal(r.ocikit.ok, true, r.ocikit.message);
    assert.deepEqual(r.ocikit.lines, pulled(r.port));
  });

  it('wrong proxy credentials: both fail; ocikit names the proxy, never the password', async (t) => {
    if (!needTool(t, 'skopeo', 'docker-registry')) return;
    const wrong = 'proxy%20user:Wr0ngS3cret';
    const r = await runBoth(t, {
      env: { HTTPS_PROXY: `http://${wrong}@PROXY`, HTTP_PROXY: `http://${wrong}@PROXY` },
      proxy: { credentials },
    });
    same(r);
    assert.equal(r.ocikit.ok, false);
    assert.match(r.skopeo.message, /407 \(Proxy Authentication Required\)/);
    assert.match(r.ocikit.message, /through proxy http:\/\/127\.0\.0\.1:\d+: answered HTTP 407/);
    assert.ok(!r.ocikit.message.includes('Wr0ngS3cret') && !r.ocikit.message.includes('proxy%20user'));
  });

  it('a proxy that is down: both fail, ocikit naming the proxy', async (t) => {
    if (!needTool(t, 'skopeo', 'docker-registry')) return;
    const closed = `127.0.0.1:${await freePort()}`;
    const r = await runBoth(t, {
      env: { HTTPS_PROXY: 'http://u:pw@PROXY', HTTP_PROXY: 'http://u:pw@PROXY' },
      proxyAddress: closed,
    });
    same(r);
    assert.equal(r.ocikit.ok, false);
    assert.match(r.ocikit.message, new RegExp(`through proxy http://${closed}: .*ECONNREFUSED`));
    assert.ok(!r.ocikit.message.includes('pw'));
  });

  it('an https:// proxy, its certificate unchecked with tls-verify off (as Go does)', async (t) => {
    if (!needTool(t, 'skopeo', 'docker-registry')) return;
    const tls = await selfSignedCert(await tempDir(t));
    const r = await runBoth(t, { env: { HTTPS_PROXY: 'https://PROXY', HTTP_PROXY: 'https://PROXY' }, proxy: { tls } });
    assert.equal(r.skopeo.ok, true, r.skopeo.message);
    assert.equal(r.ocikit.ok, true, r.ocikit.message);
    assert.deepEqual(r.skopeo.lines, pulled(r.port));
    // Where ocikit differs (docs/proxies.md): undici tunnels plain HTTP through an https:// proxy
    // (CONNECT) where Go sends absolute-form requests over the TLS connection.
    assert.deepEqual(r.ocikit.lines, normalise([`CONNECT registry.example:${r.port}`]));
  });
});
