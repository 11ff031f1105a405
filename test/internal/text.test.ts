/** Tests for src/internal/text.ts: control characters escaped, everything else kept. */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { escapeControl } from '../../src/internal/text.js';

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

describe('escapeControl', () => {
  const table: [string, string, string][] = [
    ['plain text', 'manifest unknown', 'manifest unknown'],
    ['CR, LF, TAB', 'a\rb\nc\td', 'a\\rb\\nc\\td'],
    ['NUL and the other C0 controls', '\u0000\u0001\u0007\u001f', '\\x00\\x01\\x07\\x1f'],
    ['an ESC sequence (CSI)', '\u001b[31mred\u001b[0m', '\\x1b[31mred\\x1b[0m'],
    ['an OSC title sequence', '\u001b]0;pwned\u0007', '\\x1b]0;pwned\\x07'],
    ['DEL', 'a\u007fb', 'a\\x7fb'],
    ['the C1 controls, first, CSI, NEL and last', '\u0080\u009b2J\u0085\u009f', '\\u0080\\u009b2J\\u0085\\u009f'],
    ['printable Latin-1 right after C1', '\u00a0é\u00ff', '\u00a0é\u00ff'],
    ['other Unicode, kept', 'naïve — 日本 🙂', 'naïve — 日本 🙂'],
    ['a backslash, kept as it is', 'C:\\x1b', 'C:\\x1b'],
    ['the empty string', '', ''],
  ];
  for (const [what, input, want] of table) {
    it(what, () => assert.equal(escapeControl(input), want));
  }

  it('leaves no control character in any string, and is idempotent (fixed seed)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 64 }), (s) => {
        const out = escapeControl(s);
        assert.equal(CONTROL.test(out), false);
        assert.equal(escapeControl(out), out);
        // Nothing but controls changes: removing the escapes of controls gives back the input.
        assert.equal(s.replace(new RegExp(CONTROL, 'g'), '') === s, out === s);
      }),
      { seed: 8, numRuns: 500 },
    );
  });
});
