/** The `ocikit fetch` progress renderer of `src/cli/progress.ts` (the install renderer has its own suite). */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createFetchProgressRenderer } from '../../src/cli/progress.js';
import type { FetchItemSummary } from '../../src/fetch/fetch.js';
import type { Digest } from '../../src/model/digest.js';

const ID = `sha256:${'a'.repeat(64)}` as Digest;

function tty(isTTY = true, columns: number | undefined = 120) {
  let text = '';
  return { stream: { isTTY, columns, write: (s: string) => (text += s) }, text: () => text };
}

function done(over: Partial<FetchItemSummary> = {}): { type: 'done'; item: FetchItemSummary } {
  return {
    type: 'done',
    item: { id: ID, kind: 'image', name: 'localhost/a', digest: ID, status: 'fetched', bytes: 2048, ...over },
  };
}

describe('createFetchProgressRenderer', () => {
  it('writes nothing when the stream is not a terminal', () => {
    const s = tty(false);
    const r = createFetchProgressRenderer(s.stream);
    r.onProgress({ type: 'start', id: ID, kind: 'image', name: 'localhost/a' });
    r.onProgress({ type: 'bytes', id: ID, bytes: 10 });
    r.onProgress(done());
    r.finish();
    assert.equal(s.text(), '');
  });

  it('draws one status line, throttles byte counts, prints finished items above it and erases it', () => {
    const s = tty();
    let now = 0;
    const r = createFetchProgressRenderer(s.stream, { now: () => now });
    r.onProgress({ type: 'start', id: ID, kind: 'image', name: 'localhost/a' });
    assert.equal(s.text(), `\r${'fetch: 0/1 items, 0 B'.padEnd(60)}`);
    r.onProgress({ type: 'size', id: ID, bytes: 2048 });
    assert.ok(s.text().endsWith(`\r${'fetch: 0/1 items, 0 B of 2.0 KiB 0%'.padEnd(60)}`), JSON.stringify(s.text()));
    const before = s.text().length;
    now = 50;
    r.onProgress({ type: 'bytes', id: ID, bytes: 1024 });
    assert.equal(s.text().length, before, 'a byte count within 100 ms of the last draw is not drawn');
    now = 150;
    r.onProgress({ type: 'bytes', id: ID, bytes: 512 });
    assert.ok(s.text().endsWith('fetch: 0/1 items, 1.5 KiB of 2.0 KiB 75%'.padEnd(60)), JSON.stringify(s.text()));
    const mid = s.text().length;
    r.onProgress(done());
    assert.equal(
      s.text().slice(mid),
      `\r\x1b[Kfetched image localhost/a ${ID}\n\r${'fetch: 1/1 items, 1.5 KiB of 2.0 KiB 75%'.padEnd(60)}`,
    );
    const end = s.text().length;
    r.finish();
    r.finish();
    assert.equal(s.text().slice(end), '\r\x1b[K', 'finish erases once');
  });

  it('counts local items when they finish and names unnamed ones by their ID', () => {
    const s = tty();
    const r = createFetchProgressRenderer(s.stream, { now: () => 0 });
    r.onProgress(done({ kind: 'local', name: '', digest: null, status: 'verified', bytes: 0 }));
    assert.equal(s.text(), `\r\x1b[Kverified local ${ID} ${ID}\n\r${'fetch: 1/1 items, 0 B'.padEnd(60)}`);
  });

  it('cuts the status line to the terminal width', () => {
    for (const [columns, width] of [
      [30, 29],
      [0, 60],
      [undefined, 60],
    ] as const) {
      const s = tty(true, columns);
      const r = createFetchProgressRenderer(s.stream, { now: () => 0 });
      r.onProgress({ type: 'size', id: ID, bytes: 3 * 1024 ** 3 });
      assert.equal(s.text().length, 1 + width, `columns ${columns}`);
      assert.ok(s.text().startsWith('\rfetch: 0/0 items, 0 B of 3.0 GiB 0%'.slice(0, width + 1)));
    }
  });

  it('writes nothing on finish when it never drew', () => {
    const s = tty();
    createFetchProgressRenderer(s.stream).finish();
    assert.equal(s.text(), '');
  });
});
