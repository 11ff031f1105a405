/**
 * Directories held open by descriptor, so that the path checked is the path written.
 *
 * A destination inside a tree is reached from the tree's root one component at a time, each
 * opened with `O_DIRECTORY | O_NOFOLLOW` relative to the descriptor of the one before it
 * (through `/proc/self/fd/N/<name>`: Node has no `openat`). A component that is a symlink is
 * followed only by ocikit itself, from the descriptor of its directory, and only while it stays
 * inside the root (a `..` above the root, an absolute target outside it or a dangling target is
 * `UNSAFE_PATH`); so the walk never leaves the root, whatever the symlinks say. Everything is then
 * created and published relative to the final directory's descriptor, which no later rename or
 * symlink swap of a parent can redirect; {@link HeldDir.verify} walks the path again afterwards and
 * refuses when it no longer leads to that directory.
 *
 * Missing components are created on the way (mkdir through the parent's descriptor) and
 * remembered: {@link HeldDir.removeCreated} removes only those, deepest first, each only with
 * rmdir (never recursively) and only while it is still the directory this process created, so a
 * directory another process filled meanwhile is left alone. Linux only (`/proc/self/fd`).
 */
import { constants as fsc } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { OcikitError, fromSystemError } from '../errors.js';
import { isInside, joinInside } from './fs.js';

/** At most this many symlinks are followed in one walk (the kernel's MAXSYMLINKS). */
const MAX_LINKS = 40;

const DIR_FLAGS = fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW;

/** A directory held open: paths through its descriptor, removal of what the walk created. */
export interface HeldDir {
  /** The path the directory was asked for (what messages and results name). */
  readonly path: string;
  /** `/proc/self/fd/N`: this very directory, for this process, whatever happens to {@link path}. */
  readonly proc: string;
  /** `/proc/<pid>/fd/N`: the same directory for a child process, while this one holds it. */
  readonly procForChild: string;
  /** `<proc>/<name>`: an entry of the directory, reached through its descriptor. */
  at(name: string): string;
  /** Rewrites {@link proc} into {@link path} in the message of `err` (an error of an operation through it). */
  relabel<E>(err: E): E;
  /**
   * Walks {@link path} again from the root and refuses (`UNSAFE_PATH`) unless it still leads to this
   * directory (same device and inode).
   */
  verify(): Promise<void>;
  /** Removes the directories the walk created (rules in the module header); never throws. */
  removeCreated(): Promise<void>;
  /** Closes every descriptor of the walk; the `proc` paths are invalid afterwards. */
  close(): Promise<void>;
}

interface Opened {
  readonly fh: fs.FileHandle;
  readonly proc: string;
  readonly dev: number;
  readonly ino: number;
}

interface Created {
  readonly parent: Opened;
  readonly name: string;
  readonly dev: number;
  readonly ino: number;
}

/** The state of one walk: the directories from the root down, and what was opened and created. */
interface Walk {
  readonly root: string;
  readonly realRoot: string;
  readonly what: string;
  readonly create: boolean;
  stack: Opened[];
  readonly opened: Opened[];
  readonly created: Created[];
  links: number;
}

async function openDir(file: string, flags = DIR_FLAGS): Promise<Opened> {
  const fh = await fs.open(file, flags);
  try {
    const st = await fh.stat();
    return { fh, proc: `/proc/self/fd/${fh.fd}`, dev: st.dev, ino: st.ino };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

async function closeAll(w: Walk): Promise<void> {
  for (const o of w.opened.splice(0).reverse()) await o.fh.close().catch(() => undefined);
}

const unsafe = (w: Walk, msg: string) => new OcikitError('UNSAFE_PATH', `${w.what}: ${msg}`);

/** How {@link descend} treats what it meets. */
interface Step {
  /** How messages name the directory the segments start from, or the symlink being followed. */
  readonly shown: string;
  /** Inside a symlink's target: a missing component is a dangling link, and nothing is created. */
  readonly inLink: boolean;
  /** The last segment may name something that is not a directory (the destination itself). */
  readonly leafOk: boolean;
}

/** What one component turned out to be. */
type Met =
  | { readonly kind: 'dir'; readonly dir: Opened; readonly made: boolean }
  | { readonly kind: 'link'; readonly target: string }
  | { readonly kind: 'missing' }
  | { readonly kind: 'other' };

/** How often a component that changes while it is looked at is looked at again. */
const ATTEMPTS = 3;

/**
 * Looks at the entry `seg` of `top` (creating it first when `mayCreate`), again when it changed
 * between two steps (a directory that vanished or turned out to be a symlink a moment ago).
 */
async function meet(w: Walk, top: Opened, seg: string, here: string, mayCreate: boolean): Promise<Met> {
  const entry = `${top.proc}/${seg}`;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    let made = false;
    if (mayCreate) {
      try {
        await fs.mkdir(entry, { mode: 0o755 });
        made = true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fromSystemError(err, `creating ${w.what}`, here);
      }
    }
    try {
      return { kind: 'dir', dir: await openDir(entry), made };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && !mayCreate) return { kind: 'missing' };
      if (code !== 'ENOENT' && code !== 'ELOOP' && code !== 'ENOTDIR') throw fromSystemError(err, w.what, here);
    }
    const st = await fs.lstat(entry).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw fromSystemError(err, w.what, here);
    });
    if (st?.isSymbolicLink()) {
      const target = await fs.readlink(entry).catch(() => undefined);
      if (target !== undefined) return { kind: 'link', target };
    } else if (st && !st.isDirectory()) {
      return { kind: 'other' };
    }
  }
  throw unsafe(w, `${here} kept changing while it was walked`);
}

