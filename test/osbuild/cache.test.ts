import * as assert from 'node:assert/strict';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Digest } from '../../src/model/digest.js';
import {
  FILES_CACHE,
  IMAGES_CACHE,
  STAGING_PREFIX,
  cachedImagePath,
  cachedItemPath,
  cachedListPath,
  createStaging,
  publishImageEntry,
  publishListEntry,
  removeStaging,
} from '../../src/osbuild/cache.js';
import { parseDockerReference } from '../../src/model/docker-reference.js';
import { tempDir } from '../helpers/tmp.js';

const D = (c: string) => `sha256:${c.repeat(64)}` as Digest;

describe('osbuild cache layout', () => {
  it("names entries as osbuild's sources do", () => {
    assert.equal(IMAGES_CACHE, 'org.osbuild.containers');
    assert.equal(FILES_CACHE, 'org.osbuild.files');
    assert.equal(cachedImagePath('/c', D('a')), `/c/org.osbuild.containers/${D('a')}/image`);
    assert.equal(cachedListPath('/c', D('b')), `/c/org.osbuild.files/${D('b')}`);
    const ref = parseDockerReference('quay.io/a/b', 'name');
    const image = { kind: 'image', id: D('a'), name: 'quay.io/a/b', ref, digest: D('c'), tlsVerify: true } as const;
    const list = { kind: 'list', id: D('b'), name: 'quay.io/a/b', ref, tlsVerify: true } as const;
    assert.equal(cachedItemPath('/c', image), cachedImagePath('/c', D('a')));
    assert.equal(cachedItemPath('/c', list), cachedListPath('/c', D('b')));
  });

  it('refuses anything but a digest as a path component', () => {
    assert.throws(() => cachedImagePath('/c', '../x' as Digest), { code: 'INVALID_DIGEST' });
    assert.throws(() => cachedListPath('/c', `${D('a')}/..` as Digest), { code: 'INVALID_DIGEST' });
  });
});

describe('cache staging', () => {
  it('creates the cache and a fresh .tmp-fetch-* directory with a blobs folder, removed afterwards', async (t) => {
    const cache = join(await tempDir(t), 'new', 'cache');
    const s = await createStaging(cache);
    assert.equal(join(s.dir, '..'), cache);
    assert.ok(s.dir.slice(cache.length + 1).startsWith(STAGING_PREFIX), s.dir);
    assert.ok((await stat(join(s.dir, 'blobs'))).isDirectory());
    assert.equal(s.blobFile(D('a')), join(s.dir, 'blobs', 'a'.repeat(64)));
    assert.equal(s.imageDir(D('b')), join(s.dir, `image-${'b'.repeat(64)}`));
    assert.equal(s.listFile(D('c')), join(s.dir, `list-${'c'.repeat(64)}`));
    const other = await createStaging(cache);
    assert.notEqual(other.dir, s.dir);
    await removeStaging(s);
    await removeStaging(other);
    assert.deepEqual(await readdir(cache), []);
  });

  it('reports a cache that cannot be created as IO naming it', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'file'), 'x');
    await assert.rejects(createStaging(join(dir, 'file')), (e: Error & { code: string }) => {
      assert.equal(e.code, 'IO');
      assert.ok(e.message.includes(join(dir, 'file')), e.message);
      return true;
    });
  });
});

describe('publishing cache entries', () => {
  it('publishes an image directory, and keeps an entry that exists already', async (t) => {
    const cache = await tempDir(t);
    const s = await createStaging(cache);
    t.after(() => removeStaging(s));
    const first = s.imageDir(D('a'));
    await mkdir(first);
    await writeFile(join(first, 'manifest.json'), 'first');
    assert.equal(await publishImageEntry(cache, D('a'), first), 'published');
    const second = join(s.dir, 'second');
    await mkdir(second);
    await writeFile(join(second, 'manifest.json'), 'second');
    assert.equal(await publishImageEntry(cache, D('a'), second), 'existed');
    assert.equal(await readFile(join(cachedImagePath(cache, D('a')), 'manifest.json'), 'utf8'), 'first');
    assert.deepEqual((await readdir(s.dir)).sort(), ['blobs'], 'both staged copies are gone');
  });

  it('publishes a list file, and keeps an entry that exists already', async (t) => {
    const cache = await tempDir(t);
    const s = await createStaging(cache);
    t.after(() => removeStaging(s));
    await writeFile(s.listFile(D('b')), 'first');
    assert.equal(await publishListEntry(cache, D('b'), s.listFile(D('b'))), 'published');
    await writeFile(s.listFile(D('b')), 'second');
    assert.equal(await publishListEntry(cache, D('b'), s.listFile(D('b'))), 'existed');
    assert.equal(await readFile(cachedListPath(cache, D('b')), 'utf8'), 'first');
    assert.deepEqual(await readdir(s.dir), ['blobs']);
  });

  it('reports an entry folder taken by a file as IO naming it', async (t) => {
    const cache = await tempDir(t);
    const s = await createStaging(cache);
    t.after(() => removeStaging(s));
    await writeFile(join(cache, FILES_CACHE), 'in the way');
    await writeFile(s.listFile(D('b')), 'list');
    await assert.rejects(publishListEntry(cache, D('b'), s.listFile(D('b'))), (e: Error & { code: string }) => {
      assert.equal(e.code, 'IO');
      assert.ok(e.message.includes(join(cache, FILES_CACHE)), e.message);
      return true;
    });
  });
});
