/** Where the test fixtures live (the source tree's test/fixtures, also when run from dist/). */
import { fileURLToPath } from 'node:url';

/** Absolute path of `test/fixtures/upstream/` in the checkout. */
export const UPSTREAM = fileURLToPath(new URL('../../../test/fixtures/upstream/', import.meta.url));
