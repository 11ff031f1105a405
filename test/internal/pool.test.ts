/** Bounded concurrency (src/internal/pool.ts): the bound holds, order is kept, failures stop new work. */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { createLimiter, runPool } from '../../src/internal/pool.js';

describe('createLimiter', () => {
  it('never runs more than n at once and returns each result', async () => {
    const limit = createLimiter(3);
    let active = 0;
    let peak = 0;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        limit(async () => {
          active++;
          peak = Math.max(peak, active);
          await sleep(i % 4);
          active--;
          return i * 2;
        }),
      ),
    );
    assert.equal(peak, 3);
    assert.deepEqual(
      results,
      Array.from({ length: 20 }, (_, i) => i * 2),
    );
  });

  it('treats a bound below 1 as 1, and a rejection frees its slot', async () => {
    const limit = createLimiter(0);
    await assert.rejects(
      limit(async () => {
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(await limit(async () => 'next'), 'next');
  });
});

describe('runPool', () => {
  it('stops starting tasks after the first failure and rethrows it once the running ones end', async () => {
    const started: number[] = [];
    let finishedAfterFailure = false;
    const tasks = Array.from({ length: 10 }, (_, i) => async () => {
      started.push(i);
      if (i === 1) throw new Error('task 1 failed');
      await sleep(20);
      if (i === 0) finishedAfterFailure = true;
    });
    await assert.rejects(runPool(tasks, 2), /task 1 failed/);
    assert.deepEqual(started, [0, 1]);
    assert.ok(finishedAfterFailure, 'a task running at the failure is awaited, not abandoned');
  });

  it('runs every task when none fails', async () => {
    let n = 0;
    await runPool(
      Array.from({ length: 7 }, () => async () => {
        n++;
      }),
      3,
    );
    assert.equal(n, 7);
  });
});
