/**
 * registries.conf, differential: every scenario runs `skopeo copy docker://NAME@DIGEST dir:…`
 * (skopeo 1.9.3, containers/image 5.23) and ocikit's `fetch` on the same temporary HOME (the
 * per-user `~/.config/containers/registries.conf` and its drop-ins) against the same two real
 * registries on loopback, a primary and a mirror, each behind a connection-counting proxy; both
 * tools must reach the same outcome and contact the same registries. Mirrors, mirror-by-digest-only,
 * pull-from-mirror, location rewrites, `*.` prefixes, blocked (main file, drop-in, v1), insecure
 * (a registry's and a mirror's own), `--registries-conf` and a malformed file.
 */
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { fetch } from '../../src/fetch/fetch.js';
import { makeDirImage } from '../helpers/images.js';
import { runNode } from '../helpers/process.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { pushDir, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';
import { haveTool, needTool } from '../helpers/tools.js';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../../../bin/ocikit', import.meta.url));

interface Scenario {
  /** Files under HOME (`A`, `B` in them are replaced by the primary's and the mirror's host). */
  readonly files: Record<string, string>;
  /** The image name (`A`/`B` replaced). */
  readonly name: string;
  /** Sources `tls-verify: false` (skopeo `--src-tls-verify=false`); default true (no flag). */
  readonly tlsVerify?: boolean;
  /** A `--registries-conf` file under HOME. */
  readonly registriesConf?: string;
  /** Whether the pull succeeds, and which registries are contacted. */
  readonly ok: boolean;
  readonly contacted: readonly ('A' | 'B')[];
  /** Text the ocikit error must contain (`HOME` replaced). */
  readonly error?: readonly string[];
}

const mirrorOf = (extra = '', mirrorExtra = '') =>
  `[[registry]]\nlocation = "A"\n${extra}\n[[registry.mirror]]\nlocation = "B"\n${mirrorExtra}\n`;
const USER = '.config/containers/registries.conf';

const SCENARIOS: Record<string, Scenario> = {
  'the mirror is tried first and serves the image': {
    files: { [USER]: mirrorOf() },
    name: 'A/ns/repo',
    tlsVerify: false,
    ok: true,
    contacted: ['B'],
  },
  'a mirror without the image: the primary serves it': {
    files: { [USER]: mirrorOf() },
    name: 'A/ns/onlya',
    tlsVerify: false,
    ok: true,
    contacted: ['A', 'B'],
  },
  'mirror-by-digest-only: a digest pull uses the mirror': {
    files: { [USER]: mirrorOf('mirror-by-digest-only = true') },
    name: 'A/ns/repo',
    tlsVerify: false,
    ok: true,
    contacted: ['B'],
  },
  'pull-from-mirror = "tag-only": skipped for a digest pull': {
    files: { [USER]: mirrorOf('', 'pull-from-mirror = "tag-only"') },
    name: 'A/ns/repo',
    tlsVerify: false,
    ok: true,
    contacted: ['A'],
  },
  'pull-from-mirror = "digest-only": used for a digest pull': {
    files: { [USER]: mirrorOf('', 'pull-from-mirror = "digest-only"') },
    name: 'A/ns/repo',
    tlsVerify: false,
    ok: true,
    contacted: ['B'],
  },
  'location rewrites an invented domain to another host and namespace': {
    files: { [USER]: '[[registry]]\nprefix = "primary.example/ns"\nlocation = "B/other/deep"\n' },
    name: 'primary.example/ns/repo',
    tlsVerify: false,
    ok: true,
    contacted: ['B'],
  },
  'a *. wildcard prefix with a location': {
    files: { [USER]: '[[registry]]\nprefix = "*.wild.example"\nlocation = "B/other/deep"\n' },
    name: 'x.wild.example/repo',
    tlsVerify: false,
    ok: true,
    contacted: ['B'],
  },
  'blocked in the main file: refused before any request': {
    files: { [USER]: '[[registry]]\nlocation = "A"\nblocked = true\n' },
    name: 'A/ns/repo',
    tlsVerify: false,
    ok: false,
    contacted: [],
    error: ['registry "A" is blocked by [[registry]] prefix "A" in HOME/.config/containers/registries.conf'],
  },
  'blocked in a drop-in that replaces the main file’s entry': {
    files: {
      [USER]: '[[registry]]\nlocation = "A"\n',
      '.config/containers/registries.conf.d/50-block.conf': '[[registry]]\nlocation = "A"\nblocked = true\n',
    },
    name: 'A/ns/repo',
    tlsVerify: false,
    ok: false,
    contacted: [],
    error: ['registries.conf.d/50-block.conf'],
  },
  'blocked in v1 [registries.block]': {
    files: { [USER]: '[registries.block]\nregistries = ["A"]\n' },
    name: 'A/ns/repo',
    tlsVerify: false,
    ok: false,
    contacted: [],
    error: ['[registries.block]'],
  },
  'a blocked primary with an unblocked mirror: the mirror serves it': {
    files: { [USER]: mirrorOf('blocked = true') },
    name: 'A/ns/onlyb',
    tlsVerify: false,
    ok: true,
    contacted: ['B'],
  },
  'a blocked prefix whose location is another host does not block that host (containers/image)': {
    files: { [USER]: '[[registry]]\nprefix = "primary.example"\nlocation = "A"\nblocked = true\n' },
    name: 'primary.example/ns/repo',
    tlsVerify: false,
    ok: true,
    contacted: ['A'],
  },
  'a plain-HTTP registry is reachable with insecure = true': {
    files: { [USER]: '[[registry]]\nlocation = "A"\ninsecure = true\n' },
    name: 'A/ns/repo',
    ok: true,
    contacted: ['A'],
  },
  'without insecure, a plain-HTTP registry is refused': {
    files: { [USER]: '[[registry]]\nlocation = "A"\n' },
    name: 'A/ns/repo',
    ok: false,
    contacted: ['A'],
  },
  'a mirror’s own insecure makes the mirror reachable': {
    files: { [USER]: mirrorOf('', 'insecure = true') },
    name: 'A/ns/repo',
    ok: true,
    contacted: ['B'],
  },
  '--registries-conf replaces the per-user file': {
    files: { [USER]: '[[registry]]\nlocation = "A"\nblocked = true\n', 'explicit.conf': mirrorOf() },
    registriesConf: 'explicit.conf',
    name: 'A/ns/repo',
    tlsVerify: false,
    ok: true,
    contacted: ['B'],
  },
  'a malformed file: both refuse, ocikit names the file': {
    files: { [USER]: '[[registry]\nlocation = "A"\n' },
    name: 'A/ns/repo',
    tlsVerify: false,
    ok: false,
    contacted: [],
    error: ['HOME/.config/containers/registries.conf: line 1', 'invalid TOML'],
  },
};

