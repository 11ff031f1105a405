/**
 * The shared helpers of `src/transports/reader.ts` that read files: {@link readManifestFile} (the
 * manifest size limit over `readFileInside`) and {@link readerFromLayout} (the reader of a layout
 * whose blobs are plain files).
 */
import * as assert from 'node:assert/strict';
import { rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { type TestContext, describe, it } from 'node:test';
import { isOcikitError } from '../../src/errors.js';
import type { Digest } from '../../src/model/digest.js';
import { MAX_MANIFEST_SIZE, parseManifest, type ImageManifest } from '../../src/model/manifest.js';
import { readManifestFile, readerFromLayout } from '../../src/transports/reader.js';
import { makeDirImage } from '../helpers/images.js';
import { tempDir } from '../helpers/tmp.js';

const code = (c: string, text?: string) => (e: unknown) =>
  isOcikitError(e, c as never) && (text === undefined || e.message.includes(text));

async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('readManifestFile', () => {
  it('reads a file of exactly the limit and refuses one byte more, naming what and where', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'manifest.json');
    await writeFile(file, '');
    await truncate(file, MAX_MANIFEST_SIZE);
    assert.equal((await readManifestFile(dir, file, 'test manifest')).length, MAX_MANIFEST_SIZE);
    await truncate(file, MAX_MANIFEST_SIZE + 1);
    await assert.rejects(
      readManifestFile(dir, file, 'test manifest'),
      code(
        'MANIFEST_TOO_LARGE',
        `test manifest ${file} is ${MAX_MANIFEST_SIZE + 1} bytes, more than the ${MAX_MANIFEST_SIZE}-byte manifest limit`,
      ),
    );
  });

  it('refuses a symlink out of the root', async (t) => {
    const root = await tempDir(t);
    await writeFile(join(root, 'outside.json'), '{}');
    const dir = join(root, 'in');
    await makeDirImage(dir);
    await symlink('../outside.json', join(dir, 'm.json'));
    await assert.rejects(readManifestFile(dir, join(dir, 'm.json'), 'test manifest'), code('UNSAFE_PATH'));
  });
});

describe('readerFromLayout', () => {
  async function layout(t: TestContext) {
    const dir = await tempDir(t);
    const img = await makeDirImage(dir, { layers: 2 });
    const manifest = parseManifest(img.manifest, 'test') as ImageManifest;
    const blobFile = (d: Digest) => join(dir, d.slice(7));
    return { dir, img, manifest, blobFile };
  }

  it('reads and verifies the config, and opens blobs by the file the layout names', async (t) => {
    const { img, manifest, blobFile } = await layout(t);
    const r = await readerFromLayout('test:img', manifest, blobFile);
    assert.equal(r.source, 'test:img');
    assert.equal(r.manifest, manifest);
    assert.deepEqual(r.config, img.config);
    for (const [i, l] of manifest.layers.entries()) {
      assert.equal(r.blobPath?.(l), blobFile(l.digest));
      assert.deepEqual(await readAll(await r.openBlob(l)), img.layers[i]!.bytes);
    }
    assert.equal(r.signatures, undefined);
    await r.close();
    await r.close(); // idempotent
  });

  it('adds the signatures it is given', async (t) => {
    const { manifest, blobFile } = await layout(t);
    const sigs = [Buffer.from('sig')];
    const r = await readerFromLayout('test:img', manifest, blobFile, { signatures: async () => sigs });
    assert.deepEqual(await r.signatures?.(), sigs);
  });

  it('refuses a config whose bytes do not match (DIGEST_MISMATCH) and a missing one (NOT_FOUND)', async (t) => {
    const { img, manifest, blobFile } = await layout(t);
    const file = blobFile(manifest.config.digest);
    await writeFile(file, Buffer.from(img.config).fill(0x20, 0, 1));
    await assert.rejects(readerFromLayout('test:img', manifest, blobFile), code('DIGEST_MISMATCH', 'test:img config'));
    await assert.rejects(
      readerFromLayout('test:img', manifest, (d) => `${blobFile(d)}.missing`),
      code('NOT_FOUND', 'test:img blob'),
    );
  });

  it('refuses a blob that is a symlink (the layout names the file itself)', async (t) => {
    const { dir, manifest, blobFile } = await layout(t);
    const r = await readerFromLayout('test:img', manifest, blobFile);
    const layer = manifest.layers[0]!;
    await writeFile(join(dir, 'elsewhere'), 'x');
    await rm(blobFile(layer.digest));
    await symlink('elsewhere', blobFile(layer.digest));
    await assert.rejects(r.openBlob(layer), code('IO'));
  });
});
