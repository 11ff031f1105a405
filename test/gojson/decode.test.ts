/**
 * Go `encoding/json` decoding as ocikit reproduces it (src/gojson/decode.ts). The repeated-key and
 * time cases were checked against skopeo 1.9.3 (through the Docker → OCI config conversion, see
 * test/model/convert.test.ts, which compares with the real tool).
 */
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { isOcikitError } from '../../src/errors.js';
import {
  type GoType,
  T,
  decodeGo,
  decodeGoObjectMap,
  foldKey,
  matchField,
  parseGoTime,
} from '../../src/gojson/decode.js';
import { formatGoTime } from '../../src/gojson/encode.js';
import { GoJSONError, parseGoJSON } from '../../src/gojson/parse.js';

const decode = (json: string, type: GoType) => decodeGo(parseGoJSON(Buffer.from(json)), type);
const typeError = (e: unknown) => e instanceof GoJSONError && e.kind === 'type';

describe('parseGoTime / formatGoTime', () => {
  const cases: [string, string][] = [
    ['1970-01-01T00:00:00Z', '1970-01-01T00:00:00Z'],
    ['2023-05-06T07:08:09.120000000+02:00', '2023-05-06T07:08:09.12+02:00'],
    ['2023-05-06T07:08:09.000000000Z', '2023-05-06T07:08:09Z'],
    ['2023-05-06T07:08:09+00:00', '2023-05-06T07:08:09Z'],
    ['2023-05-06T7:08:09-05:30', '2023-05-06T07:08:09-05:30'],
    ['2023-05-06T07:08:09.1234567891234Z', '2023-05-06T07:08:09.123456789Z'],
    ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00Z'],
  ];
  for (const [input, want] of cases) {
    it(`round-trips ${input} to ${want}`, () => assert.equal(formatGoTime(parseGoTime(input, 't')), want));
  }
  for (const bad of [
    '2023-02-29T00:00:00Z',
    '2023-13-01T00:00:00Z',
    '2023-01-01 00:00:00Z',
    '2023-01-01T00:00:00z',
    '2023-01-01T24:00:00Z',
    'yesterday',
  ]) {
    it(`refuses ${bad} as Go does`, () =>
      assert.throws(
        () => parseGoTime(bad, 't'),
        (e: unknown) => isOcikitError(e, 'INVALID_INPUT'),
      ));
  }
});

describe('parseGoTime, Go 1.19 corners', () => {
  const cases: [string, string][] = [
    ['2023-05-06T07:08:09,5Z', '2023-05-06T07:08:09.5Z'],
    ['2023-05-06T07:08:09-00:00', '2023-05-06T07:08:09Z'],
    ['2023-05-06T07:08:09+23:60', '2023-05-06T07:08:09+24:00'],
    ['2023-05-06T07:08:09+23:99', '2023-05-06T07:08:09+24:39'],
    ['2023-05-06T07:08:09+99:59', '2023-05-06T07:08:09+99:59'],
    ['0000-01-01T00:00:00Z', '0000-01-01T00:00:00Z'],
  ];
  for (const [input, want] of cases) {
    it(`reads ${input} as ${want}`, () => assert.equal(formatGoTime(parseGoTime(input, 't')), want));
  }
  for (const bad of [
    '2023-05-06T07:08:09+1:00',
    '2023-05-06T07:08:09+0100',
    '2023-05-06T07:08:09.Z',
    '2023-05-06T07:08:09,Z',
    '2023-05-6T07:08:09Z',
    '2023-05-06T007:08:09Z',
    '2023-05-06T07:60:09Z',
    '2023-05-06T07:08:60Z',
  ]) {
    it(`refuses ${bad}`, () => assert.throws(() => parseGoTime(bad, 't'), typeError));
  }
});

