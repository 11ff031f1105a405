/**
 * Publishing finished work: the one way ocikit makes a file or directory appear complete or not at
 * all. Work is written under a temporary sibling name ({@link tempSibling}, same directory so the
 * final step is a rename or link on one file system), made durable with {@link syncPath} where the
 * caller needs it, and then published by {@link publishFile} or {@link publishDir}, which never
 * replace an existing target.
 *
 * Files are published with link(2), which fails with EEXIST instead of replacing (an atomic
 * create-if-absent); on file systems without hard links, and for directories, the target is checked
 * to be absent and the temporary renamed (rename(2) would replace an empty directory, so a small
 * window between the check and the rename remains).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { OcikitError, fromSystemError } from '../errors.js';

/** A random suffix for temporary names. */
export function tempSuffix(): string {
  return randomBytes(6).toString('hex');
}

/** A temporary sibling name for `target`: same directory, hidden, unique (`.<name>.<tag>-<hex>`). */
export function tempSibling(target: string, tag = 'tmp'): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${tag}-${tempSuffix()}`);
}

/** fsync(2) a file or a directory, so what it holds (or names) survives a crash. */
export async function syncPath(p: string): Promise<void> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(p, 'r');
  } catch (err) {
    throw fromSystemError(err, 'syncing', p);
  }
  try {
    await fh.sync();
  } catch (err) {
    throw fromSystemError(err, 'syncing', p);
  } finally {
    await fh.close();
  }
}

/** What to do when the target exists already. */
export interface PublishOptions {
  /**
   * `fail` (default): an `EXISTS` error, the temporary is left to the caller. `keep`: the
   * existing target wins (it was made the same way, e.g. by a concurrent run filling a
   * content-addressed cache); the temporary is removed and the result is `existed`.
   */
  readonly existing?: 'fail' | 'keep' | undefined;
  /** Names the target in error messages (default `destination`). */
  readonly what?: string | undefined;
}

/** Whether a publish put the temporary in place or found the target there already (`keep`). */
export type PublishResult = 'published' | 'existed';

/**
 * @throws OcikitError `EXISTS` when `target` is present (unless `existing: 'keep'`), `NOT_FOUND`,
 *   `IO`.
 */
async function checkAbsent(target: string, what: string): Promise<boolean> {
  try {
    await fs.lstat(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw fromSystemError(err, what, target);
  }
  return false;
}

function existsError(target: string, what: string, during: boolean): OcikitError {
  return new OcikitError(
    'EXISTS',
    during
      ? `${what} ${target} appeared while writing; not replaced`
      : `${what} ${target} exists already; ocikit does not overwrite or merge into it`,
  );
}

/**
 * Fails with `EXISTS` when `target` exists (any type, a dangling symlink included).
 * @throws OcikitError `EXISTS`, `IO`.
 */
export async function assertAbsent(target: string, what = 'destination'): Promise<void> {
  if (!(await checkAbsent(target, what))) throw existsError(target, what, false);
}

/**
 * Publishes the finished file `tmp` at `target` without replacing anything.
 * @throws OcikitError `EXISTS` (see {@link PublishOptions.existing}), `IO`.
 */
export async function publishFile(tmp: string, target: string, opts: PublishOptions = {}): Promise<PublishResult> {
  const what = opts.what ?? 'destination';
  try {
    await fs.link(tmp, target);
    // The target is complete; a sibling left behind by a failed unlink is only litter.
    await fs.rm(tmp, { force: true }).catch(() => {});
    return 'published';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return existed(tmp, target, what, opts, true);
    // File systems without hard links: check, then rename, as for directories.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP')
      throw fromSystemError(err, 'publishing', target);
  }
  return renameAbsent(tmp, target, what, opts);
}

/**
 * Publishes the finished directory `tmp` at `target` without replacing anything.
 * @throws OcikitError `EXISTS` (see {@link PublishOptions.existing}), `IO`.
 */
export async function publishDir(tmp: string, target: string, opts: PublishOptions = {}): Promise<PublishResult> {
  return renameAbsent(tmp, target, opts.what ?? 'destination', opts);
}

async function renameAbsent(tmp: string, target: string, what: string, opts: PublishOptions): Promise<PublishResult> {
  if (!(await checkAbsent(target, what))) return existed(tmp, target, what, opts, false);
  try {
    await fs.rename(tmp, target);
    return 'published';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return existed(tmp, target, what, opts, true);
    throw fromSystemError(err, 'publishing', target);
  }
}

async function existed(
  tmp: string,
  target: string,
  what: string,
  opts: PublishOptions,
  during: boolean,
): Promise<PublishResult> {
  if (opts.existing !== 'keep') throw existsError(target, what, during);
  await fs.rm(tmp, { recursive: true, force: true });
  return 'existed';
}

/**
 * Puts the finished file `tmp` (a {@link tempSibling} of `target`) in place of `target`, replacing
 * it atomically (rename(2)): for output files a user names and expects rewritten (a lock file),
 * never for content-addressed entries. The directory is synced so the new name survives a crash.
 * @throws OcikitError `IO`, `NOT_FOUND`.
 */
export async function replaceFile(tmp: string, target: string): Promise<void> {
  try {
    await fs.rename(tmp, target);
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => {});
    throw fromSystemError(err, 'publishing', target);
  }
  await syncPath(path.dirname(target));
}
