/** The input guards of src/internal/guards.ts. */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeValue, isRecord } from '../../src/internal/guards.js';

describe('isRecord', () => {
  it('is true for plain objects only', () => {
    assert.ok(isRecord({}) && isRecord(Object.create(null)));
    for (const v of [null, undefined, [], 'x', 1, true]) assert.ok(!isRecord(v), String(v));
  });
});

describe('describeValue', () => {
  const cases: [unknown, string][] = [
    [undefined, 'missing'],
    [null, 'null'],
    ['x"y', 'the string "x\\"y"'],
    [3, 'the number 3'],
    [10n, 'the number 10'],
    [false, 'the boolean false'],
    [[1], 'an array'],
    [new Date(0), 'the date 1970-01-01T00:00:00.000Z'],
    [{ a: 1 }, 'an object'],
    [Object.create(null), 'an object'],
  ];
  for (const [v, want] of cases) it(`describes ${want}`, () => assert.equal(describeValue(v), want));
});
