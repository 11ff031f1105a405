/**
 * `ocikit embed` end to end against one real registry on loopback (docker-registry 2.8, images and
 * a list pushed by skopeo), into vfs stores read back by podman: names, architectures and list
 * digests; the lock and `--frozen` with the registry stopped; `--dry-run`; failures leaving the
 * tree as it was and the cache sound; `--dest oci`; `--bound-images` of a fixture tree.
 */
import * as assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it, type TestContext } from 'node:test';
import { runTool } from '../../src/internal/exec.js';
import { type GeneratedImage, makeDirImage } from '../helpers/images.js';
import { listTree } from '../helpers/install-env.js';
import { runNode } from '../helpers/process.js';
import { pushDir, pushTwoPlatformList, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';
import { haveTool, needTool } from '../helpers/tools.js';

const BIN = fileURLToPath(new URL('../../../bin/ocikit', import.meta.url));
const STORE = 'var/lib/containers/storage';

describe('ocikit embed against a registry', { skip: !haveTool('docker-registry') && !process.env.CI }, () => {
  let reg: TestRegistry;
  let work: string;
  let home: string;
  let amd: GeneratedImage;
  let arm: GeneratedImage;
  let armOnly: GeneratedImage;
  let single: GeneratedImage;
  let third: GeneratedImage;
  let listDigest: string;
  /** The cache and lock of the first embed, used again by the frozen run at the end. */
  let cache: string;
  let lock: string;
  const runroots = new Map<string, string>();

  before(async () => {
    if (!haveTool('docker-registry') || !haveTool('skopeo')) return;
    reg = await startRegistry();
    work = await mkdtemp('/tmp/ocikit-embed-');
    home = join(work, 'home');
    await mkdir(join(home, '.config/containers'), { recursive: true });
    await writeFile(join(home, '.config/containers/policy.json'), '{"default":[{"type":"insecureAcceptAnything"}]}');
    await writeFile(join(home, '.config/containers/registries.conf'), '');
    ({ amd, arm, listDigest } = await pushTwoPlatformList(work, reg.host, 'ns/multi:1'));
    armOnly = await makeDirImage(join(work, 'armonly'), { platform: { architecture: 'arm64', os: 'linux' } });
    await pushDir(armOnly.dir, reg.host, 'ns/armonly:1');
    single = await makeDirImage(join(work, 'single'), { flavour: 'docker' });
    await pushDir(single.dir, reg.host, 'ns/single:1');
    third = await makeDirImage(join(work, 'third'));
    await pushDir(third.dir, reg.host, 'ns/third:1');
    cache = join(work, 'cache');
    lock = join(work, 'ocikit.lock.json');
  });
  after(async () => {
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const ocikit = (args: string[]) => runNode([BIN, 'embed', ...args], { env: { HOME: home } });
  async function tree(t: TestContext): Promise<string> {
    return tempDir(t, 'ocikit-embed-tree-');
  }
  async function podman(root: string, ...args: string[]): Promise<unknown> {
    // podman refuses a run root longer than 50 characters, and remembers a store's run root.
    const runroot = runroots.get(root) ?? join(work, `pr${runroots.size}`);
    runroots.set(root, runroot);
    const r = await runTool(['podman', '--root', root, '--runroot', runroot, '--storage-driver', 'vfs', ...args]);
    return JSON.parse(r.stdout.toString('utf8'));
  }
  /** The first embed and the frozen one at the end: two images for aarch64 into a vfs store, with the lock. */
  const lockedRun = (tr: string) => [
    ...['--tree', tr, `${reg.host}/ns/multi:1`, `${reg.host}/ns/armonly:1`, '--arch', 'aarch64'],
    ...['--storage-driver', 'vfs', '--cache', cache, '--lock', lock, '--json'],
  ];
  /** The names of the cache's two folders and what else is in it (no staging left). */
  async function cacheEntries(dir: string): Promise<string[]> {
    return (await readdir(dir)).sort();
  }

  it('embeds a list instance and a single-arch image for aarch64 into a vfs store: podman shows name, arch, list digest; the lock is written', async (t) => {
    if (!needTool(t, 'skopeo', 'podman', 'docker-registry')) return;
    const tr = await tree(t);
    const r = await ocikit([...lockedRun(tr), '--tls-verify=false']);
    assert.equal(r.status, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.arch, 'aarch64');
    assert.deepEqual(
      s.images.map((i: { name: string; imageId: string; listDigest: string | null; locked: boolean }) => [
        i.name,
        i.imageId,
        i.listDigest,
        i.locked,
      ]),
      [
        [`${reg.host}/ns/multi:1`, arm.configDigest, listDigest, false],
        [`${reg.host}/ns/armonly:1`, armOnly.configDigest, null, false],
      ],
    );
    const root = join(tr, STORE);
    const multi = ((await podman(root, 'image', 'inspect', `${reg.host}/ns/multi:1`)) as Record<string, unknown>[])[0]!;
    assert.equal(multi.Id, arm.configDigest.slice(7));
    assert.equal(multi.Architecture, 'arm64');
    assert.ok(
      (multi.RepoDigests as string[]).includes(`${reg.host}/ns/multi@${listDigest}`),
      String(multi.RepoDigests),
    );
    const only = (
      (await podman(root, 'image', 'inspect', `${reg.host}/ns/armonly:1`)) as Record<string, unknown>[]
    )[0]!;
    assert.equal(only.Architecture, 'arm64');
    const images = (await podman(root, 'images', '--digests', '--format', 'json')) as { Names: string[] }[];
    assert.deepEqual(images.flatMap((i) => i.Names).sort(), [`${reg.host}/ns/armonly:1`, `${reg.host}/ns/multi:1`]);
    const saved = JSON.parse(await readFile(lock, 'utf8'));
    assert.equal(saved.version, 1);
    assert.equal(saved.arch, 'aarch64');
    assert.deepEqual(
      saved.specs.map((x: { ref: string }) => x.ref),
      [`${reg.host}/ns/multi:1`, `${reg.host}/ns/armonly:1`],
    );
    assert.deepEqual(await cacheEntries(cache), ['org.osbuild.containers', 'org.osbuild.files']);
  });

  it('--dry-run resolves and prints the plan, and writes nothing: no cache, no tree change, no lock', async (t) => {
    if (!needTool(t, 'docker-registry')) return;
    const tr = await tree(t);
    const dir = await tempDir(t);
    const r = await ocikit([
      '--tree',
      tr,
      `${reg.host}/ns/single:1`,
      '--arch',
      'x86_64',
      '--cache',
      join(dir, 'cache'),
      '--lock',
      join(dir, 'lock.json'),
      '--tls-verify=false',
      '--dry-run',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /^Would embed 1 image \(x86_64\) into containers-storage at \/var\/lib\/containers\/storage/,
    );
    assert.match(r.stdout, new RegExp(`image ID   ${single.configDigest}\n`));
    assert.match(r.stdout, /cache {6}to fetch\n/);
    assert.deepEqual(await readdir(tr), []);
    assert.deepEqual(await readdir(dir), []);
  });

  it('--frozen with an entry missing from the lock is refused before any network, and nothing is written', async (t) => {
    if (!needTool(t, 'docker-registry')) return;
    const tr = await tree(t);
    const before = await listTree(cache);
    // 127.0.0.1:9 (discard) is never contacted: the refusal comes from the lock, not a connection.
    const r = await ocikit([
      '--tree',
      tr,
      `${reg.host}/ns/multi:1`,
      '127.0.0.1:9/ns/absent:1',
      '--arch',
      'aarch64',
      '--cache',
      cache,
      '--lock',
      lock,
      '--frozen',
      '--storage-driver',
      'vfs',
    ]);
    assert.equal(r.status, 1);
    assert.equal(
      r.stderr,
      `ocikit: lock file ${lock} has no spec for "127.0.0.1:9/ns/absent:1" (--frozen resolves nothing)\n`,
    );
    assert.deepEqual(await readdir(tr), []);
    assert.deepEqual(await listTree(cache), before);
    const arch = await ocikit([
      '--tree',
      tr,
      `${reg.host}/ns/multi:1`,
      '--arch',
      'x86_64',
      '--cache',
      cache,
      '--lock',
      lock,
      '--frozen',
    ]);
    assert.equal(arch.status, 1);
    assert.match(arch.stderr, /was resolved for aarch64, not x86_64 \(--frozen\)/);
  });

  it('a second image that fails to resolve (a missing tag, a platform mismatch) leaves the tree and the cache as they were', async (t) => {
    if (!needTool(t, 'docker-registry')) return;
    const tr = await tree(t);
    const before = await listTree(cache);
    for (const bad of [`${reg.host}/ns/single:nope`, `${reg.host}/ns/single:1`]) {
      const r = await ocikit([
        '--tree',
        tr,
        `${reg.host}/ns/multi:1`,
        bad,
        '--arch',
        'aarch64',
        '--cache',
        cache,
        '--tls-verify=false',
        '--storage-driver',
        'vfs',
      ]);
      assert.equal(r.status, 1);
      assert.match(
        r.stderr,
        bad.endsWith('nope') ? /^ocikit: .*nope/ : /is for linux\/amd64, not the wanted linux\/arm64\/v8/,
      );
      assert.deepEqual(await readdir(tr), []);
      assert.deepEqual(await listTree(cache), before);
    }
  });

  it('an install that fails on its second image (a damaged cache entry) is undone: a new store is removed, an existing one keeps only its own images', async (t) => {
    if (!needTool(t, 'skopeo', 'podman', 'docker-registry')) return;
    const dir = await tempDir(t);
    const c2 = join(dir, 'cache');
    const common = ['--arch', 'x86_64', '--cache', c2, '--tls-verify=false', '--storage-driver', 'vfs'];
    const refs = [`${reg.host}/ns/single:1`, `${reg.host}/ns/multi:1`];
    const seed = await ocikit(['--tree', await tree(t), ...refs, ...common]);
    assert.equal(seed.status, 0, seed.stderr);
    // install copies in manifest-digest order: damage the layer of the image copied second.
    const [, second] = [single, amd].sort((a, b) => (a.manifestDigest < b.manifestDigest ? -1 : 1));
    const blob = join(c2, 'org.osbuild.containers', second!.configDigest, 'image', second!.layers[0]!.digest.slice(7));
    await appendFile(blob, 'x');
    const fresh = await tree(t);
    const r = await ocikit(['--tree', fresh, ...refs, ...common]);
    assert.equal(r.status, 1, r.stdout);
    assert.deepEqual(await readdir(fresh), []);
    const existing = await tree(t);
    const pre = await ocikit(['--tree', existing, `${reg.host}/ns/third:1`, ...common]);
    assert.equal(pre.status, 0, pre.stderr);
    const r2 = await ocikit(['--tree', existing, ...refs, ...common]);
    assert.equal(r2.status, 1);
    const images = (await podman(join(existing, STORE), 'images', '--format', 'json')) as { Id: string }[];
    assert.deepEqual(
      images.map((i) => `sha256:${i.Id}`),
      [third.configDigest],
    );
    assert.ok(!(await readdir(c2)).some((n) => n.startsWith('.tmp-')));
  });

  it('--dest oci writes an OCI layout at --dest-path inside the tree', async (t) => {
    if (!needTool(t, 'docker-registry')) return;
    const tr = await tree(t);
    const r = await ocikit([
      '--tree',
      tr,
      `${reg.host}/ns/single:1`,
      '--arch',
      'amd64',
      '--cache',
      cache,
      '--tls-verify=false',
      '--dest',
      'oci',
      '--dest-path',
      '/usr/share/containers/oci',
      '--json',
    ]);
    assert.equal(r.status, 0, r.stderr);
    const index = JSON.parse(await readFile(join(tr, 'usr/share/containers/oci/index.json'), 'utf8'));
    assert.equal(index.manifests.length, 1);
    assert.equal(
      JSON.parse(r.stdout).images[0].installed.startsWith(`oci:${join(tr, 'usr/share/containers/oci')}:`),
      true,
    );
  });

  it("--bound-images: the tree's bound images (an absolute symlink, a relative one climbing above the root) are embedded; a tag is a warning, a digest is not", async (t) => {
    if (!needTool(t, 'docker-registry')) return;
    const tr = await tree(t);
    const units = join(tr, 'usr/share/containers/systemd');
    await mkdir(units, { recursive: true });
    await mkdir(join(tr, 'usr/lib/bootc/bound-images.d'), { recursive: true });
    await writeFile(
      join(units, 'app.container'),
      `# app\n[Unit]\nDescription=app\n\n[Container]\nImage=${reg.host}/ns/single:1\nExec=sleep 1\n`,
    );
    await writeFile(
      join(units, 'db.image'),
      `[Image]\n; pinned\nImage = ${reg.host}/ns/third@${third.manifestDigest}\n`,
    );
    await symlink(
      '/usr/share/containers/systemd/app.container',
      join(tr, 'usr/lib/bootc/bound-images.d/app.container'),
    );
    await symlink(
      '../../../../../../../../usr/share/containers/systemd/db.image',
      join(tr, 'usr/lib/bootc/bound-images.d/db.image'),
    );
    const r = await ocikit([
      '--tree',
      tr,
      '--bound-images',
      '--arch',
      'x86_64',
      '--cache',
      join(tr, 'no-cache'),
      '--tls-verify=false',
      '--dry-run',
      '--json',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(
      r.stderr,
      `ocikit: warning: bound image ${reg.host}/ns/single:1 (app.container -> /usr/share/containers/systemd/app.container) is not pinned by digest: the tree gets what the tag names today\n`,
    );
    const s = JSON.parse(r.stdout);
    assert.deepEqual(
      s.images.map((i: { ref: string; imageId: string }) => [i.ref, i.imageId]),
      [
        [`${reg.host}/ns/single:1`, single.configDigest],
        [`${reg.host}/ns/third@${third.manifestDigest}`, third.configDigest],
      ],
    );
  });

  it('last: embed --lock --frozen with the registry stopped succeeds from the cache', async (t) => {
    if (!needTool(t, 'skopeo', 'podman', 'docker-registry')) return;
    await reg.pause();
    const tr = await tree(t);
    const r = await ocikit([...lockedRun(tr), '--frozen']);
    assert.equal(r.status, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.deepEqual(
      s.images.map((i: { locked: boolean; cache: string }) => [i.locked, i.cache]),
      [
        [true, 'cached'],
        [true, 'cached'],
      ],
    );
    assert.equal(s.downloadedBytes, 0);
    assert.equal(s.lockWritten, null);
    const multi = (
      (await podman(join(tr, STORE), 'image', 'inspect', `${reg.host}/ns/multi:1`)) as Record<string, unknown>[]
    )[0]!;
    assert.equal(multi.Architecture, 'arm64');
    assert.ok((multi.RepoDigests as string[]).includes(`${reg.host}/ns/multi@${listDigest}`));
  });
});
