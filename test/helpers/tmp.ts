/** Temporary directories for tests, removed when the test ends (even when it fails). */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** Makes a fresh temporary directory that is removed after the test `t`. */
export async function tempDir(t: TestContext, prefix = 'ocikit-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
