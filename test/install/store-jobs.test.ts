/**
 * How many skopeo copies an install into containers-storage runs at once (`storeJobs`): the
 * request's `jobs`, never more than the images, and one at a time when two images carry the same
 * name (the later one must end up holding it, as in input order).
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ResolvedImage } from '../../src/osbuild/inputs.js';
import { storeJobs } from '../../src/install/to-storage.js';

const images = (...names: string[]) => names.map((name) => ({ name }) as ResolvedImage);

describe('storeJobs', () => {
  it('is jobs, at most the number of images, at least 1', () => {
    assert.equal(storeJobs(images('a', 'b', 'c'), 2), 2);
    assert.equal(storeJobs(images('a', 'b'), 8), 2);
    assert.equal(storeJobs(images('a', 'b'), 1), 1);
    assert.equal(storeJobs(images(), 2), 1);
    assert.equal(storeJobs(images('a', 'b')), 1);
  });
  it('is 1 when two images share a name', () => {
    assert.equal(storeJobs(images('a', 'b', 'a'), 4), 1);
    assert.equal(storeJobs(images('foo', 'b', 'docker.io/library/foo:latest'), 4), 1);
  });
});
