/**
 * Properties of docker references (src/model/docker-reference.ts), which come from sources files
 * and registries: parsing throws only OcikitErrors, and parse → format → parse is a fixed point
 * (the canonical string parses to the same reference and formats to itself).
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatDockerReference, parseDockerReference } from '../../src/model/docker-reference.js';
import { onlyOcikitErrors, params } from './params.js';

const component = fc.stringMatching(/^[a-z0-9]{1,4}(?:(?:[._]|__|-{1,3})[a-z0-9]{1,4}){0,2}$/);
const domainComponent = fc.stringMatching(/^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,4}[a-zA-Z0-9])?$/);
const domain = fc.oneof(
  fc.constantFrom(
    'localhost',
    'localhost:5000',
    'docker.io',
    'index.docker.io',
    'quay.io',
    '[::1]:5000',
    '127.0.0.1:5000',
  ),
  fc
    .tuple(fc.array(domainComponent, { minLength: 1, maxLength: 3 }), fc.option(fc.integer({ min: 0, max: 65535 })))
    .map(([parts, port]) => `${parts.join('.')}${port === null ? '' : `:${port}`}`),
);
const tag = fc.stringMatching(/^\w[\w.-]{0,12}$/);
const digest = fc.stringMatching(/^[a-f0-9]{64}$/).map((h) => `sha256:${h}`);

/**
 * References built from the grammar, each part optional. Without a domain, a first component
 * that looks like one (a `.`, or `localhost`) would be read as the domain, so one is given then.
 */
const reference = fc
  .tuple(fc.option(domain), fc.array(component, { minLength: 1, maxLength: 3 }), fc.option(tag), fc.option(digest))
  .map(([d0, path, t, dg]) => {
    const d = d0 === null && (path[0]!.includes('.') || path[0] === 'localhost') ? 'quay.io' : d0;
    return `${d === null ? '' : `${d}/`}${path.join('/')}${t === null ? '' : `:${t}`}${dg === null ? '' : `@${dg}`}`;
  });

/** A grammar reference with a few characters inserted or removed. */
const mutated = fc
  .tuple(reference, fc.array(fc.tuple(fc.nat(), fc.string({ unit: 'binary', maxLength: 2 })), { maxLength: 3 }))
  .map(([r, edits]) =>
    edits.reduce((s, [at, ins]) => {
      const p = at % (s.length + 1);
      return ins === '' ? s.slice(0, p) + s.slice(p + 1) : s.slice(0, p) + ins + s.slice(p);
    }, r),
  );

const anyName = fc.oneof(reference, mutated, fc.string({ unit: 'binary', maxLength: 40 }));

describe('docker reference properties', () => {
  it('parse → format → parse is a fixed point', () => {
    fc.assert(
      fc.property(anyName, (name) => {
        let ref: ReturnType<typeof parseDockerReference>;
        try {
          ref = parseDockerReference(name);
        } catch (err) {
          return onlyOcikitErrors(() => {
            throw err;
          });
        }
        const canonical = formatDockerReference(ref);
        const again = parseDockerReference(canonical);
        assert.deepEqual(again, ref, `${name} → ${canonical}`);
        assert.equal(formatDockerReference(again), canonical);
        return true;
      }),
      params(400),
    );
  });

  it('accepts every reference the grammar builds', () => {
    fc.assert(
      fc.property(reference, (name) => {
        if (name.split('@')[0]!.length > 255) return; // longer names are refused on purpose
        parseDockerReference(name);
      }),
      params(),
    );
  });

  it('throws only OcikitErrors on any value', () => {
    fc.assert(
      fc.property(fc.anything({ withBigInt: true, withDate: true, withMap: true, withNullPrototype: true }), (v) =>
        onlyOcikitErrors(() => parseDockerReference(v)),
      ),
      params(),
    );
  });
});
