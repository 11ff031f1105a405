/**
 * placeBlobFile(): a blob as a file of its own, placed by a reflink (on an XFS made for the test),
 * by a hard link when asked (same file system), else by the verified copy; every placement is
 * verified in the destination, a wrong blob fails with DIGEST_MISMATCH, and a source is never
 * changed. Small blobs and sources of another size than declared always take the copy.
 */
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isOcikitError } from '../../src/errors.js';
import { PLACE_MIN, placeBlobFile } from '../../src/install/place-blob.js';
import type { Descriptor } from '../../src/model/descriptor.js';
import type { Digest } from '../../src/model/digest.js';
import { fixedBytes } from '../helpers/fixed-images.js';
import { blobDirReader as reader } from '../helpers/blob-reader.js';
import { tempDir } from '../helpers/tmp.js';
import { mountTmpfs, mountXfs } from '../helpers/tmpfs.js';

const code = (c: string) => (e: unknown) => isOcikitError(e, c as never);
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;
const LAYER = 'application/vnd.oci.image.layer.v1.tar';

/** A source directory under `root` holding `content` under the digest of `declared`. */
async function source(root: string, content: Buffer, declared = content) {
  const dir = join(root, 'src');
  await mkdir(dir, { recursive: true });
  const desc: Descriptor = { mediaType: LAYER, digest: sha(declared), size: declared.length };
  const file = join(dir, desc.digest.slice(7));
  await writeFile(file, content);
  return { dir, desc, file };
}

async function place(root: string, dir: string, desc: Descriptor, opts: { link?: boolean; signal?: AbortSignal } = {}) {
  const out = join(root, 'out');
  await mkdir(out, { recursive: true });
  const dest = join(out, desc.digest.slice(7));
  let bytes = 0;
  const how = await placeBlobFile(reader(dir), desc, dest, { ...opts, onBytes: (n) => (bytes += n) });
  return { how, dest, bytes };
}

const BIG = 3 * 1024 * 1024 + 4321;

describe('placeBlobFile', () => {
  it('copies where the file system shares no extents (or clones where it does), verified, reporting every byte', async (t) => {
    const root = await tempDir(t);
    const content = fixedBytes(BIG, 1);
    const { dir, desc, file } = await source(root, content);
    const { how, dest, bytes } = await place(root, dir, desc);
    assert.ok(how === 'copied' || how === 'reflinked', how);
    assert.deepEqual(await readFile(dest), content);
    assert.equal(bytes, content.length);
    assert.notEqual((await stat(dest)).ino, (await stat(file)).ino);
    assert.equal((await stat(dest)).mode & 0o777, 0o644 & ~process.umask());
  });

  it('copies a blob smaller than PLACE_MIN even when asked to link', async (t) => {
    const root = await tempDir(t);
    const { dir, desc, file } = await source(root, fixedBytes(PLACE_MIN - 1, 2));
    const { how, dest } = await place(root, dir, desc, { link: true });
    assert.equal(how, 'copied');
    assert.notEqual((await stat(dest)).ino, (await stat(file)).ino);
  });

  it('hard-links when asked: the same inode, every byte hashed, the source unchanged', async (t) => {
    const root = await tempDir(t);
    const content = fixedBytes(BIG, 3);
    const { dir, desc, file } = await source(root, content);
    const before = await stat(file);
    const { how, dest, bytes } = await place(root, dir, desc, { link: true });
    assert.equal(how, 'linked');
    const after = await stat(dest);
    assert.equal(after.ino, before.ino);
    assert.equal(after.nlink, 2);
    assert.equal(bytes, content.length);
    assert.equal(after.mtimeMs, before.mtimeMs);
    assert.deepEqual(await readFile(file), content);
  });

  it('refuses a linked blob whose bytes are not the declared ones (DIGEST_MISMATCH), changing nothing', async (t) => {
    const root = await tempDir(t);
    const declared = fixedBytes(BIG, 4);
    const content = Buffer.from(declared);
    content[BIG - 1] = content[BIG - 1]! ^ 1;
    const { dir, desc, file } = await source(root, content, declared);
    await assert.rejects(place(root, dir, desc, { link: true }), (e: unknown) => {
      assert.ok(code('DIGEST_MISMATCH')(e), String(e));
      assert.match((e as Error).message, new RegExp(`blob ${desc.digest}: expected digest`));
      return true;
    });
    assert.deepEqual(await readFile(file), content);
  });

  for (const [title, delta] of [
    ['longer', 1],
    ['shorter', -1],
  ] as const) {
    it(`never links a source ${title} than declared: the copy refuses it as it always did`, async (t) => {
      const root = await tempDir(t);
      const declared = fixedBytes(BIG, 5);
      const content = delta > 0 ? Buffer.concat([declared, Buffer.from('x')]) : declared.subarray(0, BIG - 1);
      const { dir, desc, file } = await source(root, content, declared);
      await assert.rejects(place(root, dir, desc, { link: true }), code('DIGEST_MISMATCH'));
      assert.equal((await stat(file)).nlink, 1);
    });
  }

  it('stops at once when the install is interrupted (INTERRUPTED)', async (t) => {
    const root = await tempDir(t);
    const { dir, desc } = await source(root, fixedBytes(BIG, 6));
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(place(root, dir, desc, { link: true, signal: ac.signal }), code('INTERRUPTED'));
  });

  it('copies when a link is impossible: the source on another file system (EXDEV)', async (t) => {
    const other = await mountTmpfs(t, '16m');
    if (other === undefined) return;
    const root = await tempDir(t);
    const content = fixedBytes(BIG, 7);
    const { dir, desc, file } = await source(other, content);
    const { how, dest } = await place(root, dir, desc, { link: true });
    assert.ok(how === 'copied' || how === 'reflinked', how);
    assert.deepEqual(await readFile(dest), content);
    assert.equal((await stat(file)).nlink, 1);
  });

  it('reflinks on XFS: no data blocks used, an independent file, verified', async (t) => {
    const xfs = await mountXfs(t);
    if (xfs === undefined) return;
    const content = fixedBytes(8 * 1024 * 1024, 8);
    const { dir, desc, file } = await source(xfs, content);
    const free = async () => {
      const s = await statfs(xfs);
      return s.bfree * s.bsize;
    };
    const before = await free();
    const { how, dest, bytes } = await place(xfs, dir, desc);
    assert.equal(how, 'reflinked');
    assert.equal(bytes, content.length);
    assert.ok(before - (await free()) < 1024 * 1024, 'a clone shares the data blocks');
    assert.equal((await stat(dest)).mode & 0o777, 0o644 & ~process.umask());
    // Independent of the source: writing the clone leaves the source as it was.
    await writeFile(dest, 'changed');
    assert.deepEqual(await readFile(file), content);
  });

  it('refuses a reflinked blob whose bytes are not the declared ones (DIGEST_MISMATCH)', async (t) => {
    const xfs = await mountXfs(t);
    if (xfs === undefined) return;
    const declared = fixedBytes(BIG, 9);
    const content = Buffer.from(declared);
    content[0] = content[0]! ^ 1;
    const { dir, desc, file } = await source(xfs, content, declared);
    await assert.rejects(place(xfs, dir, desc), code('DIGEST_MISMATCH'));
    assert.deepEqual(await readFile(file), content);
  });
});