/**
 * Walks `segments` down from the top of the stack. Returns false when a component is missing and
 * nothing may be created (`create` off).
 */
async function descend(w: Walk, segments: readonly string[], step: Step): Promise<boolean> {
  const last = segments.length - 1;
  for (const [i, seg] of segments.entries()) {
    if (seg === '' || seg === '.') continue;
    const here = step.inLink ? step.shown : `${step.shown}/${segments.slice(0, i + 1).join('/')}`;
    if (seg === '..') {
      if (w.stack.length === 1) throw unsafe(w, `${here} leads out of ${w.root}`);
      w.stack = w.stack.slice(0, -1);
      continue;
    }
    const top = w.stack[w.stack.length - 1]!;
    const met = await meet(w, top, seg, here, w.create && !step.inLink);
    const leafOk = step.leafOk && i === last;
    switch (met.kind) {
      case 'missing':
        if (step.inLink) throw unsafe(w, `${here} is a dangling symlink`);
        return false;
      case 'other':
        if (leafOk) return true;
        throw new OcikitError('IO', `${w.what}: ${here} is not a directory`);
      case 'link':
        await follow(w, met.target, here, leafOk);
        continue;
      case 'dir':
        w.opened.push(met.dir);
        w.stack = [...w.stack, met.dir];
        if (met.made) w.created.push({ parent: top, name: seg, dev: met.dir.dev, ino: met.dir.ino });
    }
  }
  return true;
}

/** Follows a symlink to `target` (met at `here`) from the top of the stack, inside the root only. */
async function follow(w: Walk, target: string, here: string, leafOk: boolean): Promise<void> {
  if (++w.links > MAX_LINKS) throw unsafe(w, `${here}: more than ${MAX_LINKS} symlinks on the way`);
  const shown = `${here} (a symlink to ${JSON.stringify(target)})`;
  let segments = target.split('/');
  if (target.startsWith('/')) {
    // An absolute target means the host's root: acceptable only when it names the root or below.
    const prefix = w.realRoot === '/' ? '/' : `${w.realRoot}/`;
    if (target !== w.realRoot && !target.startsWith(prefix)) throw unsafe(w, `${shown} leads out of ${w.root}`);
    segments = target.slice(prefix.length).split('/');
    w.stack = w.stack.slice(0, 1);
  }
  await descend(w, segments, { shown, inLink: true, leafOk });
}

/** How messages name the root: without a trailing slash, so that `/` + segment reads right. */
const shownRoot = (root: string) => root.replace(/\/+$/, '');

async function startWalk(root: string, what: string, create: boolean): Promise<Walk> {
  let realRoot: string;
  let top: Opened;
  try {
    realRoot = await fs.realpath(root);
    top = await openDir(realRoot, fsc.O_RDONLY | fsc.O_DIRECTORY);
  } catch (err) {
    throw fromSystemError(err, what, root);
  }
  const w: Walk = { root, realRoot, what, create, stack: [top], opened: [top], created: [], links: 0 };
  try {
    await fs.stat(top.proc);
  } catch (err) {
    await closeAll(w);
    throw new OcikitError('UNSUPPORTED', `${what}: writing inside ${root} needs /proc/self/fd (Linux)`, { cause: err });
  }
  return w;
}

function segmentsOf(root: string, dir: string, what: string): string[] {
  if (!isInside(root, dir)) throw new OcikitError('UNSAFE_PATH', `${what}: ${dir} is not inside ${root}`);
  return path.relative(root, dir).split(path.sep);
}

