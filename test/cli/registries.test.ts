/**
 * `ocikit registries REF`: the pull plan as a whole process. The order of endpoints is compared
 * with the order skopeo 1.9.3 tries them on the same HOME (`skopeo --debug inspect` logs
 * `Trying to access "REF"` for each pull source; the endpoints are closed loopback ports, so it
 * fails fast after trying them all); the rest checks what is printed (blocked entries, certs.d
 * files, proxies with redacted passwords, credential sources named without secrets), the JSON
 * shape, and the errors.
 */
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { runNode } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../../../bin/ocikit', import.meta.url));
const DIGEST = `sha256:${'0'.repeat(63)}1`;
/** Unset proxy variables of the machine the tests run on. */
const NO_PROXY_ENV = { HTTPS_PROXY: '', https_proxy: '', HTTP_PROXY: '', http_proxy: '', NO_PROXY: '', no_proxy: '' };

async function home(t: TestContext, files: Record<string, string>): Promise<string> {
  const h = await tempDir(t);
  const all = { '.config/containers/policy.json': '{"default":[{"type":"insecureAcceptAnything"}]}', ...files };
  for (const [rel, text] of Object.entries(all)) {
    await mkdir(dirname(join(h, rel)), { recursive: true });
    await writeFile(join(h, rel), text);
  }
  return h;
}

const CONF = '.config/containers/registries.conf';
const mirrors = `[[registry]]
prefix = "example.com/ns"
location = "127.0.0.1:9/primary/ns"
[[registry.mirror]]
location = "127.0.0.1:9/bydigest"
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "127.0.0.2:9/bytag"
pull-from-mirror = "tag-only"
[[registry.mirror]]
location = "127.0.0.3:9/always"
[[registry]]
location = "127.0.0.3:9"
blocked = true
`;

async function ocikit(h: string, args: string[], env: Record<string, string> = {}) {
  return runNode([BIN, 'registries', ...args], { env: { ...NO_PROXY_ENV, HOME: h, ...env } });
}

