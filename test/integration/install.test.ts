/**
 * install(): end to end with real skopeo and podman (vfs driver, a temporary store and run root
 * per test), and the native destinations read back and copied on by skopeo. Hostile inputs and
 * options must fail with nothing left at the destination and no temporary file left behind.
 */
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  copyFile,
  mkdir,
  readFile,
  readdir,
  rename,
  stat,
  symlink,
  truncate,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import tar from 'tar-stream';
import { isOcikitError } from '../../src/errors.js';
import { install, type InstallProgress, type InstallRequest } from '../../src/install/install.js';
import { runTool } from '../../src/internal/exec.js';
import { UPSTREAM } from '../helpers/fixtures.js';
import { buildImage, type GeneratedImage, makeDirImage, makeList } from '../helpers/images.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const SIGNATURE = join(UPSTREAM, 'containers-image', 'signature', 'fixtures', 'dir-img-valid', 'signature-1');

interface Env {
  readonly root: string;
  readonly tree: string;
  readonly runroot: string;
  readonly tmpdir: string;
  readonly images: string;
  readonly lists: string;
}

async function env(t: TestContext): Promise<Env> {
  const root = await tempDir(t);
  const e = {
    root,
    tree: join(root, 'tree'),
    runroot: join(root, 'run'),
    tmpdir: join(root, 'tmp'),
    images: join(root, 'in', 'images'),
    lists: join(root, 'in', 'lists'),
  };
  for (const d of [e.tree, e.tmpdir, e.images, e.lists]) await mkdir(d, { recursive: true });
  return e;
}

/** Writes a generated dir image under `images/<image id>` (the osbuild key) and returns it. */
async function addDirImage(e: Env, opts: Parameters<typeof makeDirImage>[1] = {}): Promise<GeneratedImage> {
  const tmp = join(e.root, `gen-${Math.random().toString(36).slice(2)}`);
  const img = await makeDirImage(tmp, opts);
  const dir = join(e.images, img.configDigest);
  await rename(tmp, dir);
  return { ...img, dir };
}

async function addList(e: Env, images: Parameters<typeof makeList>[0]): Promise<string> {
  const list = makeList(images);
  await writeFile(join(e.lists, list.digest), list.bytes);
  return list.digest;
}

function inputs(e: Env, archives: Record<string, { format: string; name: string }>): unknown {
  return { images: { path: e.images, data: { archives } } };
}

async function listInputs(e: Env): Promise<unknown> {
  const files = Object.fromEntries((await readdir(e.lists)).map((f) => [f, {}]));
  return { path: e.lists, data: { files } };
}

function storageOptions(extra: Record<string, unknown> = {}) {
  return { destination: { type: 'containers-storage', 'storage-driver': 'vfs' }, ...extra };
}

function req(e: Env, inputs: unknown, options: unknown, more: Partial<InstallRequest> = {}): InstallRequest {
  return { inputs, options, tree: e.tree, runroot: e.runroot, tmpdir: e.tmpdir, ...more };
}

const store = (e: Env) => join(e.tree, 'var/lib/containers/storage');

async function podmanInspect(e: Env, name: string): Promise<Record<string, unknown>> {
  const r = await runTool([
    'podman',
    '--root',
    store(e),
    '--runroot',
    e.runroot,
    '--storage-driver',
    'vfs',
    'image',
    'inspect',
    name,
  ]);
  const arr = JSON.parse(r.stdout.toString('utf8')) as Record<string, unknown>[];
  assert.equal(arr.length, 1);
  return arr[0]!;
}

