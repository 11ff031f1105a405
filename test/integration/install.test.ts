/**
 * install(): hostile inputs and options must fail with nothing left at the destination and no
 * temporary file left behind; an interrupted or misdirected install does nothing.
 */
import * as assert from 'node:assert/strict';
import { mkdir, readdir, stat, symlink, truncate, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { install } from '../../src/install/install.js';
import { openOciLayout } from '../../src/transports/oci/read.js';
import { buildImage } from '../helpers/images.js';
import {
  addDirImage,
  assertCode,
  assertNothingLeft,
  env,
  flipByte,
  inputs,
  listTree,
  podmanInspect,
  req,
  storageOptions,
  writeTar,
} from '../helpers/install-env.js';
import { needTool } from '../helpers/tools.js';

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

describe('install takes names that begin with ".." as names', () => {
  // Kubernetes configmaps keep their files under "..data"; only a component that is exactly ".."
  // leaves the tree.
  for (const [type, dest] of [
    ['oci', '/..data/out'],
    ['oci-archive', '/.../x.tar'],
    ['dir', '/..foo/bar'],
  ] as const) {
    it(`installs ${type} at ${dest}`, async (t) => {
      const e = await env(t);
      const img = await addDirImage(e);
      const name = 'localhost/dots:latest';
      const summary = await install(
        req(e, inputs(e, { [img.configDigest]: { format: 'dir', name } }), { destination: { type, path: dest } }),
      );
      const at = join(e.tree, dest);
      assert.equal(summary.destination.location, at);
      assert.equal(summary.images[0]!.imageId, img.configDigest);
      if (type === 'oci') {
        const reader = await openOciLayout(at, { ref: name });
        assert.equal(reader.manifest.config.digest, img.configDigest);
        await reader.close();
      }
      assert.ok((await stat(at)).size > 0);
      assert.deepEqual(await readdir(e.tmpdir), []);
    });
  }

  it('installs into containers-storage at /..data/storage (podman sees the image)', async (t) => {
    if (!needTool(t, 'skopeo', 'podman')) return;
    const e = await env(t);
    const img = await addDirImage(e);
    const name = 'localhost/dots:latest';
    const summary = await install(
      req(e, inputs(e, { [img.configDigest]: { format: 'dir', name } }), {
        destination: { type: 'containers-storage', 'storage-driver': 'vfs', 'storage-path': '/..data/storage' },
      }),
    );
    const at = join(e.tree, '..data', 'storage');
    assert.equal(summary.destination.location, at);
    const info = await podmanInspect(e, name, at);
    assert.equal(`sha256:${info.Id as string}`, img.configDigest);
  });
});
