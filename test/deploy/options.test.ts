/** The container-deploy stage options (osbuild `org.osbuild.container-deploy.meta.json`) and exclude entries (R45). */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkExclude, parseDeployStageOptions } from '../../src/deploy/options.js';
import { isOcikitError } from '../../src/errors.js';

describe('parseDeployStageOptions', () => {
  it('accepts the schema: exclude (strings, at least one) and remove-signatures (ignored)', () => {
    assert.deepEqual(parseDeployStageOptions({}), { exclude: [], removeSignatures: false });
    assert.deepEqual(
      parseDeployStageOptions({ exclude: ['file2', 'dir2/', '/var/cache'], 'remove-signatures': true }),
      {
        exclude: ['file2', 'dir2/', '/var/cache'],
        removeSignatures: true,
      },
    );
  });

  it('refuses what the schema refuses, every problem named in one error', () => {
    for (const [options, fields] of [
      [null, ['options']],
      [[], ['options']],
      [{ exclude: [] }, ['exclude']],
      [{ exclude: 'file2' }, ['exclude']],
      [{ exclude: ['a', 3] }, ['exclude[1]']],
      [{ 'remove-signatures': 'yes' }, ['remove-signatures']],
      [{ destination: {}, exclude: [] }, ['destination', 'exclude']],
    ] as const) {
      assert.throws(
        () => parseDeployStageOptions(options),
        (e: unknown) => isOcikitError(e, 'INVALID_INPUT') && JSON.stringify(e.values) === JSON.stringify(fields),
        JSON.stringify(options),
      );
    }
  });

  it('refuses an exclude entry leaving the tree (UNSAFE_PATH) or naming the tree itself', () => {
    assert.throws(
      () => parseDeployStageOptions({ exclude: ['ok', '../x'] }),
      (e: unknown) => isOcikitError(e, 'UNSAFE_PATH') && /exclude\[1\] "\.\.\/x"/.test((e as Error).message),
    );
    for (const p of ['a/../../b', '/..', '..'])
      assert.throws(
        () => checkExclude(p),
        (e: unknown) => isOcikitError(e, 'UNSAFE_PATH'),
      );
    for (const p of ['', '/', './', 'a\0b'])
      assert.throws(
        () => checkExclude(p),
        (e: unknown) => isOcikitError(e, 'INVALID_INPUT'),
      );
    for (const p of ['a', '/a/b/', './a', '..data', 'a/..b']) checkExclude(p);
  });
});
