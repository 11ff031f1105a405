/** Go `encoding/base64` decoding with padded encodings (src/gojson/base64.ts). */
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { STD_ALPHABET, URL_ALPHABET, goBase64Decode } from '../../src/gojson/base64.js';

describe('goBase64Decode', () => {
  const ok: [string, string, string][] = [
    ['', STD_ALPHABET, ''],
    ['Zm9v', STD_ALPHABET, 'foo'],
    ['Zm8=', STD_ALPHABET, 'fo'],
    ['Zg==', STD_ALPHABET, 'f'],
    ['Zm\r\n9v\n', STD_ALPHABET, 'foo'],
    ['Zg=\n=', STD_ALPHABET, 'f'],
    ['Zh==', STD_ALPHABET, 'f'], // non-zero trailing bits: accepted (not Strict)
    ['-_8=', URL_ALPHABET, '\xfb\xff'],
    ['+/8=', STD_ALPHABET, '\xfb\xff'],
  ];
  for (const [input, alphabet, want] of ok) {
    it(`decodes ${JSON.stringify(input)}`, () =>
      assert.deepEqual(Buffer.from(goBase64Decode(input, alphabet)), Buffer.from(want, 'latin1')));
  }
  const bad: [string, string][] = [
    ['Zm9', STD_ALPHABET],
    ['Zg', STD_ALPHABET],
    ['Z===', STD_ALPHABET],
    ['Zg=', STD_ALPHABET],
    ['Zg==Zg==', STD_ALPHABET],
    ['Zm9v!', STD_ALPHABET],
    ['-_8=', STD_ALPHABET],
    ['+/8=', URL_ALPHABET],
    ['Zm 9v', STD_ALPHABET],
  ];
  for (const [input, alphabet] of bad) {
    it(`refuses ${JSON.stringify(input)} as Go does`, () =>
      assert.throws(() => goBase64Decode(input, alphabet), /illegal base64 data at input byte/));
  }
});
