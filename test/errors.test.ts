/** The one error shape (src/errors.ts): the detail fields an error is given, and no others. */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ErrorDetails, OcikitError, fromSystemError, isOcikitError } from '../src/errors.js';

describe('OcikitError', () => {
  it('has as own properties only the detail fields it was given', () => {
    const plain = new OcikitError('IO', 'x');
    assert.deepEqual(Object.keys(plain), ['name', 'code']);
    assert.equal(plain.cause, undefined);
    assert.ok(!Object.hasOwn(plain, 'cause'));

    const cause = new Error('lower');
    // `expected: undefined` as a JavaScript caller may pass it.
    const details = {
      cause,
      command: ['skopeo', 'copy'],
      exitCode: null,
      stderr: 'boom',
      expected: undefined,
      values: ['a'],
    };
    const e = new OcikitError('TOOL_FAILED', 'y', details as unknown as ErrorDetails);
    assert.deepEqual(Object.keys(e), ['name', 'code', 'command', 'exitCode', 'stderr', 'values']);
    assert.equal(e.cause, cause);
    assert.deepEqual(e.command, ['skopeo', 'copy']);
    assert.equal(e.exitCode, null);
    assert.equal(e.stderr, 'boom');
    assert.equal(e.expected, undefined);
    assert.deepEqual(e.values, ['a']);
    assert.equal(e.name, 'OcikitError');
    assert.ok(e instanceof Error);
    assert.ok(isOcikitError(e, 'TOOL_FAILED'));
    assert.ok(!isOcikitError(e, 'IO'));
  });

  it('fromSystemError maps ENOENT to NOT_FOUND, other codes to IO, and passes an OcikitError through', () => {
    const enoent = Object.assign(new Error('no'), { code: 'ENOENT' });
    assert.equal(fromSystemError(enoent, 'reading', '/p').code, 'NOT_FOUND');
    assert.equal(fromSystemError(Object.assign(new Error('no'), { code: 'EACCES' }), 'reading', '/p').code, 'IO');
    const own = new OcikitError('UNSAFE_PATH', 'z');
    assert.equal(fromSystemError(own, 'reading', '/p'), own);
  });
});
