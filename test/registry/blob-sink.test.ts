/**
 * Tests for src/registry/blob-sink.ts: positional writes from staging buffers, resuming and restarting, and
 * verification with model/verify.ts's wording of `DIGEST_MISMATCH`.
 */
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { digestMismatch, sizeMismatch } from '../../src/model/verify.js';
import { openBlobSink } from '../../src/registry/blob-sink.js';
import { tempDir } from '../helpers/tmp.js';
import { sha } from './fake-registry.js';

const BODY = randomBytes(100_000);
const EXPECT = { digest: sha(BODY), size: BODY.length };
const WHAT = 'blob under test';

/** `buf` cut into chunks of `n` bytes. */
function chunks(buf: Buffer, n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += n) out.push(buf.subarray(i, i + n));
  return out;
}

/** Asserts that `p` rejects with exactly the error `want` (code, message, expected and actual). */
async function rejectsLike(p: Promise<unknown>, want: Error & { code: string }): Promise<void> {
  await assert.rejects(p, (e: Error & { code: string; expected?: string; actual?: string }) => {
    const w = want as typeof e;
    assert.deepEqual([e.code, e.message, e.expected, e.actual], [w.code, w.message, w.expected, w.actual]);
    return true;
  });
}

describe('openBlobSink', () => {
  for (const batchBytes of [1_024, 7_000, undefined]) {
    it(`writes the blob in order and verifies it (staging buffers of ${batchBytes ?? 'the default'} bytes)`, async (t) => {
      const file = join(await tempDir(t), 'blob');
      const sink = await openBlobSink(file, EXPECT, WHAT, { batchBytes });
      for (const c of chunks(BODY, 3_000)) await sink.push(c);
      assert.equal(sink.received, BODY.length);
      await sink.finish();
      assert.deepEqual(await readFile(file), BODY);
    });
  }

  it('take() copies the chunk: the caller may overwrite it at once (a bulk GET reuses its read buffer)', async (t) => {
    const file = join(await tempDir(t), 'blob');
    const sink = await openBlobSink(file, EXPECT, WHAT, { batchBytes: 4_096 });
    const reused = Buffer.alloc(3_000);
    for (const c of chunks(BODY, 3_000)) {
      reused.fill(0);
      c.copy(reused);
      await sink.take(reused.subarray(0, c.length));
      reused.fill(0xee); // what the next read would do to the buffer
    }
    await sink.finish();
    assert.deepEqual(await readFile(file), BODY);
  });

  it('space() and commit(): bytes received in place, mixed with take(), written in order and verified', async (t) => {
    const file = join(await tempDir(t), 'blob');
    const sink = await openBlobSink(file, EXPECT, WHAT, { batchBytes: 4_096 });
    let at = 0;
    for (let i = 0; at < BODY.length; i++) {
      if (i % 3 === 2) {
        const c = BODY.subarray(at, at + 1_000);
        await sink.take(c);
        at += c.length;
        continue;
      }
      const free = sink.space();
      assert.ok(free.length > 0 && free.length <= 4_096);
      const n = Math.min(free.length, 2_500, BODY.length - at);
      BODY.copy(free, 0, at, at + n); // what a read into the view does
      await sink.commit(n);
      at += n;
    }
    assert.equal(sink.received, BODY.length);
    await sink.finish();
    assert.deepEqual(await readFile(file), BODY);
  });

  it('commit() refuses bytes past the declared size as take() does', async (t) => {
    const file = join(await tempDir(t), 'blob');
    const small = { digest: sha(BODY.subarray(0, 10)), size: 10 };
    const sink = await openBlobSink(file, small, WHAT);
    const free = sink.space();
    BODY.copy(free, 0, 0, 11);
    assert.throws(
      () => sink.commit(11),
      (e: Error) => e.message === sizeMismatch(WHAT, 10, 11, true).message,
    );
    await sink.close();
  });

  it('continues a resumed body where the broken one stopped', async (t) => {
    const file = join(await tempDir(t), 'blob');
    const sink = await openBlobSink(file, EXPECT, WHAT, { batchBytes: 8_192 });
    for (const c of chunks(BODY.subarray(0, 40_000), 3_000)) await sink.push(c);
    await sink.drain();
    assert.equal((await readFile(file)).length, 40_000);
    for (const c of chunks(BODY.subarray(sink.received), 5_000)) await sink.push(c);
    await sink.finish();
    assert.deepEqual(await readFile(file), BODY);
  });

  it('starts over after reset(), forgetting the bytes and the hash of the first try', async (t) => {
    const file = join(await tempDir(t), 'blob');
    const sink = await openBlobSink(file, EXPECT, WHAT, { batchBytes: 8_192 });
    const wrongStart = Buffer.from(BODY.subarray(0, 50_000)).fill(0, 0, 10);
    for (const c of chunks(wrongStart, 3_000)) await sink.push(c);
    await sink.drain();
    await sink.reset();
    assert.equal(sink.received, 0);
    for (const c of chunks(BODY, 7_000)) await sink.push(c);
    await sink.finish();
    assert.deepEqual(await readFile(file), BODY);
  });

  it('refuses a too-long body as soon as it passes the size, in the words of model/verify.ts', async (t) => {
    const file = join(await tempDir(t), 'blob');
    const sink = await openBlobSink(file, EXPECT, WHAT);
    await sink.push(BODY);
    await rejectsLike(sink.push(Buffer.from('xy')), sizeMismatch(WHAT, BODY.length, BODY.length + 2, true));
    await sink.close();
  });

  it('refuses a too-short body at finish(), in the words of model/verify.ts', async (t) => {
    const file = join(await tempDir(t), 'blob');
    const sink = await openBlobSink(file, EXPECT, WHAT);
    await sink.push(BODY.subarray(1));
    await rejectsLike(sink.finish(), sizeMismatch(WHAT, BODY.length, BODY.length - 1));
  });

  it('refuses a wrong digest at finish(), in the words of model/verify.ts', async (t) => {
    const file = join(await tempDir(t), 'blob');
    const wrong = Buffer.from(BODY).fill(1, 0, 1);
    const sink = await openBlobSink(file, EXPECT, WHAT);
    await sink.push(wrong);
    await rejectsLike(sink.finish(), digestMismatch(WHAT, EXPECT.digest, sha(wrong)));
  });

  it('close() after a failure is idempotent and does not throw', async (t) => {
    const file = join(await tempDir(t), 'blob');
    const sink = await openBlobSink(file, EXPECT, WHAT);
    await sink.push(BODY.subarray(0, 10));
    await sink.close();
    await sink.close();
  });
});
