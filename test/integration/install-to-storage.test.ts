/**
 * install() into containers-storage: end to end with real skopeo and podman (vfs driver, a
 * temporary store and run root per test): dir images with and without lists, oci-archives,
 * schema 1, signatures, overlay cleanup, and containers-storage inputs copied store to store.
 */
import * as assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { install, type InstallProgress } from '../../src/install/install.js';
import { runTool } from '../../src/internal/exec.js';
import { UPSTREAM } from '../helpers/fixtures.js';
import { buildImage, makeDirImage } from '../helpers/images.js';
import {
  SIGNATURE,
  addDirImage,
  addList,
  assertCode,
  env,
  flipByte,
  inputs,
  listInputs,
  listTree,
  podmanInspect,
  req,
  sha,
  storageOptions,
  store,
} from '../helpers/install-env.js';
import { storeImages } from '../../src/transports/containers-storage/image-records.js';
import { needTool } from '../helpers/tools.js';

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
        // One copy after the other (jobs 1), so the events come in this fixed sequence.
        { jobs: 1, onProgress: (p) => events.push(p) },
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
    assert.match(
      calls[0]!,
      new RegExp(
        `^--tmpdir ${e.tmpdir}/ocikit-skopeo-\\S+ copy oci:${e.tmpdir}/ocikit-oci-archive-[^ :]+ containers-storage:`,
      ),
    );
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

  it('leaves the store skopeo wrote into when skopeo fails (a blob with the wrong content): no image, nothing else', async (t) => {
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
    // A store is shared by design (docs/install.md): another install may be writing into it, so
    // what skopeo created there stays; containers-storage records no image of a failed copy.
    assert.deepEqual(await storeImages(store(e)), []);
    const left = await listTree(e.tree);
    assert.ok(left.includes('var/lib/containers/storage/storage.lock'), left.join(' '));
    assert.deepEqual(
      left.filter((f) => !'var/lib/containers/storage'.startsWith(f) && !f.startsWith('var/lib/containers/storage/')),
      [],
      'nothing outside the store',
    );
    assert.deepEqual(await readdir(e.tmpdir), [], 'no temporary file may remain');
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
