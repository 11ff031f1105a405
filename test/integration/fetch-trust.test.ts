/**
 * Differential: the trust policy on a whole pull, `ocikit fetch` (a process) against skopeo 1.9.3
 * on the same policy file, the same temporary HOME and the same images on a loopback registry
 * (`skopeo copy docker://NAME@DIGEST dir:…` as osbuild's org.osbuild.skopeo source runs it;
 * `--multi-arch=index-only` as org.osbuild.skopeo-index runs it; `containers-storage:[vfs@ROOT+RUN]ID`
 * for local items). Both must accept or both refuse, except where ocikit is stricter on purpose
 * (none left: list items follow skopeo's index-only copy, docs/trust.md). After a refusal nothing is in ocikit's cache; `ocikit policy` gives
 * the same verdict for the same case.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { type GeneratedImage, makeDirImage, makeList, writeListDir } from '../helpers/images.js';
import { runNode } from '../helpers/process.js';
import { pushDir, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { haveTool, needTool } from '../helpers/tools.js';
import { writePolicy } from '../helpers/trust-policy.js';

const run = promisify(execFile);
const OCIKIT = new URL('../../../bin/ocikit', import.meta.url).pathname;
const A = { type: 'insecureAcceptAnything' };
const R = { type: 'reject' };

type Kind = 'image' | 'list' | 'instance' | 'local';
interface Scenario {
  readonly kind?: Kind;
  /** The policy (object as JSON, string as it is), or null for a missing file. */
  readonly policy: unknown;
  readonly insecure?: boolean;
  /** skopeo's outcome and ocikit's (the same unless stated). */
  readonly skopeo: boolean;
  readonly ocikit?: boolean;
  /** What ocikit's one error line must contain. */
  readonly says?: readonly string[];
  /** The verdict of `ocikit policy` on the reference, when it is not the fetch's (a list digest). */
  readonly explained?: boolean;
}