/** Everything below `dir`, as sorted relative paths. */
async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string) => {
    for (const ent of await readdir(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${ent.name}` : ent.name;
      out.push(r);
      if (ent.isDirectory()) await walk(join(d, ent.name), r);
    }
  };
  await walk(dir, '');
  return out.sort();
}

async function assertCode(p: Promise<unknown>, code: string): Promise<Error> {
  try {
    await p;
  } catch (err) {
    assert.ok(isOcikitError(err), `expected an OcikitError ${code}, got ${String(err)}`);
    assert.equal((err as { code: string }).code, code, (err as Error).message);
    return err as Error;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

/** Asserts nothing was left: an empty tree and an empty temp dir. */
async function assertNothingLeft(e: Env): Promise<void> {
  assert.deepEqual(await listTree(e.tree), [], 'the tree must be left empty');
  assert.deepEqual(await readdir(e.tmpdir), [], 'no temporary file may remain');
}

/** Flips one byte near the end of `file` (same size, wrong content). */
async function flipByte(file: string): Promise<void> {
  const b = await readFile(file);
  const i = b.length - 10;
  b.writeUInt8(b.readUInt8(i) ^ 0xff, i);
  await writeFile(file, b);
}

/** Packs `entries` (name → content) into a tar file. */
async function writeTar(file: string, entries: [string, Buffer | string][]): Promise<void> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((res, rej) => {
    pack.on('end', res);
    pack.on('error', rej);
  });
  for (const [name, content] of entries) {
    const body = typeof content === 'string' ? Buffer.from(content) : content;
    await new Promise<void>((res, rej) =>
      pack.entry({ name, size: body.length, mode: 0o644, mtime: new Date(0) }, body, (err) => (err ? rej(err) : res())),
    );
  }
  pack.finalize();
  await done;
  await writeFile(file, Buffer.concat(chunks));
}

describe('install into containers-storage', () => {
  it('installs dir images under their names, with image ID and manifest digest as podman sees them', async (t) => {
    if (!needTool(t, 'skopeo', 'podman')) return;
    const e = await env(t);
    const a = await addDirImage(e, { flavour: 'oci' });
    const b = await addDirImage(e, { flavour: 'docker', layers: 2 });
    const events: InstallProgress[] = [];
    const summary = await install(
      req(
        e,
        inputs(e, {
          [a.configDigest]: { format: 'dir', name: 'localhost/a:latest' },
          [b.configDigest]: { format: 'dir', name: 'localhost/b:v1' },
        }),
        storageOptions(),
        { onProgress: (p) => events.push(p) },
      ),
    );
    assert.equal(summary.destination.type, 'containers-storage');
    assert.equal(summary.destination.location, store(e));
    assert.deepEqual(
      summary.images.map((i) => [i.name, i.imageId, i.manifestDigest, i.listDigest]),
      [
        ['localhost/a:latest', a.configDigest, a.manifestDigest, null],
        ['localhost/b:v1', b.configDigest, b.manifestDigest, null],
      ],
    );
    assert.equal(summary.images[0]!.destination, `containers-storage:[vfs@${store(e)}+${e.runroot}]localhost/a:latest`);
    for (const [img, name] of [
      [a, 'localhost/a:latest'],
      [b, 'localhost/b:v1'],
    ] as const) {
      const info = await podmanInspect(e, name);
      assert.equal(`sha256:${info.Id as string}`, img.configDigest);
      assert.deepEqual(info.RepoTags, [name]);
      assert.ok((info.RepoDigests as string[]).includes(`${name.split(':')[0]}@${img.manifestDigest}`));
    }
    assert.deepEqual(
      events.filter((p) => p.phase !== 'progress').map((p) => `${p.index}/${p.count} ${p.phase}`),
      ['0/2 start', '0/2 done', '1/2 start', '1/2 done'],
    );
    // skopeo's step report (stdout) reaches the progress status.
    assert.ok(
      events.some((p) => p.phase === 'progress' && /Copying (blob|config)|Writing manifest/.test(p.status ?? '')),
      JSON.stringify(events),
    );
    assert.deepEqual(await readdir(e.tmpdir), []);
  });

  it('keeps the list digest of an image that came with a manifest list (RepoDigests)', async (t) => {
    if (!needTool(t, 'skopeo', 'podman')) return;
    const e = await env(t);
    const img = await addDirImage(e, { platform: { architecture: 'amd64', os: 'linux' } });
    const other = await buildImage({ platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } });
    const listDigest = await addList(e, [img, other]);
    const inp = {
      ...(inputs(e, { [img.configDigest]: { format: 'dir', name: 'localhost/listed:latest' } }) as object),
      'manifest-lists': await listInputs(e),
    };
    const summary = await install(req(e, inp, storageOptions()));
    assert.equal(summary.images[0]!.listDigest, listDigest);
    assert.equal(summary.images[0]!.manifestDigest, img.manifestDigest);
    const info = await podmanInspect(e, 'localhost/listed:latest');
    assert.ok(
      (info.RepoDigests as string[]).includes(`localhost/listed@${listDigest}`),
      JSON.stringify(info.RepoDigests),
    );
    assert.equal(`sha256:${info.Id as string}`, img.configDigest);
  });

  it('installs a foreign-architecture (arm64) image given with its list on this host', async (t) => {
    if (!needTool(t, 'skopeo', 'podman')) return;
    const e = await env(t);
    const arm = await addDirImage(e, { platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } });
    const amd = await buildImage({ platform: { architecture: 'amd64', os: 'linux' } });
    const listDigest = await addList(e, [amd, arm]);
    const inp = {
      ...(inputs(e, { [arm.configDigest]: { format: 'dir', name: 'localhost/arm:latest' } }) as object),
      'manifest-lists': await listInputs(e),
    };
    const summary = await install(req(e, inp, storageOptions()));
    assert.deepEqual(
      { ...summary.images[0]! },
      {
        name: 'localhost/arm:latest',
        imageId: arm.configDigest,
        manifestDigest: arm.manifestDigest,
        listDigest,
        destination: `containers-storage:[vfs@${store(e)}+${e.runroot}]localhost/arm:latest`,
      },
    );
    const info = await podmanInspect(e, 'localhost/arm:latest');
    assert.equal(info.Architecture, 'arm64');
    assert.equal(`sha256:${info.Id as string}`, arm.configDigest);
    assert.ok((info.RepoDigests as string[]).includes(`localhost/arm@${listDigest}`));
  });

  it('reports the ID containers-storage gives a Docker schema 1 image (no config blob)', async (t) => {
    if (!needTool(t, 'skopeo', 'podman')) return;
    const e = await env(t);
    const key = `sha256:${'5'.repeat(64)}`;
    const src = join(UPSTREAM, 'skopeo', 'integration', 'fixtures', 'uncompressed-image-s1');
    await mkdir(join(e.images, key));
    for (const f of await readdir(src)) await copyFile(join(src, f), join(e.images, key, f));
    const summary = await install(
      req(e, inputs(e, { [key]: { format: 'dir', name: 'localhost/s1:v1' } }), storageOptions()),
    );
    const info = await podmanInspect(e, 'localhost/s1:v1');
    assert.equal(summary.images[0]!.imageId, `sha256:${info.Id as string}`);
    assert.equal(
      summary.images[0]!.manifestDigest,
      'sha256:3b93a98785ed46f9fa9fefd53127c3fa91e1d0314f90c00d8fb9b8d7448ec1ad',
    );
    assert.equal(info.Digest, summary.images[0]!.manifestDigest);
  });

  it('installs an oci-archive input, reporting its image ID and manifest digest', async (t) => {
    if (!needTool(t, 'skopeo', 'podman')) return;
    const e = await env(t);
    const src = await makeDirImage(join(e.root, 'src'), { flavour: 'oci' });
    await runTool(['skopeo', 'copy', '-q', `dir:${src.dir}`, `oci-archive:${join(e.images, 'app.tar')}:app`]);
    const summary = await install(
      req(e, inputs(e, { 'app.tar': { format: 'oci-archive', name: 'localhost/app:1' } }), storageOptions()),
    );
    assert.equal(summary.images[0]!.imageId, src.configDigest);
    assert.equal(summary.images[0]!.manifestDigest, src.manifestDigest);
    const info = await podmanInspect(e, 'localhost/app:1');
    assert.equal(`sha256:${info.Id as string}`, src.configDigest);
    assert.deepEqual(await readdir(e.tmpdir), []);
  });

  it('hands skopeo the layout it extracted and verified (oci:), not the archive again', async (t) => {
    if (!needTool(t, 'skopeo', 'podman')) return;
    const e = await env(t);
    const src = await makeDirImage(join(e.root, 'src'), { flavour: 'oci' });
    await runTool(['skopeo', 'copy', '-q', `dir:${src.dir}`, `oci-archive:${join(e.images, 'app.tar')}:app`]);
    // A skopeo that logs its arguments, given through the request (not the environment).
    const log = join(e.root, 'skopeo.log');
    const wrapper = join(e.root, 'skopeo-logging');
    await writeFile(wrapper, `#!/bin/sh\necho "$@" >> '${log}'\nexec skopeo "$@"\n`, { mode: 0o755 });
    const summary = await install(
      req(e, inputs(e, { 'app.tar': { format: 'oci-archive', name: 'localhost/app:1' } }), storageOptions(), {
        skopeo: { binary: wrapper },
      }),
    );
    const calls = (await readFile(log, 'utf8')).trim().split('\n');
    assert.equal(calls.length, 1, calls.join('\n'));
    assert.match(calls[0]!, new RegExp(`^copy oci:${e.tmpdir}/ocikit-oci-archive-[^ :]+ containers-storage:`));
    assert.equal(summary.images[0]!.manifestDigest, src.manifestDigest);
    const info = await podmanInspect(e, 'localhost/app:1');
    assert.equal(`sha256:${info.Id as string}`, src.configDigest);
    assert.equal(info.Digest, src.manifestDigest);
    assert.deepEqual(await readdir(e.tmpdir), []);
  });

  it('keeps signatures unless remove-signatures is set', async (t) => {
    if (!needTool(t, 'skopeo', 'podman')) return;
    // The upstream signature fixtures are manifests + signatures without blobs; sign a real image
    // by adding the fixture's signature-1 file. skopeo 1.9.3 stores the signature in
    // containers-storage without complaint, and then refuses to copy the image out again
    // ("Would invalidate signatures": storage layers are uncompressed) unless told to drop them.
    for (const removeSignatures of [false, true]) {
      const e = await env(t);
      const img = await addDirImage(e);
      await copyFile(SIGNATURE, join(img.dir, 'signature-1'));
      const summary = await install(
        req(
          e,
          inputs(e, { [img.configDigest]: { format: 'dir', name: 'localhost/signed:latest' } }),
          storageOptions({ 'remove-signatures': removeSignatures }),
        ),
      );
      assert.equal(summary.removeSignatures, removeSignatures);
      const ref = summary.images[0]!.destination;
      const out = await runTool(['skopeo', 'copy', '-q', ref, `dir:${join(e.root, 'out')}`], { allowFailure: true });
      if (removeSignatures) {
        assert.equal(out.exitCode, 0, out.stderr);
      } else {
        assert.notEqual(out.exitCode, 0);
        assert.match(out.stderr, /invalidate signatures/);
      }
    }
  });

  it('unmounts overlay and removes backingFsBlockDev after an overlay install', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const e = await env(t);
    const img = await addDirImage(e);
    // Plant the block-device marker overlay creates on xfs (a regular file stands in for it).
    await mkdir(join(store(e), 'overlay'), { recursive: true });
    await writeFile(join(store(e), 'overlay', 'backingFsBlockDev'), '');
    await install(
      req(e, inputs(e, { [img.configDigest]: { format: 'dir', name: 'localhost/ov:latest' } }), {
        destination: { type: 'containers-storage' },
      }),
    );
    await assert.rejects(stat(join(store(e), 'overlay', 'backingFsBlockDev')), { code: 'ENOENT' });
    const mounts = await readFile('/proc/self/mountinfo', 'utf8');
    assert.ok(!mounts.includes(e.tree), 'nothing may stay mounted inside the tree');
    const images = JSON.parse(await readFile(join(store(e), 'overlay-images', 'images.json'), 'utf8')) as {
      id: string;
      names: string[];
    }[];
    assert.deepEqual(
      images.map((i) => [`sha256:${i.id}`, i.names]),
      [[img.configDigest, ['localhost/ov:latest']]],
    );
  });

  it('removes a store it created when skopeo fails (a blob with the wrong content)', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const e = await env(t);
    const img = await addDirImage(e, { layerSize: 4096 });
    const layer = join(img.dir, img.layers[0]!.digest.slice(7));
    await flipByte(layer);
    await assertCode(
      install(
        req(e, inputs(e, { [img.configDigest]: { format: 'dir', name: 'localhost/bad:latest' } }), storageOptions()),
      ),
      'TOOL_FAILED',
    );
    await assertNothingLeft(e);
  });
});

