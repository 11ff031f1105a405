/**
 * Small file systems for tests: a tmpfs for tests that need a full device (`mount -t tmpfs -o
 * size=… tmpfs DIR`), and an XFS on a loop device for tests of reflinks (a sparse image file,
 * `mkfs.xfs`, `mount -o loop`), each on a fresh directory and unmounted when the test ends
 * (`umount`, then `umount -l` as a last resort). Mounting needs root (and XFS needs xfsprogs): on
 * a developer machine without them the test is skipped with a message saying so; under CI
 * (`CI=true`, where tests run as root and .ci/run installs xfsprogs) it fails instead, as the
 * tool gates of `tools.ts` do.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, rmdir } from 'node:fs/promises';
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

/**
 * Mounts a fresh XFS (320 MiB, sparse: the smallest mkfs.xfs makes; reflinks on, its default) on
 * a loop device and returns its mount point, or undefined when the test was skipped (not root or
 * no mkfs.xfs, outside CI).
 * @throws under CI when it cannot be made or mounted.
 */
export async function mountXfs(t: TestContext): Promise<string | undefined> {
  const missing =
    process.getuid?.() !== 0
      ? 'needs root to mount a loop device'
      : spawnSync('sh', ['-c', 'command -v mkfs.xfs']).status !== 0
        ? 'needs mkfs.xfs (apt-get install xfsprogs)'
        : undefined;
  if (missing !== undefined) {
    if (process.env.CI === 'true') throw new Error(`${missing}; CI runs the tests as root with xfsprogs`);
    t.skip(missing);
    return undefined;
  }
  const base = await mkdtemp(join(tmpdir(), 'ocikit-xfs-'));
  const image = join(base, 'fs.img');
  const dir = join(base, 'mnt');
  const sh = (cmd: string[]) => spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', timeout: 60_000 });
  const steps = [
    ['truncate', '-s', '320M', image],
    ['mkfs.xfs', '-q', '-f', image],
    ['mkdir', dir],
    ['mount', '-o', 'loop', image, dir],
  ];
  for (const step of steps) {
    const r = sh(step);
    if (r.status !== 0) {
      await rm(base, { recursive: true, force: true });
      throw new Error(`${step.join(' ')} failed: ${r.stderr || r.error}`);
    }
  }
  t.after(async () => {
    if (sh(['umount', dir]).status !== 0) sh(['umount', '-l', dir]);
    await rm(base, { recursive: true, force: true });
  });
  return dir;
}
