import assert from 'node:assert/strict';
import { lstat, mkdir, readFile, readlink, readdir, writeFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type ContainerImage, type ResolvedImage, resolveContainersInput } from '../../src/osbuild/inputs.js';
import { runTool } from '../../src/internal/exec.js';
import { parseContainersStorageRef } from '../../src/transports/containers-storage/reference.js';
import { openContainerSource, withContainerSource } from '../../src/osbuild/container-source.js';
import { UPSTREAM } from '../helpers/fixtures.js';
import { makeDirImage, makeList } from '../helpers/images.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';

const ID = `sha256:${'e'.repeat(64)}`;

/** The record resolveContainersInput makes of `image` (nothing parsed; storage driver as given). */
function resolved(image: ContainerImage, storageDriver: string | null = null): ResolvedImage {
  return {
    ...image,
    key: image.checksum,
    format: image.data.format,
    name: image.data.name,
    manifest: null,
    list: null,
    storageDriver,
  };
}

function storageImage(root: string, storage?: { driver: string }): ResolvedImage {
  return resolved(
    {
      filepath: join(root, 'storage'),
      'manifest-list': null,
      data: { format: 'containers-storage', name: 'localhost/s', ...(storage ? { storage } : {}) },
      checksum: ID,
    },
    storage?.driver ?? 'overlay',
  );
}