describe('install from a containers-storage input', () => {
  for (const type of ['containers-storage', 'oci'] as const) {
    it(`copies an image of a host store (vfs) into ${type}`, async (t) => {
      if (!needTool(t, 'skopeo', 'podman')) return;
      const e = await env(t);
      const src = await makeDirImage(join(e.root, 'src'));
      const hostStore = join(e.images, 'storage');
      await runTool([
        'skopeo',
        'copy',
        '-q',
        `dir:${src.dir}`,
        `containers-storage:[vfs@${hostStore}+${join(e.root, 'hostrun')}]localhost/host:latest`,
      ]);
      const inp = {
        images: {
          path: e.images,
          data: {
            archives: {
              [src.configDigest]: {
                format: 'containers-storage',
                name: 'localhost/copied:latest',
                storage: { driver: 'vfs' },
              },
            },
          },
        },
      };
      const options = type === 'oci' ? { destination: { type, path: '/oci' } } : storageOptions();
      const summary = await install(req(e, inp, options));
      const im = summary.images[0]!;
      assert.equal(im.imageId, src.configDigest);
      assert.equal(im.name, 'localhost/copied:latest');
      const raw = (await runTool(['skopeo', 'inspect', '--raw', im.destination])).stdout;
      assert.equal(sha(raw), im.manifestDigest);
      const config = (await runTool(['skopeo', 'inspect', '--raw', '--config', im.destination])).stdout;
      assert.equal(sha(config), src.configDigest);
      assert.deepEqual(await readdir(e.tmpdir), []);
    });
  }
});

