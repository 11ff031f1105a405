/** `ocikit deploy`'s terminal progress (`deployProgressRenderer` of src/cli/commands/deploy.ts over src/cli/progress.ts). */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deployProgressRenderer } from '../../src/cli/commands/deploy.js';
import type { DeployProgress } from '../../src/deploy/deploy.js';

function stream(isTTY: boolean) {
  let text = '';
  return { stream: { isTTY, columns: 120, write: (s: string) => (text += s) }, text: () => text };
}

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const ev = (layer: number, digest: string, phase: DeployProgress['phase'], bytes: number, entries: number) => ({
  layer,
  layers: 2,
  digest,
  phase,
  bytes,
  total: 4 * 1024 * 1024,
  entries,
});

describe('deploy progress', () => {
  it('on a terminal: one line per layer in turn with the layer count, bytes of the blob and entries', () => {
    const s = stream(true);
    const p = deployProgressRenderer(s.stream);
    for (const e of [
      ev(0, D1, 'start', 0, 0),
      ev(0, D1, 'progress', 2 * 1024 * 1024, 1200),
      ev(0, D1, 'done', 4 * 1024 * 1024, 2500),
      ev(1, D2, 'start', 0, 0),
      ev(1, D2, 'progress', 1024 * 1024, 30),
      ev(1, D2, 'done', 4 * 1024 * 1024, 31),
    ])
      p.onProgress(e);
    p.finish();
    const text = s.text();
    const first = text.indexOf('layer 111111111111');
    const second = text.indexOf('layer 222222222222');
    assert.ok(first >= 0 && second > first, text);
    // the live line (redrawn at most every so often: the first one here) and the final line per layer
    assert.match(text, /\[1\/2\] layer 111111111111 {2}0 B \/ 4\.0 MiB .* 0 entries\r/);
    assert.match(text, /\[1\/2\] layer 111111111111 {2}4\.0 MiB in \d+:\d\d( \([^)]*\/s\))?\n/);
    assert.match(text, /\[2\/2\] layer 222222222222 {2}4\.0 MiB in \d+:\d\d( \([^)]*\/s\))?\n$/);
  });

  it('prints nothing when stderr is not a terminal', () => {
    const s = stream(false);
    const p = deployProgressRenderer(s.stream);
    p.onProgress(ev(0, D1, 'start', 0, 0));
    p.onProgress(ev(0, D1, 'done', 10, 3));
    p.finish();
    assert.equal(s.text(), '');
  });
});
