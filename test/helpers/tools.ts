/**
 * Real-tool gates for integration tests. A test that needs skopeo, podman or docker-registry calls
 * {@link needTool}: on a developer machine without the tool the test is skipped with a message
 * saying so; under CI (`CI=true`) a missing tool fails the test instead, so CI never hides one.
 */
import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';

const cache = new Map<string, boolean>();

/** True when `name` runs (`name --version` exits 0). */
export function haveTool(name: string): boolean {
  let ok = cache.get(name);
  if (ok === undefined) {
    const r = spawnSync(name, name === 'openssl' ? ['version'] : ['--version'], { stdio: 'ignore' });
    ok = r.status === 0;
    cache.set(name, ok);
  }
  return ok;
}

/**
 * Returns true when every tool is present. Otherwise skips the test (returns false), or, under
 * CI, throws so the test fails.
 */
export function needTool(t: TestContext, ...names: string[]): boolean {
  const missing = names.filter((n) => !haveTool(n));
  if (missing.length === 0) return true;
  const msg = `needs ${missing.join(', ')} (not installed)`;
  if (process.env.CI === 'true') throw new Error(`${msg}; CI must install it`);
  t.skip(msg);
  return false;
}
