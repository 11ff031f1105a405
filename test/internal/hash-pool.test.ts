/**
 * The hashing pool: jobs on the main thread and on worker threads give the digest of exactly the
 * bytes up to their limit, in any number at once; copy jobs write exactly those bytes at their
 * offset; a cancelled job reads no further; a read or write error reaches the caller with its
 * code; idle workers do not keep a process alive, and waiting jobs do.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { FileCopyJob, FileHashJob, settleJob, warmHashPool } from '../../src/internal/hash-pool.js';
import { fixedBytes } from '../helpers/fixed-images.js';
import { tempDir } from '../helpers/tmp.js';

const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const POOL = fileURLToPath(new URL('../../src/internal/hash-pool.js', import.meta.url));

describe('the hashing pool', () => {
  it('hashes many files at once on every thread, each up to its limit, reporting every byte', async (t) => {
    const dir = await tempDir(t);
    warmHashPool();
    const sizes = [0, 1, 1024 * 1024, 9 * 1024 * 1024 + 7, 12_345, 20 * 1024 * 1024, 3];
    const files = await Promise.all(
      sizes.map(async (n, i) => {
        const bytes = fixedBytes(n, 40 + i);
        const p = join(dir, `f${i}`);
        await writeFile(p, bytes);
        return { bytes, fh: await open(p, 'r') };
      }),
    );
    try {
      // Twice: the second round finds the workers online.
      for (let round = 0; round < 2; round++) {
        const seen = files.map(() => 0);
        const results = await Promise.all(
          files.map((f, i) => {
            const limit = i === 3 ? 5 * 1024 * 1024 : f.bytes.length + 1;
            return new FileHashJob(f.fh.fd, limit, (n) => (seen[i]! += n)).result;
          }),
        );
        results.forEach((r, i) => {
          const want = i === 3 ? files[i]!.bytes.subarray(0, 5 * 1024 * 1024) : files[i]!.bytes;
          assert.deepEqual(r, { hex: hex(want), bytes: want.length }, `file ${i}, round ${round}`);
          assert.equal(seen[i], want.length, `progress of file ${i}`);
        });
      }
    } finally {
      for (const f of files) await f.fh.close();
    }
  });

  it('copies files at once on the workers, at their offsets, hashing what it writes', async (t) => {
    const dir = await tempDir(t);
    warmHashPool();
    const jobs = await Promise.all(
      [0, 1, 2, 3].map(async (i) => {
        const bytes = fixedBytes(3 * 1024 * 1024 + 99 * i, 70 + i);
        await writeFile(join(dir, `in${i}`), bytes);
        const src = await open(join(dir, `in${i}`), 'r');
        const out = await open(join(dir, `out${i}`), 'w');
        let seen = 0;
        const r = await new FileCopyJob(src.fd, out.fd, 10 * i, bytes.length + 1, (n) => (seen += n)).result;
        await src.close();
        await out.close();
        return { i, bytes, r, seen };
      }),
    );
    for (const { i, bytes, r, seen } of jobs) {
      assert.deepEqual(r, { hex: hex(bytes), bytes: bytes.length });
      assert.equal(seen, bytes.length);
      const written = await readFile(join(dir, `out${i}`));
      assert.ok(written.subarray(10 * i).equals(bytes), `copy ${i}`);
    }
  });

  it('rejects a copy whose write fails with the error, its code and syscall', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'in'), fixedBytes(2 * 1024 * 1024, 80));
    const src = await open(join(dir, 'in'), 'r');
    const ro = await open(join(dir, 'in'), 'r'); // not writable: EBADF on write
    try {
      await assert.rejects(new FileCopyJob(src.fd, ro.fd, 0, 1e12).result, { code: 'EBADF', syscall: 'write' });
    } finally {
      await src.close();
      await ro.close();
    }
  });

  it('settles a cancelled job with undefined', async (t) => {
    const dir = await tempDir(t);
    const p = join(dir, 'big');
    await writeFile(p, fixedBytes(64 * 1024 * 1024, 50));
    const fh = await open(p, 'r');
    try {
      const jobs = [0, 1, 2, 3, 4].map(() => new FileHashJob(fh.fd, Number.MAX_SAFE_INTEGER));
      for (const j of jobs) j.cancel();
      const results = await Promise.all(jobs.map((j) => j.result));
      assert.deepEqual(results, [undefined, undefined, undefined, undefined, undefined]);
    } finally {
      await fh.close();
    }
  });

  for (const when of ['before', 'while'] as const) {
    it(`settleJob refuses with INTERRUPTED only once the job has ended, aborted ${when} it runs`, async (t) => {
      warmHashPool();
      const dir = await tempDir(t);
      const p = join(dir, 'big');
      await writeFile(p, fixedBytes(64 * 1024 * 1024, 51));
      const src = await open(p, 'r');
      const out = await open(join(dir, 'out'), 'w');
      try {
        const ac = new AbortController();
        if (when === 'before') ac.abort();
        const job = new FileCopyJob(src.fd, out.fd, 0, Number.MAX_SAFE_INTEGER, () => ac.abort());
        let ended = false;
        job.result.then(
          () => (ended = true),
          () => (ended = true),
        );
        await assert.rejects(
          settleJob(job, ac.signal),
          (e: unknown) => (e as { code?: string }).code === 'INTERRUPTED',
        );
        // Closing the descriptors now must be safe: no worker may still read or write them.
        assert.equal(ended, true, 'the job has ended when settleJob gives up');
      } finally {
        await src.close();
        await out.close();
      }
    });
  }

  it('rejects with the read error and its code', async () => {
    warmHashPool();
    const bad = 1_000_000; // no such descriptor
    const results = await Promise.allSettled([0, 1, 2].map(() => new FileHashJob(bad, 10).result));
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.equal((r as PromiseRejectedResult).reason.code, 'EBADF');
    }
  });

  it('keeps the process alive while jobs wait for the workers to come online', async (t) => {
    const dir = await tempDir(t);
    const p = join(dir, 'f');
    const bytes = fixedBytes(2 * 1024 * 1024, 61);
    await writeFile(p, bytes);
    // Nothing else is pending: a process that let its workers go while the job waited would end
    // with status 13 (an unsettled top-level await).
    const code = `
      import { openSync } from 'node:fs';
      const { FileCopyJob, warmHashPool } = await import(${JSON.stringify(pathToFileURL(POOL).href)});
      warmHashPool();
      const r = await new FileCopyJob(openSync(${JSON.stringify(p)}, 'r'), openSync(${JSON.stringify(join(dir, 'copy'))}, 'w'), 0, 1e12).result;
      console.log(r.hex);`;
    for (let i = 0; i < 5; i++) {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 0, `run ${i}: status ${r.status} ${r.stderr}`);
      assert.equal(r.stdout.trim(), hex(bytes));
    }
  });

  it('lets a process exit while its workers are idle', async (t) => {
    const dir = await tempDir(t);
    const p = join(dir, 'f');
    const bytes = fixedBytes(17 * 1024 * 1024, 60);
    await writeFile(p, bytes);
    const code = `
      import { open } from 'node:fs/promises';
      const { FileHashJob, warmHashPool } = await import(${JSON.stringify(pathToFileURL(POOL).href)});
      warmHashPool();
      await new Promise((r) => setTimeout(r, 300)); // the workers are online and idle
      const fh = await open(${JSON.stringify(p)}, 'r');
      const r = await Promise.all([1, 2, 3].map(() => new FileHashJob(fh.fd, 1e12).result));
      await fh.close();
      console.log(r.map((x) => x.hex).join(' '));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.signal, null, 'the process ended by itself');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), [1, 2, 3].map(() => hex(bytes)).join(' '));
  });
});
