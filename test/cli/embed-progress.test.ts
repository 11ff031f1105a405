/** `ocikit embed`'s terminal progress (`phases` of src/cli/commands/embed.ts over src/cli/progress.ts). */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { phases } from '../../src/cli/commands/embed.js';
import type { EmbedProgress } from '../../src/embed/embed.js';
import type { Digest } from '../../src/model/digest.js';

const ID = `sha256:${'b'.repeat(64)}` as Digest;

function stream(isTTY: boolean) {
  let text = '';
  return { stream: { isTTY, columns: 120, write: (s: string) => (text += s) }, text: () => text };
}

/** One embed's events: resolve, fetch of one image, install of a remote and a local image. */
function events(): EmbedProgress[] {
  const item = {
    id: ID,
    kind: 'image' as const,
    name: 'localhost/a',
    digest: ID,
    status: 'fetched' as const,
    bytes: 2048,
  };
  const inst = (index: number, name: string, phase: 'start' | 'progress' | 'done') => ({
    phase: 'install' as const,
    event: {
      index,
      count: 2,
      name,
      phase,
      bytes: 0,
      total: null,
      ...(phase === 'progress' ? { status: 'Writing manifest to image destination' } : {}),
    },
  });
  return [
    { phase: 'resolve', resolving: 1, locked: 1 },
    { phase: 'fetch', event: { type: 'start', id: ID, kind: 'image', name: 'localhost/a' } },
    { phase: 'fetch', event: { type: 'size', id: ID, bytes: 2048 } },
    { phase: 'fetch', event: { type: 'bytes', id: ID, bytes: 2048 } },
    { phase: 'fetch', event: { type: 'done', item } },
    inst(0, 'localhost/a:1', 'start'),
    inst(0, 'localhost/a:1', 'progress'),
    inst(0, 'localhost/a:1', 'done'),
    inst(1, 'localhost/local/img:v1', 'start'),
    inst(1, 'localhost/local/img:v1', 'done'),
  ];
}

describe('embed progress', () => {
  it('on a terminal: the resolve, fetch and install headers in order, with a fetch line and install lines under theirs', () => {
    const s = stream(true);
    const p = phases(s.stream);
    for (const e of events()) p.onProgress(e);
    p.finish();
    const text = s.text();
    const at = (needle: string) => {
      const i = text.indexOf(needle);
      assert.ok(i >= 0, `${JSON.stringify(needle)} in ${JSON.stringify(text)}`);
      return i;
    };
    const resolve = at('\r\x1b[Kresolve: 1 to resolve, 1 from the lock\n');
    const fetch = at('\r\x1b[Kfetch\n');
    const fetched = at(`fetched image localhost/a ${ID}\n`);
    const install = at('\r\x1b[Kinstall\n');
    const first = at('[1/2] localhost/a:1  done in 0:00');
    const second = at('[2/2] localhost/local/img:v1  done in 0:00');
    assert.ok(resolve < fetch && fetch < fetched && fetched < install && install < first && first < second, text);
    for (const h of ['resolve: ', 'fetch\n', 'install\n'])
      assert.equal(text.split(`\r\x1b[K${h}`).length, 2, `the ${JSON.stringify(h)} header is printed once`);
  });

  it('writes nothing when stderr is not a terminal', () => {
    const s = stream(false);
    const p = phases(s.stream);
    for (const e of events()) p.onProgress(e);
    p.finish();
    assert.equal(s.text(), '');
  });
});
