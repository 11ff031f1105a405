/**
 * The `dir:` writer: the layout skopeo's `dir:` destination writes (blobs by hex, manifest.json,
 * signature-N, version), read back by the reader; and a `dir` install destination byte for byte
 * as ocikit wrote it before it used this writer (tree digests recorded from that code).
 */
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { installNative } from '../../../src/install/to-layout.js';
import { isOcikitError } from '../../../src/errors.js';
import type { Digest } from '../../../src/model/digest.js';
import { DIR_VERSION, openDirImage, readDirSignatures } from '../../../src/transports/dir/read.js';
import { createDirImage, finishDirImage, linkDirBlob, writeDirBlob } from '../../../src/transports/dir/write.js';
import { treeDigest, writeFixedDirImage } from '../../helpers/fixed-images.js';
import { tempDir } from '../../helpers/tmp.js';

const code = (c: string) => (e: unknown) => isOcikitError(e, c as never);
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;

/** Recorded from the `dir` destination writer before it used this module. */
const GOLDEN = {
  oci: 'sha256:45761ad36d9f062b487f4d2a249f24c7852ef1df3754e7e918208559c2d25c3a',
  docker: 'sha256:6e87c98a7be3a742fa05ee9f2923771caddf5dbf8f9f78642dc6f45ba7eca60b',
};

describe('the dir: writer', () => {
  it('writes an image the reader opens, signatures in order, and the version file', async (t) => {
    const dir = await tempDir(t);
    const src = await writeFixedDirImage(join(dir, 'src'), 'oci', 4, [300, 5]);
    const out = join(dir, 'out');
    await createDirImage(out);
    for (const f of [src.configDigest, ...src.layers.map((l) => l.digest)]) {
      const b = await readFile(join(src.dir, f.slice(7)));
      if (f === src.configDigest) await writeDirBlob(out, sha(b), (fh) => fh.writeFile(b));
      else await linkDirBlob(out, f as Digest, join(src.dir, f.slice(7)));
    }
    const sigs = [Buffer.from('one'), Buffer.from('two')];
    await finishDirImage(out, { manifest: src.manifest, signatures: sigs }, { sync: true });
    assert.equal(await readFile(join(out, 'version'), 'utf8'), DIR_VERSION);
    assert.deepEqual(await readDirSignatures(out), sigs);
    const r = await openDirImage(out);
    assert.deepEqual(r.manifest.raw, src.manifest);
    assert.equal((await readdir(out)).length, 2 + 3 + 2);
  });

  it('reads signatures up to the first missing number, refusing a FIFO (never waiting on it) and a file over 16 MiB', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'signature-1'), 'one');
    await writeFile(join(dir, 'signature-3'), 'three, after a gap: not read');
    assert.deepEqual(await readDirSignatures(dir), [Buffer.from('one')]);
    execFileSync('mkfifo', [join(dir, 'signature-2')]);
    await assert.rejects(readDirSignatures(dir), code('INVALID_INPUT'));
    await rm(join(dir, 'signature-2'));
    await truncate(join(dir, 'signature-1'), 16 * 1024 * 1024 + 1);
    await assert.rejects(readDirSignatures(dir), code('INVALID_INPUT'));
  });

  it('refuses to create an image where something exists, and to write a file twice', async (t) => {
    const dir = await tempDir(t);
    await assert.rejects(createDirImage(dir), code('IO'));
    const out = join(dir, 'out');
    await createDirImage(out);
    await finishDirImage(out, { manifest: Buffer.from('{}') });
    await assert.rejects(finishDirImage(out, { manifest: Buffer.from('{}') }), code('IO'));
  });

  for (const flavour of ['oci', 'docker'] as const) {
    it(`is the dir destination of an install, byte for byte as before (${flavour})`, async (t) => {
      const dir = await tempDir(t);
      const img = await writeFixedDirImage(join(dir, 'src'), flavour, flavour === 'oci' ? 1 : 2);
      const name = flavour === 'oci' ? 'localhost/a:latest' : 'registry.example.com:5000/ns/b:v1.0';
      await installNative([{ reader: await openDirImage(img.dir), name }], { type: 'dir', path: join(dir, 'out') });
      assert.equal(await treeDigest(join(dir, 'out')), GOLDEN[flavour]);
    });
  }
});