describe('trust policy on fetch: ocikit fetch vs skopeo copy 1.9.3', () => {
  let reg: TestRegistry | undefined;
  let work = '';
  let img: GeneratedImage;
  let amd: GeneratedImage;
  let arm: GeneratedImage;
  let list: { bytes: Buffer; digest: string };
  let store: { graphroot: string; runroot: string };
  before(async () => {
    if (!haveTool('skopeo') || !haveTool('docker-registry')) return;
    work = await mkdtemp(join(tmpdir(), 'ocikit-fetch-trust-'));
    reg = await startRegistry();
    img = await makeDirImage(join(work, 'img'), { flavour: 'oci' });
    await pushDir(img.dir, reg.host, 'ns/repo:v1');
    amd = await makeDirImage(join(work, 'amd'), { flavour: 'oci', platform: { architecture: 'amd64', os: 'linux' } });
    arm = await makeDirImage(join(work, 'arm'), { flavour: 'oci', platform: { architecture: 'arm64', os: 'linux' } });
    list = makeList([amd, arm], 'oci');
    const merged = join(work, 'merged');
    await writeListDir(merged, list, [amd, arm]);
    await pushDir(merged, reg.host, 'ns/list:v1', { multiArch: true });
    store = { graphroot: join(work, 'root'), runroot: join(work, 'run') };
    await run('skopeo', [
      '--insecure-policy',
      'copy',
      '--quiet',
      `dir:${img.dir}`,
      `containers-storage:[vfs@${store.graphroot}+${store.runroot}]localhost/x:latest`,
    ]);
  });
  after(async () => {
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** The instance a copy of the list picks on this host. */
  const instance = () => (process.arch === 'arm64' ? arm : amd);

  const scenarios = (host: string): Record<string, Scenario> => {
    const repo = `${host}/ns/repo`;
    return {
      'reject default': { policy: { default: [R] }, skopeo: false, says: ['(default)', 'requirement 1 (reject)'] },
      'reject scoped to the host': {
        policy: { default: [A], transports: { docker: { [host]: [R] } } },
        skopeo: false,
        says: [`transports.docker["${host}"]`],
      },
      'reject scoped to the repository': {
        policy: { default: [A], transports: { docker: { [repo]: [R] } } },
        skopeo: false,
        says: [`transports.docker["${repo}"]`],
      },
      'reject scoped to repo@digest': {
        policy: { default: [A], transports: { docker: { [`${repo}@${img.manifestDigest}`]: [R] } } },
        skopeo: false,
      },
      accept: { policy: { default: [A] }, skopeo: true },
      'insecureAcceptAnything at the repository over a reject default': {
        policy: { default: [R], transports: { docker: { [repo]: [A] } } },
        skopeo: true,
      },
      'signedBy with no signatures': {
        policy: { default: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/nonexistent.gpg' }] },
        skopeo: false,
        says: ['requirement 1 (signedBy)', 'looked in'],
      },
      'signedBaseLayer (not implemented; both refuse)': {
        policy: { default: [{ type: 'signedBaseLayer', baseLayerIdentity: { type: 'matchRepository' } }] },
        skopeo: false,
        says: ['field "type"', 'fail closed'],
      },
      'a malformed policy': { policy: '{"default": [', skopeo: false, says: ['invalid trust policy'] },
      'a missing policy file': { policy: null, skopeo: false, says: ['cannot load the trust policy'] },
      '--insecure-policy over a reject policy': { policy: { default: [R] }, insecure: true, skopeo: true },
      'an image item by its list digest, reject scoped to repo@LIST': {
        kind: 'instance',
        policy: { default: [A], transports: { docker: { [`${host}/ns/list@${list.digest}`]: [R] } } },
        skopeo: false,
      },
      'an image item by its list digest, reject scoped to repo@INSTANCE (the identity keeps the list digest)': {
        kind: 'instance',
        policy: { default: [A], transports: { docker: { [`${host}/ns/list@${instance().manifestDigest}`]: [R] } } },
        skopeo: true,
      },
      'a list item under accept': { kind: 'list', policy: { default: [A] }, skopeo: true },
      'a list item under a reject default (an index-only copy evaluates nothing: both fetch the list)': {
        kind: 'list',
        policy: { default: [R] },
        skopeo: true,
        // `ocikit policy` of the list digest explains a pull of an image by it, which is refused.
        explained: false,
      },
      'a local item under a containers-storage scoped reject': {
        kind: 'local',
        policy: { default: [A], transports: { 'containers-storage': { [`[vfs@${store.graphroot}]`]: [R] } } },
        skopeo: false,
        says: [`transports.containers-storage["[vfs@${store.graphroot}]"]`],
      },
      'a local item under a docker-only reject': {
        kind: 'local',
        policy: { default: [A], transports: { docker: { '': [R] } } },
        skopeo: true,
      },
    };
  };

  function sourcesOf(kind: Kind, host: string): unknown {
    switch (kind) {
      case 'image':
        return {
          'org.osbuild.skopeo': {
            items: {
              [img.configDigest]: {
                image: { name: `${host}/ns/repo`, digest: img.manifestDigest, 'tls-verify': false },
              },
            },
          },
        };
      case 'instance':
        return {
          'org.osbuild.skopeo': {
            items: {
              [instance().configDigest]: {
                image: { name: `${host}/ns/list`, digest: list.digest, 'tls-verify': false },
              },
            },
          },
        };
      case 'list':
        return {
          'org.osbuild.skopeo-index': {
            items: { [list.digest]: { image: { name: `${host}/ns/list`, 'tls-verify': false } } },
          },
        };
      case 'local':
        return { 'org.osbuild.containers-storage': { items: { [img.configDigest]: {} } } };
    }
  }

  function skopeoSource(kind: Kind, host: string): string[] {
    switch (kind) {
      case 'image':
        return ['--src-tls-verify=false', `docker://${host}/ns/repo@${img.manifestDigest}`];
      case 'instance':
        return ['--src-tls-verify=false', `docker://${host}/ns/list@${list.digest}`];
      case 'list':
        return ['--multi-arch=index-only', '--src-tls-verify=false', `docker://${host}/ns/list@${list.digest}`];
      case 'local':
        return [`containers-storage:[vfs@${store.graphroot}+${store.runroot}]${img.configDigest.slice(7)}`];
    }
  }

  it('reaches the same outcome for every scenario; nothing is cached after a refusal', async (t) => {
    if (!needTool(t, 'skopeo', 'docker-registry') || reg === undefined) return;
    const host = reg.host;
    const outcomes: string[] = [];
    let n = 0;
    for (const [name, s] of Object.entries(scenarios(host))) {
      const kind = s.kind ?? 'image';
      const dir = join(work, `case-${n++}`);
      const home = join(dir, 'home');
      await mkdir(join(home, '.config', 'containers'), { recursive: true });
      const conf = join(dir, 'storage.conf');
      await writeFile(
        conf,
        `[storage]\ndriver = "vfs"\ngraphroot = "${store.graphroot}"\nrunroot = "${store.runroot}"\n`,
      );
      const file = join(dir, 'policy.json');
      if (s.policy !== null) await writePolicy(file, s.policy);
      const global = ['--policy', file, ...(s.insecure ? ['--insecure-policy'] : [])];
      const env = { PATH: process.env.PATH ?? '', HOME: home, CONTAINERS_STORAGE_CONF: conf };
      const sk = await run(
        'skopeo',
        [...global, 'copy', '--quiet', ...skopeoSource(kind, host), `dir:${join(dir, 'out')}`],
        {
          env,
        },
      ).then(
        () => ({ ok: true, err: '' }),
        (e: { stderr: string }) => ({ ok: false, err: e.stderr.trim() }),
      );
      const sources = join(dir, 'sources.json');
      await writeFile(sources, JSON.stringify(sourcesOf(kind, host)));
      const cache = join(dir, 'cache');
      const oc = await runNode([OCIKIT, 'fetch', '--sources', sources, '--cache', cache, ...global], { env });
      outcomes.push(
        `${name}: skopeo ${sk.ok ? 'accepts' : 'refuses'}, ocikit ${oc.status === 0 ? 'accepts' : 'refuses'}`,
      );
      assert.equal(sk.ok, s.skopeo, `${name}: skopeo: ${sk.err}`);
      const want = s.ocikit ?? s.skopeo;
      assert.equal(oc.status, want ? 0 : 1, `${name}: ocikit: ${oc.stderr}`);
      if (!want) {
        const lines = oc.stderr.trim().split('\n');
        assert.equal(lines.length, 1, `${name}: one line: ${oc.stderr}`);
        assert.match(lines[0]!, /^ocikit: /);
        assert.ok(lines[0]!.includes(file), `${name}: names the policy file: ${lines[0]}`);
        for (const w of s.says ?? []) assert.ok(lines[0]!.includes(w), `${name}: says ${w}: ${lines[0]}`);
        const left = await readdir(cache).catch(() => []);
        for (const sub of left)
          assert.deepEqual(await readdir(join(cache, sub)), [], `${name}: nothing cached in ${sub}`);
      }
      if (!s.skopeo)
        assert.ok(sk.err.includes('Source image rejected') || sk.err.includes('Error loading trust policy'), sk.err);
      // `ocikit policy` reaches the verdict the fetch reached (local items are not its business).
      if (kind !== 'local') {
        const ref =
          kind === 'image'
            ? `docker://${host}/ns/repo@${img.manifestDigest}`
            : `docker://${host}/ns/list@${list.digest}`;
        const p = await runNode([OCIKIT, 'policy', ref, '--tls-verify=false', '--json', ...global], { env });
        const explained = s.explained ?? oc.status === 0;
        assert.equal(p.status, explained ? 0 : 1, `${name}: ocikit policy: ${p.stderr}`);
        if (s.policy !== null && !name.includes('malformed')) {
          const j = JSON.parse(p.stdout) as { accepted: boolean; scope: { label: string }; policy: string | null };
          assert.equal(j.accepted, p.status === 0);
          assert.equal(j.policy, s.insecure ? null : file);
        }
      }
    }
    t.diagnostic(outcomes.join('\n'));
  });
});
