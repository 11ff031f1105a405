/** Go `encoding/json` encoding as ocikit reproduces it (src/gojson/encode.ts). */
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { T, ZERO_TIME } from '../../src/gojson/decode.js';
import { encodeGo, goJsonString } from '../../src/gojson/encode.js';
import { GoJSONError } from '../../src/gojson/parse.js';

describe('goJsonString', () => {
  const cases: [string, string][] = [
    ['plain', '"plain"'],
    ['<a & b>', '"\\u003ca \\u0026 b\\u003e"'],
    ['quote " back \\', '"quote \\" back \\\\"'],
    ['\n\r\t', '"\\n\\r\\t"'],
    ['\b\f\u0000\u001f', '"\\u0008\\u000c\\u0000\\u001f"'],
    ['\u2028\u2029', '"\\u2028\\u2029"'],
    ['é\u{1F600}\u007f', '"é\u{1F600}\u007f"'],
    ['lone \ud800 x', '"lone \ufffd x"'],
  ];
  for (const [input, want] of cases) {
    it(`encodes ${JSON.stringify(input)} as Go does`, () => assert.equal(goJsonString(input), want));
  }
});

describe('encodeGo', () => {
  const S = T.struct({
    'str,omitempty': T.string,
    'flag,omitempty': T.bool,
    'n,omitempty': T.int,
    'list,omitempty': T.slice(T.string),
    'm,omitempty': T.map(T.int),
    'p,omitempty': T.ptr(T.string),
    'b,omitempty': T.bytes,
    'sub,omitempty': T.struct({}),
    'when,omitempty': T.time,
    plain: T.string,
    nil: T.slice(T.string),
  });

  it('writes zero values, omitting the empty omitempty fields but never a struct or a time', () => {
    assert.equal(encodeGo(undefined, S), '{"sub":{},"when":"0001-01-01T00:00:00Z","plain":"","nil":null}');
    assert.equal(
      encodeGo({ str: '', flag: false, n: 0n, list: [], m: new Map(), b: new Uint8Array(0) }, S),
      '{"sub":{},"when":"0001-01-01T00:00:00Z","plain":"","nil":null}',
    );
  });
  it('writes set fields in declaration order, map keys sorted by UTF-8 bytes', () => {
    const value = {
      nil: ['x', undefined],
      plain: 'p<>',
      m: new Map<string, unknown>([
        ['\u{1F600}', 1n],
        ['\uE000', 2n],
        ['b', undefined],
        ['A', -3n],
      ]),
      str: 's',
      flag: true,
      n: 7n,
      list: ['a'],
      p: 'q',
      b: Uint8Array.from([0xfb, 0xff]),
      when: { ...ZERO_TIME, year: 2023, nanos: 120000000, offset: -90 },
    };
    assert.equal(
      encodeGo(value, S),
      '{"str":"s","flag":true,"n":7,"list":["a"],"m":{"A":-3,"b":0,"\uE000":2,"\u{1F600}":1},"p":"q",' +
        '"b":"+/8=","sub":{},"when":"2023-01-01T00:00:00.12-01:30","plain":"p\\u003c\\u003e","nil":["x",""]}',
    );
  });
  it('fails like Go on a year it cannot write', () => {
    assert.throws(
      () => encodeGo({ ...ZERO_TIME, year: 10000 }, T.time),
      (e: unknown) => e instanceof GoJSONError,
    );
  });
  it('does not encode interface{} or json.RawMessage', () => {
    assert.throws(() => encodeGo({ kind: 'null' }, T.any), /not implemented/);
  });
});
