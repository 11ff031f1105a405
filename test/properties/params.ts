/**
 * Run settings shared by the property tests. In `npm test`: a fixed seed and a fixed number of
 * runs, so every run checks the same cases. `npm run test:fuzz` sets `FUZZ_SECONDS` (per
 * property) and a fresh seed, printed at the start and in every failure; `FUZZ_SEED` replays a
 * seed and `FUZZ_RUNS` sets the number of runs.
 */
import fc from 'fast-check';
import { ERROR_CODES, isOcikitError } from '../../src/errors.js';

const seconds = Number(process.env.FUZZ_SECONDS ?? 0);
const runs = process.env.FUZZ_RUNS === undefined ? undefined : Number(process.env.FUZZ_RUNS);

/** True under `npm run test:fuzz` (or when FUZZ_SECONDS or FUZZ_RUNS is set). */
export const FUZZING = seconds > 0 || runs !== undefined;

/** The seed of this process's properties: 42, or under fuzzing FUZZ_SEED or a fresh one. */
export const SEED = FUZZING
  ? process.env.FUZZ_SEED !== undefined
    ? Number(process.env.FUZZ_SEED)
    : (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) | 0
  : 42;
if (FUZZING) console.log(`# fuzz seed ${SEED} (replay: FUZZ_SEED=${SEED} npm run test:fuzz)`);

/** fast-check parameters: `numRuns` runs with the fixed seed, or as many as fit FUZZ_SECONDS. */
export function params<T>(numRuns = 200): fc.Parameters<T> {
  if (!FUZZING) return { seed: SEED, numRuns };
  return {
    seed: SEED,
    numRuns: runs ?? Number.MAX_SAFE_INTEGER,
    ...(seconds > 0 ? { plugins: [fc.interruptAfterTimeLimit(seconds * 1000) as fc.Plugin<T>] } : {}),
  };
}

/** True when `fn` returns or throws an OcikitError with a known code; anything else is rethrown. */
export function onlyOcikitErrors(fn: () => unknown): boolean {
  try {
    fn();
  } catch (err) {
    return isOcikitErrorLike(err);
  }
  return true;
}

/** {@link onlyOcikitErrors} for async functions. */
export async function onlyOcikitErrorsAsync(fn: () => Promise<unknown>): Promise<boolean> {
  try {
    await fn();
  } catch (err) {
    return isOcikitErrorLike(err);
  }
  return true;
}

function isOcikitErrorLike(err: unknown): boolean {
  if (isOcikitError(err) && (ERROR_CODES as readonly string[]).includes(err.code)) return true;
  throw err; // fast-check reports it with the counterexample and the seed
}