/**
 * Walks the absolute path `dir` (inside `root`, as {@link joinInside} returns it) down from `root`,
 * creating missing directories when `create` is set, and holds the final directory open.
 * @throws OcikitError `UNSAFE_PATH` (a symlink out of the root, dangling or looping), `NOT_FOUND`
 *   (`root`, or a component when `create` is off), `IO` (a component that is not a directory).
 */
export async function openDirInside(
  root: string,
  dir: string,
  what: string,
  opts: { readonly create: boolean },
): Promise<HeldDir> {
  const segments = segmentsOf(path.resolve(root), dir, what);
  const w = await startWalk(root, what, opts.create);
  try {
    if (!(await descend(w, segments, { shown: shownRoot(root), inLink: false, leafOk: false }))) {
      throw new OcikitError('NOT_FOUND', `${what}: ${dir} does not exist`);
    }
  } catch (err) {
    await removeCreated(w.created);
    await closeAll(w);
    throw err;
  }
  const final = w.stack[w.stack.length - 1]!;
  const procForChild = `/proc/${process.pid}/fd/${final.fh.fd}`;
  // Either path, not followed by another digit (`/proc/self/fd/12` is not `/proc/self/fd/123`).
  const named = new RegExp(`(?:${procForChild}|${final.proc})(?![0-9])`, 'g');
  return {
    path: dir,
    proc: final.proc,
    procForChild,
    at: (name) => `${final.proc}/${name}`,
    relabel<E>(err: E): E {
      if (err instanceof Error) {
        err.message = err.message.replace(named, dir);
      }
      return err;
    },
    async verify() {
      const again = await startWalk(root, what, false);
      try {
        const found = (await descend(again, segments, { shown: shownRoot(root), inLink: false, leafOk: false }))
          ? again.stack[again.stack.length - 1]!
          : null;
        if (!found || found.dev !== final.dev || found.ino !== final.ino) {
          throw unsafe(w, `${dir} was moved or replaced while it was written; refused`);
        }
      } catch (err) {
        if (err instanceof OcikitError && err.code === 'UNSAFE_PATH') throw err;
        const why = err instanceof Error ? err.message : String(err);
        throw new OcikitError('UNSAFE_PATH', `${what}: ${dir} no longer leads to the directory written (${why})`, {
          cause: err,
        });
      } finally {
        await closeAll(again);
      }
    },
    removeCreated: () => removeCreated(w.created),
    close: () => closeAll(w),
  };
}

/**
 * Lends `dir` (inside `root`, created as needed) held open to `fn`: on failure the directories
 * the walk created are removed again (if still empty) and `fn`'s error is relabelled
 * ({@link HeldDir.relabel}); the descriptors are closed afterwards in every case.
 * @throws as {@link openDirInside}, and what `fn` throws.
 */
export async function withDirInside<T>(
  root: string,
  dir: string,
  what: string,
  fn: (held: HeldDir) => Promise<T>,
): Promise<T> {
  const held = await openDirInside(root, dir, what, { create: true });
  try {
    return await fn(held);
  } catch (err) {
    await held.removeCreated();
    throw held.relabel(err);
  } finally {
    await held.close();
  }
}

/** rmdir of each created directory, deepest first, while it is still the one created. */
async function removeCreated(created: Created[]): Promise<void> {
  for (const c of created.splice(0).reverse()) {
    const entry = `${c.parent.proc}/${c.name}`;
    const st = await fs.lstat(entry).catch(() => undefined);
    if (!st?.isDirectory() || st.dev !== c.dev || st.ino !== c.ino) continue;
    // ENOTEMPTY: another process put something there; it stays, and so do the parents.
    await fs.rmdir(entry).catch(() => undefined);
  }
}

/**
 * Joins `rel` under `root` ({@link joinInside}) and walks the part that exists as
 * {@link openDirInside} does, creating nothing: every existing component must be a directory or a
 * symlink that stays inside `root`.
 * @returns the joined path (not the real path), safe to create below.
 * @throws OcikitError `UNSAFE_PATH`, `NOT_FOUND` when `root` itself does not exist, `IO`.
 */
export async function resolveInside(root: string, rel: string, what: string): Promise<string> {
  const joined = joinInside(root, rel, what);
  const w = await startWalk(root, what, false);
  try {
    await descend(w, segmentsOf(path.resolve(root), joined, what), {
      shown: shownRoot(root),
      inLink: false,
      leafOk: true,
    });
  } finally {
    await closeAll(w);
  }
  return joined;
}