describe('ocikit registries', () => {
  for (const ref of ['example.com/ns/app:1', `example.com/ns/app@${DIGEST}`, `example.com/other/app@${DIGEST}`]) {
    it(`lists the endpoints of ${ref.replace(DIGEST, 'DIGEST')} in the order skopeo tries them`, async (t) => {
      if (!needTool(t, 'skopeo')) return;
      const h = await home(t, { [CONF]: mirrors });
      const sk = await run('skopeo', ['--debug', 'inspect', '--retry-times', '0', '--raw', `docker://${ref}`], {
        env: { PATH: process.env.PATH ?? '', HOME: h },
      }).then(
        () => assert.fail('skopeo reached a registry on a closed port'),
        (e: { stderr?: string }) => e.stderr ?? '',
      );
      const tried = [...sk.matchAll(/Trying to access \\"([^"\\]+)\\"/g)].map((m) => m[1]);
      assert.ok(tried.length > 0, sk);
      const res = await ocikit(h, ['--json', ref]);
      assert.equal(res.status, 0, res.stderr);
      const plan = JSON.parse(res.stdout) as { endpoints: { reference: string }[] };
      assert.deepEqual(
        plan.endpoints.map((e) => e.reference),
        tried,
      );
    });
  }

  it('shows the blocked endpoint, the entry and the files, certs.d, the proxy without its password, credential sources', async (t) => {
    // Loopback addresses are never proxied (Go's rule): the always-mirror gets an invented name here.
    const h = await home(t, {
      [CONF]: mirrors.replaceAll('127.0.0.3:9', 'mirror.example:9'),
      '.config/containers/certs.d/127.0.0.1:9/ca.crt': 'no PEM block: listed, and contributes no CA (as Go skips it)',
      '.config/containers/auth.json': JSON.stringify({
        auths: { '127.0.0.1:9': { auth: Buffer.from('user:pw-secret').toString('base64') } },
        credHelpers: { '127.0.0.2:9': 'ocikit-test' },
      }),
    });
    const res = await ocikit(h, ['example.com/ns/app:1'], {
      HTTPS_PROXY: 'http://someone:proxy-secret@proxy.example:3128',
      NO_PROXY: '127.0.0.2',
    });
    assert.equal(res.status, 0, res.stderr);
    const out = res.stdout;
    assert.ok(!out.includes('secret'), out);
    assert.match(out, new RegExp(`registries.conf: ${join(h, CONF)}`));
    assert.match(out, /matching entry: \[\[registry\]\] prefix "example\.com\/ns" in /);
    assert.match(
      out,
      /2\. mirror mirror\.example:9\/always\/app:1\n {5}connects to: [^\n]+\n {5}BLOCKED by \[\[registry\]\] prefix "mirror\.example:9"/,
    );
    assert.match(out, /proxy for https: http:\/\/someone:xxxxx@proxy\.example:3128 \(HTTPS_PROXY applies\)/);
    assert.match(out, /proxy for https: direct \(localhost and loopback addresses are never proxied\)/);
    assert.match(
      out,
      /credentials: docker-credential-ocikit-test would be asked \(credHelpers of "127\.0\.0\.2:9" in /,
    );
    assert.match(out, new RegExp(`credentials: ${join(h, '.config/containers/auth.json')} \\(user and password\\)`));
    assert.match(out, /certificates: \S+certs\.d\/127\.0\.0\.1:9 \(\S+\/ca\.crt\)/);
    assert.match(out, /1\. mirror 127\.0\.0\.2:9\/bytag\/app:1\n/);
    assert.match(out, /3\. primary 127\.0\.0\.1:9\/primary\/ns\/app:1\n/);
  });

  it('--tls-verify=false, --registries-conf and a reference without any entry', async (t) => {
    const h = await home(t, { 'other.conf': mirrors });
    const plain = JSON.parse((await ocikit(h, ['--json', 'docker://quay.io/fedora/fedora:41'])).stdout) as {
      registriesConf: { files: string[]; entry: unknown };
      endpoints: { reference: string; host: string; tlsVerify: boolean }[];
    };
    assert.equal(plain.registriesConf.entry, null);
    assert.deepEqual(
      plain.endpoints.map((e) => [e.reference, e.host, e.tlsVerify]),
      [['quay.io/fedora/fedora:41', 'quay.io', true]],
    );
    const hub = JSON.parse((await ocikit(h, ['--json', 'busybox'])).stdout) as { endpoints: { host: string }[] };
    assert.equal(hub.endpoints[0]?.host, 'registry-1.docker.io');
    const res = await ocikit(h, [
      '--json',
      '--tls-verify=false',
      '--registries-conf',
      join(h, 'other.conf'),
      'example.com/ns/x:1',
    ]);
    assert.equal(res.status, 0, res.stderr);
    const plan = JSON.parse(res.stdout) as { registriesConf: { files: string[] }; endpoints: { tlsVerify: boolean }[] };
    assert.ok(plan.registriesConf.files.includes(join(h, 'other.conf')));
    assert.deepEqual(
      plan.endpoints.map((e) => e.tlsVerify),
      [false, false, false],
    );
  });

  it('fails with one ocikit: line for a broken registries.conf (1) and for bad arguments (2)', async (t) => {
    const h = await home(t, { [CONF]: '[[registry]]\nlocation = "https://x.example"\n' });
    const bad = await ocikit(h, ['x.example/a']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^ocikit: .*registries\.conf.*\n$/);
    for (const args of [[], ['a', 'b'], ['UPPER/Case'], ['--tls-verify=maybe', 'x.example/a']]) {
      const res = await ocikit(h, args);
      assert.equal(res.status, 2, `${args.join(' ')}: ${res.stderr}`);
      assert.match(res.stderr, /^ocikit: /);
    }
  });
});
