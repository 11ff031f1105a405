/**
 * Path containment (src/internal/fs.ts `joinInside`), which every destination and input path goes
 * through: for arbitrary segment lists it either refuses with UNSAFE_PATH or returns a normalised
 * path that is the root or lies below it, checked here by string prefix, independently of
 * `isInside`; a list with a `..` segment is always refused, and a list without one joins to the
 * root plus its segments.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isOcikitError } from '../../src/errors.js';
import { joinInside } from '../../src/internal/fs.js';
import { params } from './params.js';

const segment = fc.oneof(
  fc.constantFrom('..', '.', '', '...', '..data', '.x', 'a', 'b c', '\\..', '..\\', '%2e%2e', '\u2025', 'ʻ..'),
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.stringMatching(/^[./]{1,5}$/),
);
const rel = fc
  .tuple(fc.boolean(), fc.array(segment, { maxLength: 8 }))
  .map(([abs, segs]) => `${abs ? '/' : ''}${segs.join('/')}`);
const root = fc.constantFrom('/', '/tmp/root', '/tmp/root/', '/a/b/../c', '/x/./y//', 'relative/root', '.');

describe('path containment properties', () => {
  it('joinInside never returns a path outside the root', () => {
    fc.assert(
      fc.property(root, rel, (r, p) => {
        const base = path.resolve(r);
        let out: string;
        try {
          out = joinInside(r, p, 'path');
        } catch (err) {
          assert.ok(isOcikitError(err, 'UNSAFE_PATH'), String(err));
          return;
        }
        assert.equal(path.normalize(out), out, 'normalised');
        assert.ok(!out.includes('\0'));
        assert.ok(out === base || out.startsWith(base === '/' ? '/' : `${base}/`), `${out} is not inside ${base}`);
      }),
      params(500),
    );
  });

  it('refuses every list with a ".." segment and joins every other one to root + segments', () => {
    fc.assert(
      fc.property(root, rel, (r, p) => {
        const segs = p.split('/').filter((s) => s !== '' && s !== '.');
        if (segs.includes('..') || p.includes('\0')) {
          assert.throws(() => joinInside(r, p, 'path'), { code: 'UNSAFE_PATH' });
          return;
        }
        let out: string;
        try {
          out = joinInside(r, p, 'path');
        } catch (err) {
          // Only a name that merely begins with ".." (`..data`) may be refused here (a precaution
          // of isInside today; such names are ordinary names inside the root).
          assert.ok(isOcikitError(err, 'UNSAFE_PATH'), String(err));
          assert.ok(
            segs.some((s) => s.startsWith('..')),
            `${p} refused: ${String(err)}`,
          );
          return;
        }
        assert.equal(out, path.join(path.resolve(r), ...segs));
      }),
      params(500),
    );
  });
});
