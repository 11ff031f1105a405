/** Go `encoding/json` syntax as ocikit reproduces it (src/gojson/parse.ts). */
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { isOcikitError } from '../../src/errors.js';
import { GoJSONError, type GoNode, MAX_NESTING_DEPTH, parseGoJSON } from '../../src/gojson/parse.js';

const parse = (s: string | Uint8Array) => parseGoJSON(typeof s === 'string' ? Buffer.from(s) : s);
const syntaxError = (e: unknown) =>
  e instanceof GoJSONError && e.kind === 'syntax' && isOcikitError(e, 'INVALID_INPUT');

describe('parseGoJSON', () => {
  it('keeps number text, key order and duplicate keys', () => {
    assert.deepEqual(parse('{"b":1.0,"a":1e0,"b":-0}'), {
      kind: 'object',
      members: [
        { key: 'b', value: { kind: 'number', text: '1.0' } },
        { key: 'a', value: { kind: 'number', text: '1e0' } },
        { key: 'b', value: { kind: 'number', text: '-0' } },
      ],
    });
  });
  it('reads literals, arrays and surrounding JSON whitespace', () => {
    assert.deepEqual(parse(' \t\r\n[true,false,null,"x"] \n'), {
      kind: 'array',
      items: [
        { kind: 'bool', value: true },
        { kind: 'bool', value: false },
        { kind: 'null' },
        { kind: 'string', value: 'x' },
      ],
    });
  });
  const strings: [string, Uint8Array | string, string][] = [
    ['an invalid UTF-8 byte, one U+FFFD per byte', Buffer.from([0x22, 0xe2, 0x82, 0x41, 0x22]), '\ufffd\ufffdA'],
    ['a surrogate pair of escapes', '"\\ud83d\\ude00"', '\u{1F600}'],
    ['a lone high surrogate escape', '"\\ud800x"', '\ufffdx'],
    ['a high surrogate before another escape', '"\\ud800\\u0041"', '\ufffdA'],
    ['a lone low surrogate escape', '"\\udc00"', '\ufffd'],
    ['the short escapes', '"\\"\\\\\\/\\b\\f\\n\\r\\t"', '"\\/\b\f\n\r\t'],
    ['raw UTF-8', '"é\u{1F600}"', 'é\u{1F600}'],
  ];
  for (const [label, input, want] of strings) {
    it(`unquotes ${label} as Go does`, () => {
      const node = parse(input);
      assert.equal(node.kind === 'string' && node.value, want);
    });
  }
  it('marks string literals that held an escape, and only those', () => {
    assert.deepEqual(parse('["a\\u0062", "ab", "\\n"]'), {
      kind: 'array',
      items: [
        { kind: 'string', value: 'ab', escaped: true },
        { kind: 'string', value: 'ab' },
        { kind: 'string', value: '\n', escaped: true },
      ],
    });
  });
  it(`accepts ${MAX_NESTING_DEPTH} nested containers and refuses one more`, () => {
    const nest = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
    let node: GoNode = parse(nest(MAX_NESTING_DEPTH));
    let depth = 0;
    while (node.kind === 'array') {
      depth++;
      node = node.items[0] ?? { kind: 'null' };
    }
    assert.equal(depth, MAX_NESTING_DEPTH);
    assert.throws(() => parse(nest(MAX_NESTING_DEPTH + 1)), syntaxError);
  });
  const bad: [string, Uint8Array | string][] = [
    ['a byte order mark', '\ufeff{}'],
    ['trailing data', '{} {}'],
    ['nothing', ''],
    ['a trailing comma', '[1,]'],
    ['a leading zero', '01'],
    ['a bare decimal point', '1.'],
    ['an exponent without digits', '1e+'],
    ['a control character in a string', '"a\nb"'],
    ['an unknown escape', '"\\x"'],
    ['a short \\u escape', '"\\u12"'],
    ['an unterminated string', '"abc'],
    ['single quotes', "{'a':1}"],
    ['a misspelt literal', 'nul'],
    ['a non-string key', '{1:2}'],
    ['a missing colon', '{"a" 1}'],
    ['a vertical tab as whitespace', '\u000b1'],
  ];
  for (const [label, input] of bad) {
    it(`refuses ${label} as a syntax error`, () => assert.throws(() => parse(input), syntaxError));
  }
});