describe('withContainerSource', () => {
  it('lends a dir image through a symlink, so ":" in the real path is harmless, and removes it after', async (t) => {
    const root = await tempDir(t);
    const img = await makeDirImage(join(root, 'images', 'sha256:with:colons'));
    const image = resolved({
      filepath: img.dir,
      'manifest-list': null,
      data: { format: 'dir', name: 'localhost/a' },
      checksum: 'k',
    });
    let seen = '';
    const tmp = join(root, 'tmp');
    await mkdir(tmp);
    await withContainerSource(
      image,
      async (src) => {
        seen = src.source;
        assert.equal(src.name, 'localhost/a');
        assert.equal(src.podmanArgs, null);
        assert.equal(src.listDigest, null);
        assert.match(src.source, /^dir:\/.*\/image$/);
        const link = src.source.slice('dir:'.length);
        assert.ok((await lstat(link)).isSymbolicLink());
        assert.equal(await readlink(link), img.dir);
        assert.ok(!src.source.includes('colons'));
      },
      { tmpdir: tmp },
    );
    assert.ok(seen);
    assert.deepEqual(await readdir(tmp), []);
  });

  it('lends an oci-archive as oci-archive:<tmp>/image', async (t) => {
    const root = await tempDir(t);
    const file = join(root, 'a:b.tar');
    await copyFile(join(UPSTREAM, 'skopeo-observed/archives/oci-archive.tar'), file);
    const image = resolved({
      filepath: file,
      'manifest-list': null,
      data: { format: 'oci-archive', name: 'localhost/o' },
      checksum: 'a:b.tar',
    });
    await withContainerSource(image, async (src) => {
      assert.match(src.source, /^oci-archive:\/.*\/image$/);
      assert.equal(await readlink(src.source.slice('oci-archive:'.length)), file);
    });
  });

  it('lends a dir image with a list as the merged view, with list digest and platform', async (t) => {
    const root = await tempDir(t);
    const imagesPath = join(root, 'images');
    const listsPath = join(root, 'lists');
    await mkdir(listsPath, { recursive: true });
    const img = await makeDirImage(join(imagesPath, 'tmp'), {
      platform: { architecture: 'arm64', os: 'linux', variant: 'v8' },
    });
    const key = img.configDigest;
    await import('node:fs/promises').then((fs) => fs.rename(img.dir, join(imagesPath, key)));
    const list = makeList([img]);
    await writeFile(join(listsPath, list.digest), list.bytes);
    const [parsed] = await resolveContainersInput({
      images: { path: imagesPath, data: { archives: { [key]: { format: 'dir', name: 'localhost/m' } } } },
      'manifest-lists': { path: listsPath, data: { files: { [list.digest]: {} } } },
    });
    const tmp = join(root, 'tmp');
    await mkdir(tmp);
    await withContainerSource(
      parsed!,
      async (src) => {
        const dir = src.source.slice('dir:'.length);
        assert.ok((await lstat(dir)).isDirectory());
        assert.deepEqual(await readFile(join(dir, 'manifest.json')), list.bytes);
        assert.equal(src.listDigest, list.digest);
        assert.equal(src.manifestDigest, img.manifestDigest);
        assert.deepEqual(src.platform, { architecture: 'arm64', os: 'linux', variant: 'v8' });
      },
      { tmpdir: tmp },
    );
    assert.deepEqual(await readdir(tmp), []);
    assert.deepEqual(await readFile(join(imagesPath, key, 'manifest.json')), img.manifest);
  });

  it('builds the overlay store spec: empty graph root plus additionalimagestore', async (t) => {
    const root = await tempDir(t);
    await withContainerSource(storageImage(root), async (src) => {
      const { spec, image } = parseContainersStorageRef(src.source);
      assert.equal(image, 'e'.repeat(64));
      assert.equal(spec?.driver, 'overlay');
      assert.equal(spec?.runroot, '/run/containers/storage');
      assert.deepEqual(spec?.options, [`additionalimagestore=${join(root, 'storage')}`]);
      assert.ok((await lstat(spec!.graphroot!)).isDirectory());
      assert.deepEqual(src.podmanArgs, [`--root=${spec!.graphroot}`, `--imagestore=${join(root, 'storage')}`]);
    });
  });

  it('uses configured host paths', async (t) => {
    const root = await tempDir(t);
    const src = await openContainerSource(storageImage(root), {
      storage: '/run/osbuild/containers/storage',
      emptyGraphroot: '/run/osbuild/containers/storage2',
      runroot: '/run/x',
    });
    try {
      assert.equal(
        src.source,
        `containers-storage:[overlay@/run/osbuild/containers/storage2+/run/x:additionalimagestore=/run/osbuild/containers/storage]${'e'.repeat(64)}`,
      );
      assert.deepEqual(src.podmanArgs, [
        '--root=/run/osbuild/containers/storage2',
        '--imagestore=/run/osbuild/containers/storage',
      ]);
    } finally {
      await src.close();
    }
  });

  it('builds the plain store spec for other drivers', async (t) => {
    const root = await tempDir(t);
    await withContainerSource(storageImage(root, { driver: 'vfs' }), async (src) => {
      assert.equal(
        src.source,
        `containers-storage:[vfs@${join(root, 'storage')}+/run/containers/storage]${'e'.repeat(64)}`,
      );
      assert.deepEqual(src.podmanArgs, [`--imagestore=${join(root, 'storage')}`]);
    });
  });

  it('refuses an unknown format', async () => {
    const image = resolved({
      filepath: '/x',
      'manifest-list': null,
      data: { format: 'docker-archive', name: 'x' },
      checksum: 'x',
    } as unknown as ContainerImage);
    await assert.rejects(
      withContainerSource(image, async () => undefined),
      { code: 'UNSUPPORTED' },
    );
  });

  it('reports a missing temporary directory as NOT_FOUND naming it, not as a raw ENOENT', async (t) => {
    const root = await tempDir(t);
    const img = await makeDirImage(join(root, 'img'));
    const image = resolved({
      filepath: img.dir,
      'manifest-list': null,
      data: { format: 'dir', name: 'localhost/a' },
      checksum: 'k',
    });
    const tmp = join(root, 'no-such-tmp');
    await assert.rejects(
      withContainerSource(image, async () => undefined, { tmpdir: tmp }),
      (e: Error & { code: string }) => {
        assert.equal(e.name, 'OcikitError');
        assert.equal(e.code, 'NOT_FOUND');
        assert.ok(e.message.includes(tmp), e.message);
        return true;
      },
    );
  });

  it('cleans up when the callback throws', async (t) => {
    const root = await tempDir(t);
    const tmp = join(root, 'tmp');
    await mkdir(tmp);
    const img = await makeDirImage(join(root, 'img'));
    const image = resolved({
      filepath: img.dir,
      'manifest-list': null,
      data: { format: 'dir', name: 'localhost/a' },
      checksum: 'k',
    });
    await assert.rejects(
      withContainerSource(
        image,
        async () => {
          throw new Error('boom');
        },
        { tmpdir: tmp },
      ),
      /boom/,
    );
    assert.deepEqual(await readdir(tmp), []);
  });

  it('supports await using', async (t) => {
    const root = await tempDir(t);
    const tmp = join(root, 'tmp');
    await mkdir(tmp);
    const img = await makeDirImage(join(root, 'img'));
    const image = resolved({
      filepath: img.dir,
      'manifest-list': null,
      data: { format: 'dir', name: 'localhost/a' },
      checksum: 'k',
    });
    {
      await using src = await openContainerSource(image, { tmpdir: tmp });
      assert.equal((await readdir(tmp)).length, 1);
      assert.match(src.source, /^dir:/);
    }
    assert.deepEqual(await readdir(tmp), []);
  });

  it('gives sources skopeo can read', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const root = await tempDir(t);
    const img = await makeDirImage(join(root, 'x:y'));
    const image = resolved({
      filepath: img.dir,
      'manifest-list': null,
      data: { format: 'dir', name: 'localhost/a' },
      checksum: 'k',
    });
    await withContainerSource(image, async (src) => {
      const raw = await runTool(['skopeo', 'inspect', '--raw', src.source]);
      assert.deepEqual(raw.stdout, img.manifest);
    });
    const file = join(root, 'arch:ive.tar');
    await copyFile(join(UPSTREAM, 'skopeo-observed/archives/oci-archive.tar'), file);
    const arch = resolved({
      filepath: file,
      'manifest-list': null,
      data: { format: 'oci-archive', name: 'localhost/o' },
      checksum: 'arch:ive.tar',
    });
    await withContainerSource(arch, async (src) => {
      const out = await runTool(['skopeo', 'inspect', src.source]);
      assert.match(JSON.parse(out.stdout.toString()).Digest, /^sha256:[0-9a-f]{64}$/);
    });
  });
});
