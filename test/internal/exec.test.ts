/** Tests for src/internal/exec.ts `runTool`: standard input. */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runTool } from '../../src/internal/exec.js';

describe('runTool input', () => {
  it('writes `input` to the tool’s standard input and closes it', async () => {
    const r = await runTool(['sh', '-c', 'cat; echo " done"'], { input: 'quay.io' });
    assert.equal(r.stdout.toString(), 'quay.io done\n');
  });
  it('gives no standard input without it', async () => {
    const r = await runTool(['sh', '-c', 'cat; echo end']);
    assert.equal(r.stdout.toString(), 'end\n');
  });
  it('survives a tool that exits without reading its input', async () => {
    const r = await runTool(['true'], { input: 'x'.repeat(1 << 20) });
    assert.equal(r.exitCode, 0);
  });
});
