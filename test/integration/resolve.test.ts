/**
 * `resolve` against a real registry on loopback (docker-registry 2.8), with images and lists pushed
 * by skopeo, compared with what skopeo 1.9.3 reports on the same HOME: a tag's manifest digest
 * (`skopeo inspect --raw` + `skopeo manifest-digest`) and image ID (`inspect --config --raw`), the
 * instance of a list (`skopeo --override-arch A inspect --config --raw`), the platform check, the
 * `--json` sources fed to `ocikit fetch`, the lock file and a registries.conf mirror.
 */
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { isOcikitError } from '../../src/errors.js';
import { runTool } from '../../src/internal/exec.js';
import { resolve } from '../../src/resolve/resolve.js';
import { type GeneratedImage, makeDirImage } from '../helpers/images.js';
import { runNode } from '../helpers/process.js';
import { pushDir, pushTwoPlatformList, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';
import { haveTool, needTool } from '../helpers/tools.js';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../../../bin/ocikit', import.meta.url));
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const RETRY = { attempts: 1, baseDelayMs: 1, maxDelayMs: 5 };

describe('resolve against a registry, compared with skopeo', {
  skip: !haveTool('docker-registry') && !process.env.CI,
}, () => {
  let reg: TestRegistry;
  let work: string;
  let single: GeneratedImage;
  let amd: GeneratedImage;
  let arm: GeneratedImage;
  let listDigest: string;

  before(async () => {
    if (!haveTool('docker-registry') || !haveTool('skopeo')) return;
    reg = await startRegistry();
    work = await import('node:fs/promises').then((fs) => fs.mkdtemp('/tmp/ocikit-resolve-'));
    single = await makeDirImage(join(work, 'single'), { flavour: 'docker' });
    await pushDir(single.dir, reg.host, 'ns/single:1');
    ({ amd, arm, listDigest } = await pushTwoPlatformList(work, reg.host, 'ns/multi:1'));
  });
  after(async () => {
    await reg?.stop();
    if (work) await import('node:fs/promises').then((fs) => fs.rm(work, { recursive: true, force: true }));
  });

  /** A HOME with a permissive policy and the given registries.conf (empty: the host's is not read). */
  async function home(t: TestContext, registriesConf = ''): Promise<string> {
    const h = await tempDir(t);
    const files = {
      '.config/containers/policy.json': '{"default":[{"type":"insecureAcceptAnything"}]}',
      '.config/containers/registries.conf': registriesConf,
    };
    for (const [rel, text] of Object.entries(files)) {
      await mkdir(dirname(join(h, rel)), { recursive: true });
      await writeFile(join(h, rel), text);
    }
    return h;
  }
  const skopeo = async (h: string, args: string[]) =>
    (await run('skopeo', args, { env: { PATH: process.env.PATH ?? '', HOME: h }, encoding: 'buffer' })).stdout;

  it('a tag resolves to the digest and image ID skopeo inspect --raw / manifest-digest give', async (t) => {
    if (!needTool(t, 'skopeo', 'docker-registry')) return;
    const h = await home(t);
    const ref = `${reg.host}/ns/single:1`;
    const raw = await skopeo(h, ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]);
    const dir = await tempDir(t);
    await writeFile(join(dir, 'm.json'), raw);
    const digest = (await skopeo(h, ['manifest-digest', join(dir, 'm.json')])).toString().trim();
    const config = await skopeo(h, ['inspect', '--raw', '--config', '--tls-verify=false', `docker://${ref}`]);
    const r = await resolve([ref], { arch: 'x86_64', tlsVerify: false, env: { HOME: h }, retry: RETRY });
    assert.deepEqual(r.specs, [
      {
        ref,
        source: `${reg.host}/ns/single`,
        name: ref,
        digest,
        imageId: sha(config),
        listDigest: null,
        platform: { os: 'linux', architecture: 'amd64' },
        arch: 'x86_64',
        tlsVerify: false,
        localStorage: false,
      },
    ]);
    assert.equal(digest, single.manifestDigest);
    assert.deepEqual(r.warnings, []);
  });

  it('--local: an image of the host store storage.conf names resolves to what skopeo reads there', async (t) => {
    if (!needTool(t, 'skopeo', 'docker-registry')) return;
    const h = await home(t);
    const root = await tempDir(t);
    const graphroot = join(root, 'graph');
    const runroot = join(root, 'run');
    const conf = join(root, 'storage.conf');
    await writeFile(conf, `[storage]\ndriver = "vfs"\ngraphroot = "${graphroot}"\nrunroot = "${runroot}"\n`);
    const store = `containers-storage:[vfs@${graphroot}+${runroot}]localhost/local/img:v1`;
    await skopeo(h, ['copy', `dir:${single.dir}`, store]);
    const raw = await skopeo(h, ['inspect', '--raw', store]);
    const config = await skopeo(h, ['inspect', '--raw', '--config', store]);
    const r = await resolve(['localhost/local/img:v1'], {
      arch: 'x86_64',
      local: true,
      env: { HOME: h, CONTAINERS_STORAGE_CONF: conf, PATH: process.env.PATH ?? '' },
    });
    assert.equal(r.specs.length, 1);
    const spec = r.specs[0]!;
    assert.equal(spec.digest, sha(raw));
    assert.equal(spec.imageId, sha(config));
    assert.equal(spec.localStorage, true);
    assert.equal(spec.listDigest, null);
    await assert.rejects(
      resolve(['localhost/local/missing:v1'], {
        local: true,
        env: { HOME: h, CONTAINERS_STORAGE_CONF: conf, PATH: process.env.PATH ?? '' },
      }),
      (e: unknown) => isOcikitError(e),
    );
  });

  for (const [arch, goArch] of [
    ['x86_64', 'amd64'],
    ['aarch64', 'arm64'],
    ['arm64', 'arm64'],
  ] as const) {
    it(`a list resolved for ${arch}: the instance skopeo --override-arch ${goArch} picks`, async (t) => {
      if (!needTool(t, 'skopeo', 'docker-registry')) return;
      const h = await home(t);
      const ref = `${reg.host}/ns/multi:1`;
      const config = await skopeo(h, [
        '--override-arch',
        goArch,
        'inspect',
        '--raw',
        '--config',
        '--tls-verify=false',
        `docker://${ref}`,
      ]);
      const r = await resolve([ref], { arch, tlsVerify: false, env: { HOME: h }, retry: RETRY });
      const s = r.specs[0]!;
      assert.equal(s.imageId, sha(config));
      assert.equal(s.digest, goArch === 'amd64' ? amd.manifestDigest : arm.manifestDigest);
      assert.equal(s.listDigest, listDigest);
      assert.equal(r.arch, goArch === 'amd64' ? 'x86_64' : 'aarch64');
    });
  }

  it('a list without the platform fails with NOT_FOUND, as skopeo does', async (t) => {
    if (!needTool(t, 'skopeo', 'docker-registry')) return;
    const h = await home(t);
    const ref = `${reg.host}/ns/multi:1`;
    await assert.rejects(
      skopeo(h, ['--override-arch', 's390x', 'inspect', '--raw', '--config', '--tls-verify=false', `docker://${ref}`]),
    );
    await assert.rejects(resolve([ref], { arch: 's390x', tlsVerify: false, env: { HOME: h }, retry: RETRY }), (e) =>
      isOcikitError(e, 'NOT_FOUND'),
    );
  });

  it('a single-arch image for another arch: PLATFORM_MISMATCH, or a warning when allowed', async (t) => {
    if (!needTool(t, 'docker-registry')) return;
    const h = await home(t);
    const ref = `${reg.host}/ns/single:1`;
    const opts = { arch: 'aarch64', tlsVerify: false, env: { HOME: h }, retry: RETRY };
    await assert.rejects(
      resolve([ref], opts),
      (e) =>
        isOcikitError(e, 'PLATFORM_MISMATCH') &&
        e.message ===
          `image ${reg.host}/ns/single@${single.manifestDigest} is for linux/amd64, not the wanted linux/arm64/v8`,
    );
    const r = await resolve([ref], { ...opts, allowPlatformMismatch: true });
    assert.equal(r.specs[0]!.arch, 'x86_64');
    assert.deepEqual(r.warnings, [
      `image ${reg.host}/ns/single@${single.manifestDigest} is for linux/amd64, not the wanted linux/arm64/v8`,
    ]);
  });

  it('a digest in the reference is verified', async (t) => {
    if (!needTool(t, 'docker-registry')) return;
    const h = await home(t);
    const wrong = `sha256:${'0'.repeat(64)}`;
    await assert.rejects(
      resolve([`${reg.host}/ns/single@${wrong}`], { arch: 'x86_64', tlsVerify: false, env: { HOME: h }, retry: RETRY }),
      (e) => isOcikitError(e, 'NOT_FOUND'),
    );
    const r = await resolve([`${reg.host}/ns/multi:1@${listDigest}`], {
      arch: 'x86_64',
      tlsVerify: false,
      env: { HOME: h },
      retry: RETRY,
    });
    assert.equal(r.specs[0]!.name, `${reg.host}/ns/multi:1`);
    assert.equal(r.specs[0]!.digest, amd.manifestDigest);
  });

  it('ocikit resolve --json: its sources fetch those images with ocikit fetch; --lock-out writes the lock', async (t) => {
    if (!needTool(t, 'docker-registry')) return;
    const h = await home(t);
    const dir = await tempDir(t);
    const lock = join(dir, 'ocikit.lock.json');
    const r = await runNode(
      [
        BIN,
        'resolve',
        `${reg.host}/ns/single:1`,
        `${reg.host}/ns/multi:1`,
        '--arch',
        'arm64',
        '--tls-verify=false',
        '--allow-platform-mismatch',
        '--json',
        '--lock-out',
        lock,
      ],
      { env: { HOME: h } },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stderr,
      /^ocikit: warning: image .*ns\/single@sha256:[0-9a-f]{64} is for linux\/amd64, not the wanted linux\/arm64\n$/,
    );
    const out = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(out), ['arch', 'specs', 'sources', 'inputs']);
    assert.deepEqual(Object.keys(out.specs[0]), [
      'ref',
      'source',
      'name',
      'digest',
      'imageId',
      'listDigest',
      'platform',
      'arch',
      'tlsVerify',
      'localStorage',
    ]);
    assert.deepEqual(Object.keys(out.sources), ['org.osbuild.skopeo', 'org.osbuild.skopeo-index']);
    assert.deepEqual(out.inputs[0]['manifest-lists'].references, [listDigest]);
    const saved = JSON.parse(await readFile(lock, 'utf8'));
    assert.equal(saved.version, 1);
    assert.deepEqual(saved.specs, out.specs);
    await writeFile(join(dir, 'sources.json'), JSON.stringify(out.sources));
    const f = await runNode(
      [BIN, 'fetch', '--sources', join(dir, 'sources.json'), '--cache', join(dir, 'cache'), '--json'],
      {
        env: { HOME: h },
      },
    );
    assert.equal(f.status, 0, f.stderr);
    assert.deepEqual(
      JSON.parse(f.stdout)
        .map((i: { id: string; status: string }) => [i.id, i.status])
        .sort(),
      [
        [single.configDigest, 'fetched'],
        [arm.configDigest, 'fetched'],
        [listDigest, 'fetched'],
      ].sort(),
    );
    assert.deepEqual(
      (await readdir(join(dir, 'cache', 'org.osbuild.containers'))).sort(),
      [single.configDigest, arm.configDigest].sort(),
    );
    // ... and its inputs, in the manifest form, install from that cache (the runtime form is made
    // pointing into it); podman sees both images, the arm64 instance with its list digest.
    if (!needTool(t, 'skopeo', 'podman')) return;
    await writeFile(join(dir, 'inputs.json'), JSON.stringify(out.inputs));
    await writeFile(
      join(dir, 'options.json'),
      JSON.stringify({ destination: { type: 'containers-storage', 'storage-driver': 'vfs' } }),
    );
    const tree = join(dir, 'tree');
    await mkdir(tree);
    const installArgs = ['install', '--inputs', join(dir, 'inputs.json'), '--options', join(dir, 'options.json')];
    installArgs.push('--tree', tree, '--runroot', join(dir, 'run'));
    const noCache = await runNode([BIN, ...installArgs], { env: { HOME: h } });
    assert.equal(noCache.status, 2);
    assert.match(noCache.stderr, /^ocikit: install: manifest-form inputs .* need --cache/);
    const ins = await runNode([BIN, ...installArgs, '--cache', join(dir, 'cache'), '--json'], { env: { HOME: h } });
    assert.equal(ins.status, 0, ins.stderr);
    const podman = ['podman', '--root', join(tree, 'var/lib/containers/storage'), '--runroot', join(dir, 'run')];
    const names = out.specs.map((s: { name: string }) => s.name);
    const seen = JSON.parse(
      (await runTool([...podman, '--storage-driver', 'vfs', 'image', 'inspect', ...names])).stdout.toString(),
    ) as { Id: string; Architecture: string; RepoDigests: string[] }[];
    assert.deepEqual(
      seen.map((i) => [`sha256:${i.Id}`, i.Architecture]),
      [
        [single.configDigest, 'amd64'],
        [arm.configDigest, 'arm64'],
      ],
    );
    assert.ok(
      seen[1]!.RepoDigests.some((d) => d.endsWith(`@${listDigest}`)),
      String(seen[1]!.RepoDigests),
    );
    const text = await runNode([BIN, 'resolve', `${reg.host}/ns/multi:1`, '--arch', 'aarch64', '--tls-verify=false'], {
      env: { HOME: h },
    });
    assert.equal(text.status, 0, text.stderr);
    assert.match(
      text.stdout,
      new RegExp(`^${reg.host}/ns/multi:1  \\(linux/arm64/v8\\)\n  source     ${reg.host}/ns/multi\n`),
    );
    assert.match(text.stdout, new RegExp(`  list       ${listDigest}\n  platform   linux/arm64/v8 \\(aarch64\\)\n$`));
  });

  it('a registries.conf mirror serves the tag lookup, for skopeo and for ocikit', async (t) => {
    if (!needTool(t, 'skopeo', 'docker-registry')) return;
    const h = await home(
      t,
      `[[registry]]\nlocation = "primary.invalid"\n[[registry.mirror]]\nlocation = "${reg.host}"\ninsecure = true\n`,
    );
    const ref = 'primary.invalid/ns/single:1';
    const raw = await skopeo(h, ['inspect', '--raw', `docker://${ref}`]);
    const r = await resolve([ref], { arch: 'x86_64', env: { HOME: h }, retry: RETRY });
    assert.equal(r.specs[0]!.digest, sha(raw));
    assert.equal(r.specs[0]!.source, 'primary.invalid/ns/single');
    assert.equal(r.specs[0]!.imageId, single.configDigest);
  });

  it('--short-names registries-conf: the search registries are tried in order (permissive)', async (t) => {
    if (!needTool(t, 'docker-registry')) return;
    const h = await home(
      t,
      `unqualified-search-registries = ["${reg.host}"]\nshort-name-mode = "enforcing"\n[[registry]]\nlocation = "${reg.host}"\ninsecure = true\n`,
    );
    const r = await resolve(['ns/single:1'], {
      arch: 'x86_64',
      shortNames: 'registries-conf',
      env: { HOME: h },
      retry: RETRY,
    });
    assert.equal(r.specs[0]!.source, `${reg.host}/ns/single`);
    assert.equal(r.specs[0]!.name, `${reg.host}/ns/single:1`);
  });
});
