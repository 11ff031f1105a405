/**
 * A small tmpfs for tests that need a full device: `mount -t tmpfs -o size=… tmpfs DIR` on a fresh
 * directory, unmounted when the test ends (`umount`, then `umount -l` as a last resort). Mounting
 * needs root: on a developer machine without it the test is skipped with a message saying so;
 * under CI (`CI=true`, where tests run as root) it fails instead, as the tool gates of
 * `tools.ts` do.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/**
 * Mounts a tmpfs of `size` (`4m`) on a fresh directory and returns it, or undefined when the test
 * was skipped (not root, outside CI).
 * @throws under CI when it cannot be mounted.
 */
export async function mountTmpfs(t: TestContext, size: string): Promise<string | undefined> {
  if (process.getuid?.() !== 0) {
    const msg = 'needs root to mount a tmpfs';
    if (process.env.CI === 'true') throw new Error(`${msg}; CI runs the tests as root`);
    t.skip(msg);
    return undefined;
  }
  const dir = await mkdtemp(join(tmpdir(), 'ocikit-tmpfs-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    await rmdir(dir);
    throw new Error(`mount -t tmpfs failed: ${r.stderr}`);
  }
  t.after(async () => {
    if (spawnSync('umount', [dir]).status !== 0) spawnSync('umount', ['-l', dir]);
    await rmdir(dir);
  });
  return dir;
}
