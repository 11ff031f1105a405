/**
 * `ocikit embed` of local entries (blueprint `local-storage = true`, `--local`): images of a vfs
 * host store that storage.conf names (`CONTAINERS_STORAGE_CONF`, put there by skopeo), embedded
 * with a remote image from a loopback registry in one run, read back by podman; `--dry-run`'s
 * "host store"; a local image missing from the host store (resolved now, or taken from a lock with
 * `--frozen`) fails before the tree is touched.
 */
import * as assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it, type TestContext } from 'node:test';
import { embed } from '../../src/embed/embed.js';
import { isOcikitError } from '../../src/errors.js';
import { runTool } from '../../src/internal/exec.js';
import { type GeneratedImage, makeDirImage } from '../helpers/images.js';
import { listTree } from '../helpers/install-env.js';
import { runNode } from '../helpers/process.js';
import { pushDir, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';
import { haveTool, needTool } from '../helpers/tools.js';

const BIN = fileURLToPath(new URL('../../../bin/ocikit', import.meta.url));
const STORE = 'var/lib/containers/storage';
const LOCAL = 'localhost/local/img:v1';

describe('ocikit embed of local-storage entries', { skip: !haveTool('docker-registry') && !process.env.CI }, () => {
  let reg: TestRegistry;
  let work: string;
  let home: string;
  let conf: string;
  let hostStore: string;
  let local: GeneratedImage;
  let remote: GeneratedImage;
  let podmanRuns = 0;

  before(async () => {
    if (!haveTool('docker-registry') || !haveTool('skopeo')) return;
    reg = await startRegistry();
    work = await mkdtemp('/tmp/ocikit-embed-local-');
    home = join(work, 'home');
    await mkdir(join(home, '.config/containers'), { recursive: true });
    await writeFile(join(home, '.config/containers/policy.json'), '{"default":[{"type":"insecureAcceptAnything"}]}');
    await writeFile(join(home, '.config/containers/registries.conf'), '');
    hostStore = join(work, 'host');
    conf = join(work, 'storage.conf');
    await writeFile(conf, `[storage]\ndriver = "vfs"\ngraphroot = "${hostStore}"\nrunroot = "${join(work, 'hr')}"\n`);
    local = await makeDirImage(join(work, 'local'));
    await skopeo(['copy', `dir:${local.dir}`, `containers-storage:[vfs@${hostStore}+${join(work, 'hr')}]${LOCAL}`]);
    remote = await makeDirImage(join(work, 'remote'));
    await pushDir(remote.dir, reg.host, 'ns/remote:1');
  });
  after(async () => {
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function skopeo(args: string[]): Promise<void> {
    await runTool(['skopeo', ...args], { env: { PATH: process.env.PATH ?? '', HOME: home } });
  }
  const ocikit = (args: string[]) =>
    runNode([BIN, 'embed', ...args], { env: { HOME: home, CONTAINERS_STORAGE_CONF: conf } });
  async function podmanImages(root: string): Promise<{ Id: string; Names: string[] }[]> {
    // podman refuses a run root longer than 50 characters.
    const runroot = join(work, `pr${podmanRuns++}`);
    const r = await runTool([
      'podman',
      '--root',
      root,
      '--runroot',
      runroot,
      '--storage-driver',
      'vfs',
      'images',
      '--format',
      'json',
    ]);
    return JSON.parse(r.stdout.toString('utf8'));
  }
  /** A blueprint with the local entry and the remote one. */
  async function blueprint(t: TestContext, localRef = LOCAL): Promise<string> {
    const file = join(await tempDir(t), 'blueprint.toml');
    await writeFile(
      file,
      `[[containers]]\nsource = "${localRef}"\nlocal-storage = true\n\n` +
        `[[containers]]\nsource = "${reg.host}/ns/remote:1"\ntls-verify = false\n`,
    );
    return file;
  }

  it('a local image (blueprint local-storage) and a remote one go into a vfs store in one run: podman shows both names and IDs; the local one is not cached', async (t) => {
    if (!needTool(t, 'skopeo', 'podman', 'docker-registry')) return;
    const tr = await tempDir(t, 'ocikit-embed-tree-');
    const cache = await tempDir(t);
    const lock = join(await tempDir(t), 'lock.json');
    const args = ['--tree', tr, '--from', await blueprint(t), '--arch', 'x86_64', '--storage-driver', 'vfs'];
    const r = await ocikit([...args, '--cache', cache, '--lock', lock, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.deepEqual(
      s.images.map((i: { name: string; imageId: string; localStorage: boolean; cache: string }) => [
        i.name,
        i.imageId,
        i.localStorage,
        i.cache,
      ]),
      [
        [LOCAL, local.configDigest, true, 'host store'],
        [`${reg.host}/ns/remote:1`, remote.configDigest, false, 'missing'],
      ],
    );
    assert.ok(s.images.every((i: { installed: string | null }) => i.installed !== null));
    const images = await podmanImages(join(tr, STORE));
    assert.deepEqual(
      images.map((i) => [i.Names, i.Id]).sort(),
      [
        [[LOCAL], local.configDigest.slice(7)],
        [[`${reg.host}/ns/remote:1`], remote.configDigest.slice(7)],
      ].sort(),
    );
    // Nothing of the local image went into the cache: only the remote one.
    assert.deepEqual(
      (await listTree(join(cache, 'org.osbuild.containers'))).filter((p) => !p.includes('/')),
      [remote.configDigest],
    );
    const saved = JSON.parse(await readFile(lock, 'utf8'));
    assert.deepEqual(
      saved.specs.map((x: { ref: string; localStorage: boolean }) => [x.ref, x.localStorage]),
      [
        [LOCAL, true],
        [`${reg.host}/ns/remote:1`, false],
      ],
    );
    // --frozen takes the local spec from the lock as it is; the image must still be in the host
    // store: in a copy of it without the image, NOT_FOUND before the tree is touched.
    const frozenTree = await tempDir(t, 'ocikit-embed-tree-');
    const ok = await ocikit([
      '--tree',
      frozenTree,
      '--from',
      await blueprint(t),
      '--arch',
      'x86_64',
      '--storage-driver',
      'vfs',
      '--cache',
      cache,
      '--lock',
      lock,
      '--frozen',
      '--json',
    ]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.deepEqual(
      JSON.parse(ok.stdout).images.map((i: { locked: boolean }) => i.locked),
      [true, true],
    );
    const empty = join(await tempDir(t), 'storage.conf');
    await writeFile(
      empty,
      `[storage]\ndriver = "vfs"\ngraphroot = "${join(work, 'empty')}"\nrunroot = "${join(work, 'er')}"\n`,
    );
    const gone = await tempDir(t, 'ocikit-embed-tree-');
    const before = await listTree(gone);
    const r2 = await runNode(
      [
        BIN,
        'embed',
        ...['--tree', gone, '--from', await blueprint(t), '--arch', 'x86_64'],
        ...['--cache', cache, '--lock', lock, '--frozen'],
      ],
      { env: { HOME: home, CONTAINERS_STORAGE_CONF: empty } },
    );
    assert.equal(r2.status, 1);
    assert.equal(
      r2.stderr,
      `ocikit: image ${local.configDigest} does not exist in local container storage ${join(work, 'empty')}\n`,
    );
    assert.deepEqual(await listTree(gone), before);
    await assert.rejects(
      embed({
        tree: gone,
        from: await blueprint(t),
        arch: 'x86_64',
        cache,
        lock,
        frozen: true,
        host: { env: { HOME: home, PATH: process.env.PATH ?? '', CONTAINERS_STORAGE_CONF: empty } },
      }),
      (e: unknown) => isOcikitError(e, 'NOT_FOUND'),
    );
    assert.deepEqual(await listTree(gone), before);
  });

  it('--dry-run shows the local image with cache "host store"; --local makes a plain REF local', async (t) => {
    if (!needTool(t, 'skopeo', 'docker-registry')) return;
    const tr = await tempDir(t, 'ocikit-embed-tree-');
    const r = await ocikit([
      '--tree',
      tr,
      LOCAL,
      '--local',
      '--arch',
      'x86_64',
      '--cache',
      await tempDir(t),
      '--dry-run',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      new RegExp(`^  ${LOCAL}\\n    image ID   ${local.configDigest}\\n(?:.*\\n)*?    cache      host store$`, 'm'),
    );
    assert.deepEqual(await listTree(tr), []);
  });

  it('a local entry missing from the host store is a clear error naming it, and the tree is unchanged', async (t) => {
    if (!needTool(t, 'skopeo', 'docker-registry')) return;
    const tr = await tempDir(t, 'ocikit-embed-tree-');
    await mkdir(join(tr, 'etc'));
    const before = await listTree(tr);
    const r = await ocikit([
      ...['--tree', tr, '--from', await blueprint(t, 'localhost/local/missing:v1'), '--arch', 'x86_64'],
      ...['--storage-driver', 'vfs', '--cache', await tempDir(t)],
    ]);
    assert.equal(r.status, 1);
    assert.equal(
      r.stderr,
      `ocikit: local image localhost/local/missing:v1 does not exist in local container storage ${hostStore} (${conf})\n`,
    );
    assert.deepEqual(await listTree(tr), before);
    await assert.rejects(
      embed({
        tree: tr,
        entries: [{ ref: 'localhost/local/missing:v1', local: true }, `${reg.host}/ns/remote:1`],
        arch: 'x86_64',
        tlsVerify: false,
        cache: await tempDir(t),
        host: { env: { HOME: home, PATH: process.env.PATH ?? '', CONTAINERS_STORAGE_CONF: conf } },
      }),
      (e: unknown) => isOcikitError(e, 'NOT_FOUND'),
    );
    assert.deepEqual(await listTree(tr), before);
  });
});