describe('registries.conf: skopeo copy and ocikit fetch on the same HOME', () => {
  let primary: TestRegistry;
  let mirror: TestRegistry;
  let proxyA: TestProxy;
  let proxyB: TestProxy;
  let image: { digest: string; id: string };
  const ready = haveTool('skopeo') && haveTool('docker-registry');
  const stops: (() => unknown)[] = [];
  after(async () => {
    for (const stop of stops.reverse()) await stop();
  });

  before(async () => {
    if (!ready) return;
    const hooks = { after: (fn: () => unknown) => stops.push(fn) };
    [primary, mirror] = await Promise.all([startRegistry(hooks), startRegistry(hooks)]);
    proxyA = await startProxy(primary.port, {}, hooks);
    proxyB = await startProxy(mirror.port, {}, hooks);
    const dir = join(primary.root, 'image');
    const img = await makeDirImage(dir, { layers: 1 });
    image = { digest: img.manifestDigest, id: img.configDigest };
    await pushDir(dir, primary.host, 'ns/repo');
    await pushDir(dir, primary.host, 'ns/onlya');
    await pushDir(dir, mirror.host, 'ns/repo');
    await pushDir(dir, mirror.host, 'ns/onlyb');
    await pushDir(dir, mirror.host, 'other/deep/repo');
  });

  /** Runs `fn` and reports which proxies saw connections meanwhile. */
  async function contacts<T>(fn: () => Promise<T>): Promise<{ result: T; contacted: ('A' | 'B')[] }> {
    const a = proxyA.stats.connections;
    const b = proxyB.stats.connections;
    const result = await fn();
    const contacted: ('A' | 'B')[] = [];
    if (proxyA.stats.connections > a) contacted.push('A');
    if (proxyB.stats.connections > b) contacted.push('B');
    return { result, contacted };
  }

  async function homeFor(t: TestContext, s: Scenario): Promise<string> {
    const home = await tempDir(t);
    const sub = (text: string) => text.replaceAll('A', proxyA.host).replaceAll('B', proxyB.host);
    const files = {
      '.config/containers/policy.json': '{"default":[{"type":"insecureAcceptAnything"}]}',
      ...s.files,
    };
    for (const [rel, text] of Object.entries(files)) {
      await mkdir(dirname(join(home, rel)), { recursive: true });
      await writeFile(join(home, rel), rel.endsWith('.json') ? text : text.replace(/"[^"\n]*"/g, sub));
    }
    return home;
  }

  const nameOf = (s: Scenario) => s.name.replace(/^A\//, `${proxyA.host}/`).replace(/^B\//, `${proxyB.host}/`);

  for (const [title, s] of Object.entries(SCENARIOS)) {
    it(title, async (t) => {
      if (!needTool(t, 'skopeo', 'docker-registry')) return;
      const home = await homeFor(t, s);
      const out = await tempDir(t);
      const args = [
        ...(s.registriesConf ? ['--registries-conf', join(home, s.registriesConf)] : []),
        'copy',
        '--retry-times',
        '0',
        ...(s.tlsVerify === false ? ['--src-tls-verify=false'] : []),
        `docker://${nameOf(s)}@${image.digest}`,
        `dir:${join(out, 'skopeo')}`,
      ];
      const sk = await contacts(() =>
        run('skopeo', args, { env: { PATH: process.env.PATH ?? '', HOME: home } }).then(
          () => ({ ok: true, stderr: '' }),
          (e: { stderr?: string }) => ({ ok: false, stderr: e.stderr ?? '' }),
        ),
      );
      assert.equal(sk.result.ok, s.ok, `skopeo: ${sk.result.stderr}`);
      assert.deepEqual(sk.contacted, s.contacted, 'skopeo contacted');

      const sources = {
        'org.osbuild.skopeo': {
          items: {
            [image.id]: {
              image: {
                name: nameOf(s),
                digest: image.digest,
                ...(s.tlsVerify === false ? { 'tls-verify': false } : {}),
              },
            },
          },
        },
      };
      const oc = await contacts(() =>
        fetch(sources, join(out, 'cache'), {
          env: { HOME: home },
          retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 5 },
          ...(s.registriesConf ? { registriesConf: join(home, s.registriesConf) } : {}),
        }).then(
          () => ({ ok: true, err: undefined }),
          (err: Error & { code?: string }) => ({ ok: false, err }),
        ),
      );
      assert.equal(oc.result.ok, s.ok, `ocikit: ${oc.result.err?.message}`);
      assert.deepEqual(oc.contacted, s.contacted, 'ocikit contacted');
      for (const want of s.error ?? []) {
        const text = want.replaceAll('HOME', home).replaceAll('"A"', `"${proxyA.host}"`);
        assert.ok(oc.result.err?.message.includes(text), `${oc.result.err?.message} lacks ${text}`);
        assert.equal(oc.result.err?.code, 'CONFIG');
      }
    });
  }

  it('ocikit fetch --registries-conf (the CLI) reads the file it names', async (t) => {
    if (!needTool(t, 'skopeo', 'docker-registry')) return;
    const s = SCENARIOS['--registries-conf replaces the per-user file']!;
    const home = await homeFor(t, s);
    const dir = await tempDir(t);
    const sources = join(dir, 'sources.json');
    await writeFile(
      sources,
      JSON.stringify({
        'org.osbuild.skopeo': {
          items: { [image.id]: { image: { name: nameOf(s), digest: image.digest, 'tls-verify': false } } },
        },
      }),
    );
    const cli = (extra: string[]) =>
      contacts(() =>
        runNode([BIN, 'fetch', '--sources', sources, '--cache', join(dir, `cache${extra.length}`), ...extra], {
          env: { HOME: home },
        }),
      );
    const blocked = await cli([]);
    assert.notEqual(blocked.result.status, 0, blocked.result.stderr);
    assert.match(blocked.result.stderr, /^ocikit: registry "127\.0\.0\.1:\d+" is blocked by \[\[registry\]\] prefix/);
    assert.deepEqual(blocked.contacted, []);
    const explicit = await cli(['--registries-conf', join(home, 'explicit.conf')]);
    assert.equal(explicit.result.status, 0, explicit.result.stderr);
    assert.deepEqual(explicit.contacted, ['B']);
  });
  it('$CONTAINERS_REGISTRIES_CONF: ocikit honours it as podman does; skopeo 1.9.3 ignores it (a recorded difference)', async (t) => {
    if (!needTool(t, 'skopeo', 'docker-registry')) return;
    const s: Scenario = {
      files: { 'blocking.conf': '[[registry]]\nlocation = "A"\nblocked = true\n' },
      name: 'A/ns/repo',
      tlsVerify: false,
      ok: false,
      contacted: [],
    };
    const home = await homeFor(t, s);
    const out = await tempDir(t);
    const env = { HOME: home, CONTAINERS_REGISTRIES_CONF: join(home, 'blocking.conf') };
    const ref = `${nameOf(s)}@${image.digest}`;
    const sk = await contacts(() =>
      run('skopeo', ['copy', '--src-tls-verify=false', `docker://${ref}`, `dir:${join(out, 'skopeo')}`], {
        env: { PATH: process.env.PATH ?? '', ...env },
      }).then(
        () => true,
        () => false,
      ),
    );
    assert.equal(sk.result, true, 'skopeo 1.9.3 ignores CONTAINERS_REGISTRIES_CONF and pulls');
    assert.deepEqual(sk.contacted, ['A']);
    const sources = {
      'org.osbuild.skopeo': {
        items: { [image.id]: { image: { name: nameOf(s), digest: image.digest, 'tls-verify': false } } },
      },
    };
    const oc = await contacts(() =>
      fetch(sources, join(out, 'cache'), { env, retry: { attempts: 1 } }).then(
        () => undefined,
        (err: Error & { code?: string }) => err,
      ),
    );
    assert.equal(oc.result?.code, 'CONFIG');
    assert.ok(oc.result?.message.includes(join(home, 'blocking.conf')), oc.result?.message);
    assert.deepEqual(oc.contacted, []);
  });
});
