/**
 * copyBlob(): the verified copy of one blob into a file at an offset, from a reader with local
 * files (positional reads, several chunks), from one with streams only, and on the worker threads
 * of internal/hash-pool.ts once they run (the last suite: the pool is per process); every kind of
 * wrong blob fails with DIGEST_MISMATCH in the one wording of model/verify.ts.
 */
import { before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { COPY_CHUNK, COPY_ON_WORKER_FROM, copyBlob } from '../../src/install/copy-blob.js';
import { hashWorkersRunning, warmHashPool } from '../../src/internal/hash-pool.js';
import { isOcikitError } from '../../src/errors.js';
import type { Digest } from '../../src/model/digest.js';
import type { Descriptor } from '../../src/model/descriptor.js';
import type { ImageReader } from '../../src/transports/reader.js';
import { fixedBytes } from '../helpers/fixed-images.js';
import { blobDirReader as reader } from '../helpers/blob-reader.js';
import { tempDir } from '../helpers/tmp.js';

const code = (c: string) => (e: unknown) => isOcikitError(e, c as never);
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;
const LAYER = 'application/vnd.oci.image.layer.v1.tar';

async function setup(t: Parameters<typeof tempDir>[0], content: Buffer, declared = content) {
  const dir = await tempDir(t);
  await mkdir(join(dir, 'src'));
  const desc: Descriptor = { mediaType: LAYER, digest: sha(declared), size: declared.length };
  await writeFile(join(dir, 'src', desc.digest.slice(7)), content);
  return { dir, desc };
}

async function copyTo(r: ImageReader, desc: Descriptor, out: string, offset = 0, signal?: AbortSignal) {
  const fh = await open(out, 'w');
  let bytes = 0;
  try {
    await copyBlob(r, desc, fh, offset, { signal, onBytes: (n) => (bytes += n) });
  } finally {
    await fh.close();
  }
  return bytes;
}

for (const positional of [true, false]) {
  describe(`copyBlob (${positional ? 'positional reads' : 'stream'})`, () => {
    it('copies a blob of several chunks at an offset, reporting every byte', async (t) => {
      const content = fixedBytes(2 * COPY_CHUNK + 12_345, 7);
      const { dir, desc } = await setup(t, content);
      const out = join(dir, 'out');
      const n = await copyTo(reader(join(dir, 'src'), positional), desc, out, 1000);
      assert.equal(n, content.length);
      const written = await readFile(out);
      assert.equal(written.length, 1000 + content.length);
      assert.ok(written.subarray(1000).equals(content));
    });

    it('copies an empty blob', async (t) => {
      const { dir, desc } = await setup(t, Buffer.alloc(0));
      assert.equal(await copyTo(reader(join(dir, 'src'), positional), desc, join(dir, 'out')), 0);
    });

    const wrong: [string, (b: Buffer) => Buffer, RegExp][] = [
      [
        'other content',
        (b) => Buffer.concat([b.subarray(0, -1), Buffer.from([b.at(-1)! ^ 1])]),
        /: expected digest sha256:[0-9a-f]{64}, got sha256:/,
      ],
      ['fewer bytes', (b) => b.subarray(0, b.length - 1), /: expected 70001 bytes, got 70000$/],
      ['more bytes', (b) => Buffer.concat([b, Buffer.from('x')]), /: expected 70001 bytes, got at least 70002$/],
    ];
    for (const [label, spoil, message] of wrong) {
      it(`fails on ${label} with DIGEST_MISMATCH`, async (t) => {
        const declared = fixedBytes(70_001, 3);
        const { dir, desc } = await setup(t, spoil(declared), declared);
        const r = reader(join(dir, 'src'), positional);
        await assert.rejects(copyTo(r, desc, join(dir, 'out')), (e: unknown) => {
          assert.ok(code('DIGEST_MISMATCH')(e), String(e));
          assert.match((e as Error).message, message);
          assert.ok(
            (e as Error).message.startsWith(`test:${join(dir, 'src')} blob ${desc.digest}`),
            (e as Error).message,
          );
          return true;
        });
      });
    }

    it('stops with INTERRUPTED when aborted', async (t) => {
      const { dir, desc } = await setup(t, fixedBytes(1000, 1));
      const ac = new AbortController();
      ac.abort();
      await assert.rejects(
        copyTo(reader(join(dir, 'src'), positional), desc, join(dir, 'out'), 0, ac.signal),
        code('INTERRUPTED'),
      );
    });
  });
}

describe('copyBlob (local files)', () => {
  it('reports a missing blob as NOT_FOUND', async (t) => {
    const dir = await tempDir(t);
    const desc: Descriptor = { mediaType: LAYER, digest: sha(Buffer.from('x')), size: 1 };
    await assert.rejects(copyTo(reader(dir, true), desc, join(dir, 'out')), code('NOT_FOUND'));
  });

  it('never follows a symlink, and refuses what is not a regular file', async (t) => {
    const { dir, desc } = await setup(t, Buffer.from('data'));
    const other = join(dir, 'other');
    await mkdir(join(other, desc.digest.slice(7)), { recursive: true });
    await assert.rejects(copyTo(reader(other, true), desc, join(dir, 'out')), code('INVALID_INPUT'));
    const linked = join(dir, 'linked');
    await mkdir(linked);
    await symlink(join(dir, 'src', desc.digest.slice(7)), join(linked, desc.digest.slice(7)));
    await assert.rejects(copyTo(reader(linked, true), desc, join(dir, 'out')), code('IO'));
  });
});

// Last: once the workers run, every later large copy in this process goes to them.
describe('copyBlob on worker threads', () => {
  before(() => warmHashPool());
  const SIZE = COPY_ON_WORKER_FROM + 4321;

  it('copies several blobs at once at their offsets, reporting every byte', async (t) => {
    assert.ok(hashWorkersRunning(), 'the pool runs (more than one core)');
    const blobs = await Promise.all(
      [0, 1, 2, 3, 4].map(async (i) => {
        const content = fixedBytes(2 * COPY_CHUNK + 777 * i + COPY_ON_WORKER_FROM, 20 + i);
        return { content, ...(await setup(t, content)) };
      }),
    );
    const bytes = await Promise.all(
      blobs.map((b) => copyTo(reader(join(b.dir, 'src'), true), b.desc, join(b.dir, 'out'), 4096)),
    );
    for (const [i, b] of blobs.entries()) {
      assert.equal(bytes[i], b.content.length);
      const written = await readFile(join(b.dir, 'out'));
      assert.equal(written.length, 4096 + b.content.length);
      assert.ok(written.subarray(4096).equals(b.content), `blob ${i}`);
    }
  });

  const wrong: [string, (b: Buffer) => Buffer, RegExp][] = [
    [
      'other content',
      (b) => Buffer.concat([Buffer.from([b[0]! ^ 1]), b.subarray(1)]),
      /: expected digest sha256:[0-9a-f]{64}, got sha256:/,
    ],
    ['fewer bytes', (b) => b.subarray(0, b.length - 1), new RegExp(`: expected ${SIZE} bytes, got ${SIZE - 1}$`)],
    [
      'more bytes',
      (b) => Buffer.concat([b, Buffer.from('x')]),
      new RegExp(`: expected ${SIZE} bytes, got at least ${SIZE + 1}$`),
    ],
  ];
  for (const [label, spoil, message] of wrong) {
    it(`fails on ${label} with DIGEST_MISMATCH, in the words of the main thread's copy`, async (t) => {
      const declared = fixedBytes(SIZE, 5);
      const { dir, desc } = await setup(t, spoil(declared), declared);
      await assert.rejects(copyTo(reader(join(dir, 'src'), true), desc, join(dir, 'out')), (e: unknown) => {
        assert.ok(code('DIGEST_MISMATCH')(e), String(e));
        assert.match((e as Error).message, message);
        return true;
      });
    });
  }

  it('stops with INTERRUPTED when aborted', async (t) => {
    const { dir, desc } = await setup(t, fixedBytes(SIZE, 6));
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(
      copyTo(reader(join(dir, 'src'), true), desc, join(dir, 'out'), 0, ac.signal),
      code('INTERRUPTED'),
    );
  });
});