describe('decodeGo', () => {
  const IMAGE = T.struct({
    'os,omitempty': T.string,
    Env: T.slice(T.string),
    kept: T.bool,
    n: T.int,
    created: T.ptr(T.time),
    Labels: T.map(T.string),
    sub: T.struct({ a: T.string, b: T.string }),
    list: T.slice(T.struct({ a: T.string, b: T.string })),
  });

  it('matches keys exactly first, then with Go case folding (ſ ~ s, K ~ k)', () => {
    const twoCases = T.struct({ Name: T.string, name: T.string });
    assert.deepEqual(decode('{"name":"x","NAME":"y"}', twoCases), { name: 'x', Name: 'y' });
    assert.deepEqual(decode('{"OS":"x","os":"y","OS":"z"}', IMAGE), { os: 'z' });
    assert.deepEqual(decode('{"OS":"x"}', IMAGE), { os: 'x' });
    assert.deepEqual(decode('{"o\u017f":"x","\u212aept":true}', IMAGE), { os: 'x', kept: true });
    assert.equal(matchField({ os: 1 }, 'O\u017f'), 'os');
    assert.equal(matchField({ os: 1 }, 'o\u00df'), undefined);
    assert.equal(foldKey('wor\u212aingdir'), 'WORKINGDIR');
  });
  it('ignores unknown keys and keeps the zero value for absent fields', () => {
    assert.deepEqual(decode('{"unknown":[1,{"x":2}]}', IMAGE), {});
    assert.equal(decode('null', IMAGE), undefined);
  });
  it('merges repeated struct and map keys', () => {
    assert.deepEqual(decode('{"sub":{"a":"1"},"sub":{"b":"2"}}', IMAGE), { sub: { a: '1', b: '2' } });
    assert.deepEqual(decode('{"Labels":{"a":"1"},"Labels":{"b":"2","a":"3"}}', IMAGE), {
      Labels: new Map([
        ['a', '3'],
        ['b', '2'],
      ]),
    });
  });
  it('decodes a repeated slice key into the old elements, as Go does', () => {
    assert.deepEqual(decode('{"Env":["a","b"],"Env":[null]}', IMAGE), { Env: ['a'] });
    assert.deepEqual(decode('{"list":[{"a":"x"}],"list":[{"b":"y"}]}', IMAGE), { list: [{ a: 'x', b: 'y' }] });
    // Elements past the new length stay in Go's backing array and show through a longer array.
    assert.deepEqual(decode('{"Env":["a","b","c"],"Env":["x"],"Env":[null,null,null,null]}', IMAGE), {
      Env: ['x', 'b', 'c', undefined],
    });
    // An empty array makes a new slice: nothing shows through.
    assert.deepEqual(decode('{"Env":["a","b","c"],"Env":[],"Env":[null]}', IMAGE), { Env: [undefined] });
  });
  it('lets null keep strings, bools, ints and structs and clear slices, maps and pointers', () => {
    assert.deepEqual(
      decode(
        '{"os":"x","os":null,"kept":true,"kept":null,"n":5,"n":null,"sub":{"a":"1"},"sub":null,' +
          '"Env":["a"],"Env":null,"Labels":{},"Labels":null,"created":"2023-01-01T00:00:00Z","created":null}',
        IMAGE,
      ),
      { os: 'x', kept: true, n: 5n, sub: { a: '1' } },
    );
  });
  it('decodes ints as strconv.ParseInt does', () => {
    assert.deepEqual(decode('{"n":-9223372036854775808}', IMAGE), { n: -9223372036854775808n });
    for (const n of ['1.0', '1e0', '9223372036854775808', '"1"']) {
      assert.throws(() => decode(`{"n":${n}}`, IMAGE), typeError, n);
    }
  });
  it('decodes a time only from an unescaped string literal (time.Time sees the raw bytes)', () => {
    assert.deepEqual(decode('{"created":"2023-05-06T07:08:09Z"}', IMAGE), {
      created: { year: 2023, month: 5, day: 6, hour: 7, minute: 8, second: 9, nanos: 0, offset: 0 },
    });
    for (const v of ['"2023-05-06T07:08:09\\u005a"', '5', 'true', '[]', '{}']) {
      assert.throws(() => decode(`{"created":${v}}`, IMAGE), typeError, v);
    }
  });
  const mismatches: [string, string][] = [
    ['a number for a string', '{"os":5}'],
    ['a string for a bool', '{"kept":"yes"}'],
    ['an object for a slice', '{"Env":{}}'],
    ['a number in a string slice', '{"Env":["a",1]}'],
    ['an array for a struct', '{"sub":[]}'],
    ['a number for a map value', '{"Labels":{"a":1}}'],
    ['a string for the whole struct', '"x"'],
  ];
  for (const [label, json] of mismatches) {
    it(`refuses ${label} as a type error`, () =>
      assert.throws(
        () => decode(json, IMAGE),
        (e: unknown) => typeError(e) && isOcikitError(e, 'INVALID_INPUT'),
      ));
  }
  it('decodes []byte from base64 or an array of bytes', () => {
    assert.deepEqual(decode('"Zm9v"', T.bytes), Uint8Array.from([0x66, 0x6f, 0x6f]));
    assert.deepEqual(decode('[1,null,255]', T.bytes), Uint8Array.from([1, 0, 255]));
    assert.throws(() => decode('"Zm9"', T.bytes), typeError);
    assert.throws(() => decode('[256]', T.bytes), typeError);
  });
  it('keeps interface{} and json.RawMessage values as nodes, checking float64 range for interface{}', () => {
    assert.deepEqual(decode('{"a":[1]}', T.struct({ a: T.any })), {
      a: { kind: 'array', items: [{ kind: 'number', text: '1' }] },
    });
    assert.deepEqual(decode('null', T.raw), { kind: 'null' });
    assert.throws(() => decode('[1e400]', T.any), typeError);
    assert.deepEqual(decode('[1e400]', T.raw), { kind: 'array', items: [{ kind: 'number', text: '1e400' }] });
  });
  it('refuses struct tags it does not implement', () => {
    assert.throws(() => T.struct({ 'a,string': T.int }), /unsupported Go JSON field tag/);
    assert.throws(() => T.struct({ '1': T.int }), /unsupported Go JSON field tag/);
  });
});

describe('decodeGoObjectMap', () => {
  it('keeps the last of repeated keys and gives null values as null nodes', () => {
    const m = decodeGoObjectMap(parseGoJSON(Buffer.from('{"a":1,"b":null,"a":"x"}')));
    assert.deepEqual(
      [...m],
      [
        ['a', { kind: 'string', value: 'x' }],
        ['b', { kind: 'null' }],
      ],
    );
    assert.equal(decodeGoObjectMap(parseGoJSON(Buffer.from('null'))).size, 0);
    assert.throws(() => decodeGoObjectMap(parseGoJSON(Buffer.from('[]'))), typeError);
  });
});
