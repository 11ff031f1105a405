/**
 * The oci-archive writer: byte for byte the archive ocikit wrote before the writer moved beside
 * its reader (digests recorded from that code for fixed images), the same bytes when called
 * directly, laid out from sizes, read back by the native reader and by skopeo.
 */
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { installNative } from '../../../src/install/to-layout.js';
import type { Digest } from '../../../src/model/digest.js';
import { openDirImage } from '../../../src/transports/dir/read.js';
import { withOciArchive } from '../../../src/transports/oci-archive/read.js';
import { planOciArchive, writeOciArchive } from '../../../src/transports/oci-archive/write.js';
import { writeFixedDirImage } from '../../helpers/fixed-images.js';
import { tempDir } from '../../helpers/tmp.js';
import { needTool } from '../../helpers/tools.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;
const OCI = 'application/vnd.oci.image.manifest.v1+json';

/** Recorded from the archive writer before it moved here (the images of the tests below). */
const GOLDEN = {
  /** An OCI image (seed 1) and a converted Docker image (seed 2) in one archive. */
  two: 'sha256:f327c77a986e01bd5e84dd6c033349f4aeb57d677a2c95347a7ebb907da782b0',
  twoSize: 161280,
  /** The Docker image (seed 2) alone. */
  docker: 'sha256:63dcecfd0f85efd808a88a7a2c1dfcf6abda785b7cc9eb885e8cffa1db0990be',
};

async function fixed(dir: string) {
  const a = await writeFixedDirImage(join(dir, 'a'), 'oci', 1);
  const b = await writeFixedDirImage(join(dir, 'b'), 'docker', 2);
  return {
    a,
    b,
    items: async () => [
      { reader: await openDirImage(a.dir), name: 'localhost/a:latest' },
      { reader: await openDirImage(b.dir), name: 'registry.example.com:5000/ns/b:v1.0' },
    ],
  };
}

describe('the oci-archive writer', () => {
  it('writes the archive it wrote before, byte for byte', async (t) => {
    const dir = await tempDir(t);
    const f = await fixed(dir);
    await installNative(await f.items(), { type: 'oci-archive', path: join(dir, 'two.tar') });
    const two = await readFile(join(dir, 'two.tar'));
    assert.equal(two.length, GOLDEN.twoSize);
    assert.equal(sha(two), GOLDEN.two);
    await installNative([(await f.items())[1]!], { type: 'oci-archive', path: join(dir, 'docker.tar') });
    assert.equal(sha(await readFile(join(dir, 'docker.tar'))), GOLDEN.docker);
  });

  it('gives the same bytes when called directly with the blobs and the index', async (t) => {
    const dir = await tempDir(t);
    const f = await fixed(dir);
    await installNative([(await f.items())[0]!], { type: 'oci-archive', path: join(dir, 'via-install.tar') });
    const files = [f.a.configDigest, ...f.a.layers.map((l) => l.digest)];
    const bytes = new Map<Digest, Buffer>([[f.a.manifestDigest as Digest, f.a.manifest]]);
    for (const d of files) bytes.set(d as Digest, await readFile(join(f.a.dir, d.slice(7))));
    const blobs = [...bytes].map(([digest, b]) => ({ digest, size: b.length }));
    const index = [
      {
        mediaType: OCI,
        digest: f.a.manifestDigest as Digest,
        size: f.a.manifest.length,
        refName: 'localhost/a:latest',
      },
    ];
    const copied: Digest[] = [];
    await writeOciArchive(
      join(dir, 'direct.tar'),
      blobs,
      index,
      async (blob, out, offset) => {
        copied.push(blob.digest);
        const b = bytes.get(blob.digest)!;
        await out.write(b, 0, b.length, offset);
      },
      { concurrency: 2 },
    );
    assert.deepEqual(copied.length, blobs.length);
    assert.deepEqual(await readFile(join(dir, 'direct.tar')), await readFile(join(dir, 'via-install.tar')));
  });

  it('lays the archive out from the sizes: directories, blobs by digest, index.json, oci-layout', () => {
    const blobs = [
      { digest: `sha256:${'b'.repeat(64)}` as Digest, size: 513 },
      { digest: `sha256:${'a'.repeat(64)}` as Digest, size: 512 },
    ];
    const plan = planOciArchive(blobs, []);
    const names = plan.entries.map((e) => e.header.subarray(0, 100).toString('latin1').replace(/\0+$/, ''));
    assert.deepEqual(names, [
      'blobs/',
      'blobs/sha256/',
      `blobs/sha256/${'a'.repeat(64)}`,
      `blobs/sha256/${'b'.repeat(64)}`,
      'index.json',
      'oci-layout',
    ]);
    assert.deepEqual(
      plan.entries.map((e) => e.at),
      [0, 512, 1024, 1024 + 512 + 512, 2048 + 512 + 1024, 3584 + 1024],
    );
    assert.equal(plan.end, 3584 + 1024 + 512 + 512);
  });

  it('leaves the failure of a copy to the caller, with the file for it to remove', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'x.tar');
    const blob = { digest: `sha256:${'c'.repeat(64)}` as Digest, size: 10 };
    await assert.rejects(
      writeOciArchive(file, [blob], [], async () => {
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.ok((await stat(file)).isFile());
  });

  it('is read back natively and by skopeo', async (t) => {
    const dir = await tempDir(t);
    const f = await fixed(dir);
    const file = join(dir, 'two.tar');
    const res = await installNative(await f.items(), { type: 'oci-archive', path: file });
    for (const r of res) {
      const digest = await withOciArchive(file, async (reader) => reader.manifest.digest, {
        ref: r.name,
        tmpdir: dir,
      });
      assert.equal(digest, r.manifestDigest);
    }
    if (!needTool(t, 'skopeo')) return;
    for (const [i, r] of res.entries()) {
      const raw = spawnSync('skopeo', ['inspect', '--raw', r.reference]);
      assert.equal(raw.status, 0, raw.stderr.toString());
      assert.equal(sha(raw.stdout), r.manifestDigest);
      const out = join(dir, `copy-${i}`);
      const copy = spawnSync('skopeo', ['copy', '-q', r.reference, `dir:${out}`]);
      assert.equal(copy.status, 0, copy.stderr.toString());
      const src = i === 0 ? f.a : f.b;
      for (const l of src.layers) {
        assert.deepEqual(
          await readFile(join(out, l.digest.slice(7))),
          await readFile(join(src.dir, l.digest.slice(7))),
        );
      }
    }
  });
});
