/**
 * Owned temporaries: telling a temporary directory of a live ocikit process from one a killed
 * process left behind, so that a later run can remove the stale ones and never a live one.
 *
 * Node.js has no flock(2), so liveness is not a held lock but the owner's identity, written into
 * the directory's name when mkdtemp(2) creates it (so there is no moment without it, and nothing
 * extra inside): `<prefix><pid>-<start>-<boot>-<pidns>-XXXXXX`, where `start` is the process's
 * start time (field 22 of `/proc/<pid>/stat`, clock ticks after boot), `boot` the first 8 hex
 * digits of `/proc/sys/kernel/random/boot_id` and `pidns` the inode of `/proc/self/ns/pid` (see
 * proc(5)). The start time and boot make it proof against PID reuse: the owner is dead when
 * `/proc/<pid>` is gone or a zombie, when it started at another time, or when the machine has
 * rebooted since. A name from another PID namespace (another container sharing the directory)
 * cannot be checked and counts as alive.
 *
 * {@link sweepStale} removes, in one directory and only among names with one prefix, the entries
 * whose owner is provably dead. A name without an owner (left by an ocikit that did not write
 * them) is removed only once nothing in it has changed for {@link UNOWNED_AGE_MS}: a live writer
 * keeps touching what it writes. Without `/proc` nothing is ever swept.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fromSystemError } from '../errors.js';

/** How long an entry without an owner in its name must be untouched before it is swept. */
export const UNOWNED_AGE_MS = 60 * 60 * 1000;

/** Entries looked at, at most, to tell that an entry without an owner is untouched. */
const AGE_WALK_LIMIT = 10_000;

/** Who created an owned temporary directory. */
export interface OwnerRecord {
  readonly pid: number;
  /** Field 22 of `/proc/<pid>/stat`: the start time in clock ticks after boot. */
  readonly start: string;
  /** The first 8 hex digits of the boot ID. */
  readonly boot: string;
  /** The inode of the PID namespace, so that a PID is only looked up where it means the same. */
  readonly pidns: string;
}

