import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, stat, writeFile, lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runTool } from '../../../src/internal/exec.js';
import { mergeManifest, mergeParsedManifest } from '../../../src/transports/dir/merge.js';
import { readDirManifest } from '../../../src/transports/dir/read.js';
import { type ManifestList, parseManifest } from '../../../src/model/manifest.js';
import { makeDirImage, makeList } from '../../helpers/images.js';
import { tempDir } from '../../helpers/tmp.js';
import { needTool } from '../../helpers/tools.js';

/** name → [content, mtime, ino, nlink-independent] snapshot of a flat directory. */
async function snapshot(dir: string) {
  const out: Record<string, string> = {};
  for (const n of (await readdir(dir)).sort()) {
    const st = await stat(join(dir, n));
    out[n] = `${(await readFile(join(dir, n))).toString('base64')}|${st.mtimeMs}|${st.mode}`;
  }
  return out;
}

async function setup(t: Parameters<typeof tempDir>[0]) {
  const root = await tempDir(t);
  const img = await makeDirImage(join(root, 'image'), { layers: 2 });
  const list = makeList([img], 'docker');
  const listFile = join(root, list.digest);
  await writeFile(listFile, list.bytes);
  return { root, img, list, listFile };
}

describe('mergeManifest', () => {
  it('writes the list as manifest.json and the image manifest as <hex>.manifest.json, exact bytes', async (t) => {
    const { root, img, list, listFile } = await setup(t);
    const out = join(root, 'merged');
    const r = await mergeManifest(listFile, img.dir, out);
    assert.deepEqual(await readFile(join(out, 'manifest.json')), list.bytes);
    assert.deepEqual(await readFile(join(out, `${img.manifestDigest.slice(7)}.manifest.json`)), img.manifest);
    assert.equal(r.listDigest, list.digest);
    assert.equal(r.imageDigest, img.manifestDigest);
    assert.deepEqual(
      (await readdir(out)).sort(),
      [
        ...(await readdir(img.dir)).filter((n) => n !== 'manifest.json'),
        'manifest.json',
        `${img.manifestDigest.slice(7)}.manifest.json`,
      ].sort(),
    );
  });

  it('hard-links every other file instead of copying it', async (t) => {
    const { root, img, listFile } = await setup(t);
    const out = join(root, 'merged');
    const r = await mergeManifest(listFile, img.dir, out);
    for (const l of img.layers) {
      const a = await stat(join(img.dir, l.digest.slice(7)));
      const b = await stat(join(out, l.digest.slice(7)));
      assert.equal(a.ino, b.ino);
    }
    assert.equal(r.symlinked, 0);
    assert.equal(r.linked, img.layers.length + 2); // layers, config, version
  });

  it('never touches the source image', async (t) => {
    const { root, img, listFile } = await setup(t);
    const before = await snapshot(img.dir);
    await mergeManifest(listFile, img.dir, join(root, 'merged'));
    assert.deepEqual(await snapshot(img.dir), before);
  });

  it('symlinks where a hard link is impossible (another file system)', async (t) => {
    const shm = '/dev/shm';
    const { root, img, listFile } = await setup(t);
    const [a, b] = await Promise.all([stat(root), stat(shm).catch(() => undefined)]);
    if (!b || a.dev === b.dev) {
      // CI machines have one (tmpfs on /dev/shm); there, its absence is a failure, not a skip.
      if (process.env.CI === 'true') assert.fail('no second file system (/dev/shm) to test the symlink fallback');
      t.skip('no second file system (/dev/shm) on this machine');
      return;
    }
    const other = await import('node:fs/promises').then((fs) => fs.mkdtemp(join(shm, 'ocikit-merge-')));
    t.after(() => import('node:fs/promises').then((fs) => fs.rm(other, { recursive: true, force: true })));
    const r = await mergeManifest(listFile, img.dir, join(other, 'merged'));
    assert.ok(r.symlinked > 0);
    const layer = join(other, 'merged', img.layers[0]!.digest.slice(7));
    assert.ok((await lstat(layer)).isSymbolicLink());
    assert.equal(await readlink(layer), join(img.dir, img.layers[0]!.digest.slice(7)));
    assert.deepEqual(await readFile(layer), img.layers[0]!.bytes);
  });

  it('refuses when the list does not contain the image, leaving nothing behind', async (t) => {
    const { root, img } = await setup(t);
    const other = await makeDirImage(join(root, 'other'));
    const list = makeList([other]);
    const listFile = join(root, 'list.json');
    await writeFile(listFile, list.bytes);
    const before = (await readdir(root)).sort();
    await assert.rejects(mergeManifest(listFile, img.dir, join(root, 'merged')), { code: 'LIST_MISMATCH' });
    assert.deepEqual((await readdir(root)).sort(), before);
  });

  it('refuses an existing target', async (t) => {
    const { root, img, listFile } = await setup(t);
    await mkdir(join(root, 'merged'));
    await assert.rejects(mergeManifest(listFile, img.dir, join(root, 'merged')), { code: 'EXISTS' });
  });

  it('refuses a list file that is not a list', async (t) => {
    const { root, img } = await setup(t);
    await assert.rejects(mergeManifest(join(img.dir, 'manifest.json'), img.dir, join(root, 'merged')), {
      code: 'INVALID_MANIFEST',
    });
  });

  it('refuses a symlink that leads out of the image', async (t) => {
    const { root, img, listFile } = await setup(t);
    await writeFile(join(root, 'secret'), 'x');
    await import('node:fs/promises').then((fs) => fs.symlink(join(root, 'secret'), join(img.dir, 'evil')));
    await assert.rejects(mergeManifest(listFile, img.dir, join(root, 'merged')), { code: 'UNSAFE_PATH' });
    assert.ok(!(await readdir(root)).some((n) => n.includes('merged')));
  });

  it('gives a view that skopeo installs with the list digest in RepoDigests', async (t) => {
    if (!needTool(t, 'skopeo', 'podman')) return;
    const { root, img, list, listFile } = await setup(t);
    const merged = join(root, 'merged');
    await mergeManifest(listFile, img.dir, merged);
    const store = join(root, 'store');
    const run = join(root, 'run');
    await runTool([
      'skopeo',
      'copy',
      '--quiet',
      `dir:${merged}`,
      `containers-storage:[vfs@${store}+${run}]localhost/merge-test:latest`,
    ]);
    const out = await runTool([
      'podman',
      '--root',
      store,
      '--runroot',
      run,
      '--storage-driver',
      'vfs',
      'image',
      'inspect',
      'localhost/merge-test:latest',
    ]);
    const [info] = JSON.parse(out.stdout.toString()) as [{ Id: string; Digest: string; RepoDigests: string[] }];
    assert.ok(info.RepoDigests.includes(`localhost/merge-test@${list.digest}`), JSON.stringify(info.RepoDigests));
    assert.ok(
      info.RepoDigests.includes(`localhost/merge-test@${img.manifestDigest}`),
      JSON.stringify(info.RepoDigests),
    );
    assert.equal(`sha256:${info.Id}`, img.configDigest);
  });
});