describe('install into native destinations', () => {
  const types = ['oci', 'oci-archive', 'dir'] as const;
  for (const type of types) {
    it(`writes ${type} that skopeo inspects and copies on`, async (t) => {
      if (!needTool(t, 'skopeo')) return;
      const e = await env(t);
      const a = await addDirImage(e, { flavour: 'oci' });
      const b = await addDirImage(e, { flavour: 'docker' });
      const archives: Record<string, { format: string; name: string }> = {
        [a.configDigest]: { format: 'dir', name: 'localhost/a:latest' },
      };
      if (type !== 'dir') archives[b.configDigest] = { format: 'dir', name: 'localhost/b:latest' };
      const path = type === 'oci-archive' ? '/usr/share/images/all.tar' : `/usr/share/images/${type}`;
      const summary = await install(req(e, inputs(e, archives), { destination: { type, path } }));
      const location = join(e.tree, path);
      assert.equal(summary.destination.location, location);
      assert.equal(summary.images.length, Object.keys(archives).length);
      for (const [i, im] of summary.images.entries()) {
        const expected = type === 'dir' ? `dir:${location}` : `${type}:${location}:${im.name}`;
        assert.equal(im.destination, expected);
        assert.equal(im.listDigest, null);
        const raw = (await runTool(['skopeo', 'inspect', '--raw', im.destination])).stdout;
        assert.equal(sha(raw), im.manifestDigest, `manifest of ${im.name}`);
        const config = (await runTool(['skopeo', 'inspect', '--raw', '--config', im.destination])).stdout;
        assert.equal(sha(config), im.imageId, `config of ${im.name}`);
        const src = i === 0 ? a : b;
        if (src.mediaType.includes('oci') || type === 'dir') {
          assert.equal(
            im.manifestDigest,
            src.manifestDigest,
            'an OCI image (or any image in dir:) keeps its manifest bytes',
          );
          assert.equal(im.imageId, src.configDigest);
        }
        await runTool(['skopeo', 'copy', '-q', im.destination, `dir:${join(e.root, `copy-${i}`)}`]);
      }
      assert.deepEqual(await readdir(e.tmpdir), []);
    });
  }

  it('reports start, byte progress and done once per image', async (t) => {
    const e = await env(t);
    const a = await addDirImage(e, { layers: 2, layerSize: 50_000 });
    const b = await addDirImage(e, { layers: 1, layerSize: 30_000 });
    const events: InstallProgress[] = [];
    await install(
      req(
        e,
        inputs(e, {
          [a.configDigest]: { format: 'dir', name: 'localhost/a:latest' },
          [b.configDigest]: { format: 'dir', name: 'localhost/b:latest' },
        }),
        { destination: { type: 'oci', path: '/oci' } },
        { onProgress: (p) => events.push(p) },
      ),
    );
    for (const [index, img] of [a, b].entries()) {
      const mine = events.filter((p) => p.index === index);
      const total = img.layers.reduce((n, l) => n + l.size, 0);
      assert.deepEqual(mine[0], {
        index,
        count: 2,
        name: img === a ? 'localhost/a:latest' : 'localhost/b:latest',
        phase: 'start',
        bytes: 0,
        total,
      });
      assert.deepEqual(
        mine.map((p) => p.phase).filter((p) => p !== 'progress'),
        ['start', 'done'],
      );
      assert.equal(mine.at(-1)!.phase, 'done');
      assert.equal(mine.at(-1)!.bytes, total);
      assert.ok(mine.some((p) => p.phase === 'progress'));
    }
  });

  it('installs the image itself (not the list) for a dir image that came with a list', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const e = await env(t);
    const arm = await addDirImage(e, { platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } });
    const amd = await buildImage({ platform: { architecture: 'amd64', os: 'linux' } });
    await addList(e, [amd, arm]);
    const inp = {
      ...(inputs(e, { [arm.configDigest]: { format: 'dir', name: 'localhost/arm:latest' } }) as object),
      'manifest-lists': await listInputs(e),
    };
    const summary = await install(req(e, inp, { destination: { type: 'oci', path: '/oci' } }));
    assert.equal(summary.images[0]!.manifestDigest, arm.manifestDigest);
    const inspect = JSON.parse(
      (await runTool(['skopeo', 'inspect', summary.images[0]!.destination])).stdout.toString(),
    ) as { Architecture: string };
    assert.equal(inspect.Architecture, 'arm64');
  });
});

