/**
 * All or nothing (R40, with issue 12's change: TREE is created when missing). A deploy into an
 * empty tree writes into a hidden staging directory `TREE/.ocikit-deploy-<owner>-XXXXXX/` (the
 * owner — pid, start time, boot, PID namespace — in its name, `internal/ownership.ts`) and
 * renames its children into TREE at the end; any failure removes the staging directory, so TREE
 * stays empty. The staging directory starts with TREE's own mode, owner, times and xattrs, and
 * whatever the layers do to their root (R30) is carried over to TREE with the children.
 * Directories without owner write permission (a rootless deploy gives them their mode before the
 * move) are made writable for their own rename — moving a directory to another parent rewrites
 * its `..` entry, which needs write permission on it without `CAP_DAC_OVERRIDE` — and get their
 * mode back right after.
 *
 * A staging directory a killed run left (SIGKILL can clean nothing up) is not content: when TREE
 * holds nothing but `.ocikit-deploy-*` entries, those whose owner is provably dead are removed
 * first and TREE counts as empty; one whose owner is alive (or cannot be told) means another
 * deploy is writing into TREE, which is refused (`EXISTS`). In a tree with other content such
 * names are content like any other. A tree that is not empty is written in place, as a layer
 * would write it; a failure then leaves it partly written (stated in the summary's warnings).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { OcikitError, fromSystemError } from '../errors.js';
import { trackTemp, untrackTemp } from '../internal/cleanup.js';
import { createOwnedTempDir, sweepStale } from '../internal/ownership.js';
import { type XattrError, getXattr, listXattrs, loadXattrs, removeXattr, setXattr } from '../internal/xattr.js';

/** The staging directories' name prefix. */
export const STAGING_PREFIX = '.ocikit-deploy-';

/** Where the layers go. */
export interface DeployTarget {
  /** The directory the layers are applied into: the staging directory, or TREE itself. */
  readonly root: string;
  /** True when writing through a staging directory (TREE was empty). */
  readonly staged: boolean;
  /** Moves the staged result into TREE (nothing to do in place). */
  commit(): Promise<void>;
  /** Removes the staging directory after a failure (nothing to do in place). */
  abort(): Promise<void>;
}

/**
 * Creates TREE when missing, decides between staging and writing in place, and creates the
 * staging directory (rules in the module header).
 * @throws OcikitError `INVALID_INPUT` (TREE is not a directory), `EXISTS` (a live deploy is
 *   staging into TREE), `IO`, `NO_SPACE`.
 */
export async function prepareTarget(tree: string): Promise<DeployTarget> {
  try {
    await fs.mkdir(tree, { recursive: true, mode: 0o755 });
  } catch (err) {
    throw fromSystemError(err, 'creating the tree', tree);
  }
  const st = await fs.stat(tree).catch((err: unknown) => {
    throw fromSystemError(err, 'tree', tree);
  });
  if (!st.isDirectory()) throw new OcikitError('INVALID_INPUT', `tree ${tree} is not a directory`);
  let names = await fs.readdir(tree).catch((err: unknown) => {
    throw fromSystemError(err, 'tree', tree);
  });
  if (names.length > 0 && names.every((n) => n.startsWith(STAGING_PREFIX))) {
    await sweepStale(tree, STAGING_PREFIX, { unownedAgeMs: 0 });
    names = await fs.readdir(tree);
    const live = names.find((n) => n.startsWith(STAGING_PREFIX));
    if (live !== undefined && names.every((n) => n.startsWith(STAGING_PREFIX))) {
      throw new OcikitError(
        'EXISTS',
        `tree ${tree}: another deploy is writing into it (staging directory ${live}); if none is running, remove it`,
      );
    }
  }
  if (names.length > 0) {
    return { root: tree, staged: false, commit: async () => {}, abort: async () => {} };
  }
  const staging = await createOwnedTempDir(tree, STAGING_PREFIX);
  trackTemp(staging);
  try {
    await fs.chmod(staging, st.mode & 0o7777);
    if (process.getuid?.() === 0) await fs.lchown(staging, st.uid, st.gid);
    await copyXattrs(tree, staging);
    await fs.utimes(staging, st.atime, st.mtime);
  } catch (err) {
    await removeStaging(staging);
    throw fromSystemError(err, 'preparing the staging directory', staging);
  }
  return {
    root: staging,
    staged: true,
    commit: () => commitStaging(staging, tree),
    abort: () => removeStaging(staging),
  };
}

/**
 * Renames every child of `staging` into `tree`, then gives `tree` the staged root's mode, owner,
 * xattrs and times (R30).
 */
async function commitStaging(staging: string, tree: string): Promise<void> {
  try {
    const st = await fs.lstat(staging);
    if ((st.mode & 0o700) !== 0o700) await fs.chmod(staging, (st.mode & 0o7777) | 0o700);
    for (const child of await fs.readdir(staging, { withFileTypes: true })) {
      const from = path.join(staging, child.name);
      const to = path.join(tree, child.name);
      const mode = child.isDirectory() ? (await fs.lstat(from)).mode & 0o7777 : 0o200;
      if ((mode & 0o200) === 0) {
        await fs.chmod(from, mode | 0o200);
        await fs.rename(from, to);
        await fs.chmod(to, mode);
      } else await fs.rename(from, to);
    }
    if (process.getuid?.() === 0) await fs.lchown(tree, st.uid, st.gid);
    await copyXattrs(staging, tree); // after the owner: chown drops security.capability (R29)
    await fs.rmdir(staging);
    untrackTemp(staging);
    await fs.chmod(tree, st.mode & 0o7777);
    await fs.utimes(tree, st.atime, st.mtime);
  } catch (err) {
    throw fromSystemError(err, 'moving the deployed tree into', tree);
  }
}

/**
 * Gives the directory `to` exactly the xattrs of `from` (R30: the root entry's, on TREE), leaving
 * `security.selinux` alone on both (labels are the build's business, R39). Only the names this
 * process may list take part: a rootless deploy sees no `trusted.*` and sets none either.
 */
async function copyXattrs(from: string, to: string): Promise<void> {
  const src = Buffer.from(from);
  const dst = Buffer.from(to);
  const keep = (n: string) => n !== 'security.selinux';
  await loadXattrs();
  const list = async (p: Buffer) => {
    try {
      return (await listXattrs(p)).filter(keep);
    } catch (err) {
      if ((err as XattrError).code === 'ENOTSUP') return []; // a file system without xattrs
      throw err;
    }
  };
  const want = await list(src);
  for (const n of await list(dst)) if (!want.includes(n)) await removeXattr(dst, n);
  for (const n of want) {
    const value = await getXattr(src, n);
    if (value !== undefined) await setXattr(dst, n, value);
  }
}

/** Removes the staging directory, making directories writable first where a rootless deploy left them read-only. */
export async function removeStaging(staging: string): Promise<void> {
  try {
    await fs.rm(staging, { recursive: true, force: true });
  } catch {
    const open = async (p: string): Promise<void> => {
      const st = await fs.lstat(p).catch(() => undefined);
      if (!st?.isDirectory()) return;
      await fs.chmod(p, 0o700).catch(() => undefined);
      for (const n of await fs.readdir(p).catch(() => [] as string[])) await open(path.join(p, n));
    };
    await open(staging);
    await fs.rm(staging, { recursive: true, force: true }).catch(() => undefined);
  }
  untrackTemp(staging);
}