describe('mergeParsedManifest', () => {
  it('merges from what was parsed already, reading neither the list file nor manifest.json again', async (t) => {
    const { root, img, list, listFile } = await setup(t);
    const parsedList = parseManifest(list.bytes, 'list');
    const parsedImage = await readDirManifest('k', img.dir);
    assert.equal(parsedList.kind, 'list');
    await rm(listFile);
    // What is on disk now is not read: the merged view holds the parsed bytes.
    await writeFile(join(img.dir, 'manifest.json'), 'not json');
    const out = join(root, 'merged');
    const r = await mergeParsedManifest(parsedList as ManifestList, parsedImage, img.dir, out);
    assert.deepEqual(await readFile(join(out, 'manifest.json')), list.bytes);
    assert.deepEqual(await readFile(join(out, `${img.manifestDigest.slice(7)}.manifest.json`)), img.manifest);
    assert.equal(r.listDigest, list.digest);
    assert.equal(r.imageDigest, img.manifestDigest);
  });

  it('names the list by the given label when the image is not in it (LIST_MISMATCH)', async (t) => {
    const { root, img } = await setup(t);
    const other = await makeDirImage(join(root, 'other'));
    const list = parseManifest(makeList([other]).bytes, 'list') as ManifestList;
    await assert.rejects(
      mergeParsedManifest(list, await readDirManifest('k', img.dir), img.dir, join(root, 'm'), 'manifest list L'),
      (e: Error & { code?: string }) => e.code === 'LIST_MISMATCH' && e.message.startsWith('manifest list L ('),
    );
  });
});