describe('install refuses hostile input', () => {
  it('refuses destination paths that leave the tree ("..", a symlink out)', async (t) => {
    const e = await env(t);
    const img = await addDirImage(e);
    const outside = join(e.root, 'outside');
    await mkdir(outside);
    await symlink(outside, join(e.tree, 'link'));
    const inp = inputs(e, { [img.configDigest]: { format: 'dir', name: 'localhost/x:latest' } });
    const cases: unknown[] = [
      { destination: { type: 'oci', path: '../outside/oci' } },
      { destination: { type: 'oci-archive', path: '/usr/../../outside/x.tar' } },
      { destination: { type: 'dir', path: '/link/dir' } },
      { destination: { type: 'containers-storage', 'storage-driver': 'vfs', 'storage-path': '/link/storage' } },
      { destination: { type: 'containers-storage', 'storage-path': '../storage' } },
    ];
    for (const options of cases) {
      await assertCode(install(req(e, inp, options)), 'UNSAFE_PATH');
    }
    assert.deepEqual(await readdir(outside), []);
    assert.deepEqual(await listTree(e.tree), ['link']);
  });

  it('refuses unknown option keys before touching anything', async (t) => {
    const e = await env(t);
    const img = await addDirImage(e);
    const inp = inputs(e, { [img.configDigest]: { format: 'dir', name: 'localhost/x:latest' } });
    const err = await assertCode(
      install(req(e, inp, { destination: { type: 'oci', path: '/o', compress: true } })),
      'INVALID_INPUT',
    );
    assert.match(err.message, /destination\.compress/);
    await assertNothingLeft(e);
  });

  const blobCases: [string, (file: string) => Promise<void>, string][] = [
    ['a blob with the wrong content', flipByte, 'DIGEST_MISMATCH'],
    ['a truncated blob', (f) => truncate(f, 20), 'DIGEST_MISMATCH'],
    ['a missing blob', (f) => unlink(f), 'NOT_FOUND'],
  ];
  for (const [title, spoil, code] of blobCases) {
    for (const type of ['oci', 'oci-archive', 'dir'] as const) {
      it(`fails on ${title} (${type}) and leaves nothing`, async (t) => {
        const e = await env(t);
        const good = await addDirImage(e);
        const bad = await addDirImage(e, { layerSize: 4096 });
        await spoil(join(bad.dir, bad.layers[0]!.digest.slice(7)));
        const archives: Record<string, { format: string; name: string }> = {
          [bad.configDigest]: { format: 'dir', name: 'localhost/bad:latest' },
        };
        if (type !== 'dir') archives[good.configDigest] = { format: 'dir', name: 'localhost/good:latest' };
        await assertCode(
          install(req(e, inputs(e, archives), { destination: { type, path: `/usr/share/${type}/x` } })),
          code,
        );
        await assertNothingLeft(e);
      });
    }
  }

  for (const [title, entry] of [
    ['a "../" entry name', '../escaped'],
    ['an absolute entry name', '/tmp/ocikit-escaped-absolute'],
  ] as const) {
    for (const type of ['oci', 'containers-storage'] as const) {
      it(`refuses an oci-archive with ${title} (${type} destination)`, async (t) => {
        if (type === 'containers-storage' && !needTool(t, 'skopeo')) return;
        const e = await env(t);
        const img = await buildImage();
        const blobs: [string, Buffer][] = [
          [`blobs/sha256/${img.configDigest.slice(7)}`, img.config],
          [`blobs/sha256/${img.manifestDigest.slice(7)}`, img.manifest],
          ...img.layers.map((l): [string, Buffer] => [`blobs/sha256/${l.digest.slice(7)}`, l.bytes]),
        ];
        const index = {
          schemaVersion: 2,
          manifests: [{ mediaType: img.mediaType, digest: img.manifestDigest, size: img.manifest.length }],
        };
        await writeTar(join(e.images, 'evil.tar'), [
          ['oci-layout', '{"imageLayoutVersion":"1.0.0"}'],
          ['index.json', JSON.stringify(index)],
          ...blobs,
          [entry, 'gotcha'],
        ]);
        const options = type === 'oci' ? { destination: { type, path: '/oci' } } : storageOptions();
        await assertCode(
          install(req(e, inputs(e, { 'evil.tar': { format: 'oci-archive', name: 'localhost/evil:latest' } }), options)),
          'UNSAFE_PATH',
        );
        await assert.rejects(stat(join(e.images, '..', 'escaped')), { code: 'ENOENT' });
        await assert.rejects(stat(join(e.tmpdir, '..', 'escaped')), { code: 'ENOENT' });
        await assert.rejects(stat('/tmp/ocikit-escaped-absolute'), { code: 'ENOENT' });
        await assertNothingLeft(e);
      });
    }
  }

  it('stops before copying when the signal is already aborted', async (t) => {
    const e = await env(t);
    const img = await addDirImage(e);
    const ac = new AbortController();
    ac.abort();
    await assertCode(
      install(
        req(
          e,
          inputs(e, { [img.configDigest]: { format: 'dir', name: 'localhost/x:latest' } }),
          { destination: { type: 'oci', path: '/o' } },
          { signal: ac.signal },
        ),
      ),
      'INTERRUPTED',
    );
    await assertNothingLeft(e);
  });

  it('refuses a tree that does not exist', async (t) => {
    const e = await env(t);
    const img = await addDirImage(e);
    await assertCode(
      install(
        req(
          e,
          inputs(e, { [img.configDigest]: { format: 'dir', name: 'localhost/x:latest' } }),
          { destination: { type: 'oci', path: '/o' } },
          { tree: join(e.root, 'nope') },
        ),
      ),
      'NOT_FOUND',
    );
  });
});