/** Fields 3… of `/proc/<pid>/stat` (after the parenthesised command name, which may hold spaces). */
async function statFields(pid: number): Promise<string[] | undefined> {
  let text: string;
  try {
    text = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  return text
    .slice(text.lastIndexOf(')') + 2)
    .trim()
    .split(' ');
}

let self: Promise<OwnerRecord | undefined> | undefined;

/** This process's record; undefined where `/proc` cannot tell (then nothing is swept). */
export function currentOwner(): Promise<OwnerRecord | undefined> {
  self ??= (async () => {
    try {
      const [fields, boot, ns] = await Promise.all([
        statFields(process.pid),
        fs.readFile('/proc/sys/kernel/random/boot_id', 'utf8'),
        fs.readlink('/proc/self/ns/pid'),
      ]);
      const start = fields?.[19];
      const bootHex = boot.replace(/[^0-9a-f]/g, '').slice(0, 8);
      const pidns = /^pid:\[(\d+)\]$/.exec(ns)?.[1];
      if (start === undefined || !/^\d+$/.test(start) || bootHex.length !== 8 || pidns === undefined) return undefined;
      return { pid: process.pid, start, boot: bootHex, pidns };
    } catch {
      return undefined;
    }
  })();
  return self;
}

/** The part of an owned name after its prefix: `<pid>-<start>-<boot>-<pidns>-` (mkdtemp adds 6 characters). */
function ownerTag(o: OwnerRecord): string {
  return `${o.pid}-${o.start}-${o.boot}-${o.pidns}-`;
}

/** The owner named in `name` (which starts with `prefix`), or undefined when it names none. */
export function ownerOf(name: string, prefix: string): OwnerRecord | undefined {
  if (!name.startsWith(prefix)) return undefined;
  const m = /^([1-9]\d*)-(\d+)-([0-9a-f]{8})-(\d+)-[A-Za-z0-9]{6}$/.exec(name.slice(prefix.length));
  if (!m) return undefined;
  return { pid: Number(m[1]), start: m[2]!, boot: m[3]!, pidns: m[4]! };
}

/**
 * False when the process `record` names is provably gone (see the module header); true when it
 * is alive or cannot be told.
 */
export async function isOwnerAlive(record: OwnerRecord): Promise<boolean> {
  const me = await currentOwner();
  if (!me) return true;
  if (record.boot !== me.boot) return false;
  if (record.pidns !== me.pidns) return true;
  const fields = await statFields(record.pid);
  if (fields === undefined) {
    // Gone, unless /proc/<pid> is there and only its stat could not be read.
    return fs.stat(`/proc/${record.pid}`).then(
      () => true,
      () => false,
    );
  }
  const state = fields[0];
  if (state === 'Z' || state === 'X') return false;
  return fields[19] === record.start;
}

/**
 * Creates a fresh directory `<parent>/<prefix><owner>-XXXXXX` (mkdtemp) owned by this process.
 * The caller removes it (and registers it for removal on interruption).
 * @throws OcikitError `NOT_FOUND` (no such parent), `NO_SPACE`, `IO`.
 */
export async function createOwnedTempDir(parent: string, prefix: string): Promise<string> {
  const me = await currentOwner();
  try {
    return await fs.mkdtemp(path.join(parent, me ? prefix + ownerTag(me) : prefix));
  } catch (err) {
    throw fromSystemError(err, 'creating a temporary directory in', parent);
  }
}

/** True when nothing in `dir` (itself included, at most {@link AGE_WALK_LIMIT} entries) changed since `since`. */
async function untouchedSince(dir: string, since: number): Promise<boolean> {
  const queue = [dir];
  let seen = 0;
  while (queue.length > 0) {
    const p = queue.pop()!;
    if (++seen > AGE_WALK_LIMIT) return false;
    const st = await fs.lstat(p);
    if (Math.max(st.mtimeMs, st.ctimeMs) > since) return false;
    if (st.isDirectory()) for (const name of await fs.readdir(p)) queue.push(path.join(p, name));
  }
  return true;
}

/**
 * Removes the tree `root` without leaving its file system: a directory on another device (a
 * mount point) is not entered, so what is mounted there stays, and so does `root`.
 */
async function removeTree(root: string): Promise<void> {
  const dev = (await fs.lstat(root)).dev;
  const remove = async (p: string): Promise<void> => {
    const st = await fs.lstat(p);
    if (!st.isDirectory()) {
      await fs.unlink(p);
      return;
    }
    if (st.dev !== dev) throw new Error(`${p} is a mount point`);
    for (const name of await fs.readdir(p)) await remove(path.join(p, name));
    await fs.rmdir(p);
  };
  await remove(root);
}

/**
 * True when the entry `name` of `dir` is an ocikit temporary of this user whose owner is provably
 * dead, or, naming no owner, untouched for {@link UNOWNED_AGE_MS}.
 */
async function isStale(
  dir: string,
  name: string,
  prefix: string,
  uid: number | undefined,
  unownedAgeMs: number,
): Promise<boolean> {
  const p = path.join(dir, name);
  const st = await fs.lstat(p);
  if (uid !== undefined && st.uid !== uid) return false;
  const owner = ownerOf(name, prefix);
  if (owner) return st.isDirectory() && !(await isOwnerAlive(owner));
  // Older names: a directory, or the temporary file of an archive destination.
  if (!st.isDirectory() && !st.isFile()) return false;
  return untouchedSince(p, Date.now() - unownedAgeMs);
}

/** Options of {@link sweepStale}. */
export interface SweepOptions {
  /** How long an entry without an owner must be untouched (default {@link UNOWNED_AGE_MS}). */
  readonly unownedAgeMs?: number | undefined;
}

/**
 * Removes the stale temporaries directly in `dir` whose names start with `prefix` (rules in the
 * module header): only this user's, never through a symlink, never into another file system. Best effort: what cannot be read or removed is left, and
 * nothing is thrown.
 * @returns the paths removed.
 */
export async function sweepStale(dir: string, prefix: string, opts: SweepOptions = {}): Promise<string[]> {
  if (prefix === '' || !(await currentOwner())) return [];
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return [];
  }
  const uid = process.getuid?.();
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix) || name.length === prefix.length) continue;
    const p = path.join(dir, name);
    try {
      if (!(await isStale(dir, name, prefix, uid, opts.unownedAgeMs ?? UNOWNED_AGE_MS))) continue;
      await removeTree(p);
      removed.push(p);
    } catch {
      // best effort: a concurrent sweep removed it first, or something in it is busy
    }
  }
  return removed;
}
