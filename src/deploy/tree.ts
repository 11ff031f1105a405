/**
 * The tree a deploy writes: names normalised as bytes (deploy R16, R17), parent components
 * resolved inside the tree as if it were `/` (R18, R19, R21), missing and non-directory parents
 * made directories (R23), a cache of resolved directories, excludes (R45) and what rootless mode
 * finishes at the end (R38).
 *
 * Resolution is done in userland with `lstat`/`readlink` per component (Node has no
 * `openat2(RESOLVE_IN_ROOT)`), the way umoci's `SecureJoinVFS` walks (opencontainers/umoci
 * `oci/layer/tar_extract.go`). Nothing else is expected to modify the tree during a deploy, so
 * the gap between the check and the use is accepted, as in `internal/fs.ts`. Every name reaches
 * the file system as a `Buffer` (R11).
 */
import * as fs from 'node:fs';
import { OcikitError } from '../errors.js';
import { loadXattrs } from '../internal/xattr.js';
import { createLayerApplier } from './apply-layer.js';
import type { DeployTree, DeployTreeOptions, DeployWarning, LayerApplier } from './types.js';

const SLASH = 0x2f;
const DOT = 0x2e;
/** R18: more symlinks than this while resolving one component is a loop. */
const MAX_LINKS = 40;

/** A resolved directory inside the tree. */
export interface TreeDir {
  /** Its absolute path, bytes. */
  readonly full: Buffer;
  /** Its path relative to the root, resolved (`''` for the root), as a latin1 key: one char per byte. */
  readonly rel: string;
  /** Its resolved segments. */
  readonly segs: readonly Buffer[];
}

/** `b` for messages: bytes outside printable ASCII, and `\`, as `\xHH` (the escape of the canonical listing, docs/deploy.md). */
export function showPath(b: Buffer): string {
  let out = '';
  for (const c of b)
    out += c > 0x20 && c < 0x7f && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  return out || '.';
}

/** The segments of a byte path, split on `/`, empty and `.` segments dropped (no `..` check). */
export function splitPath(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= b.length; i++) {
    if (i === b.length || b[i] === SLASH) {
      if (i > start && !(i === start + 1 && b[start] === DOT)) out.push(b.subarray(start, i));
      start = i + 1;
    }
  }
  return out;
}

/** True for the segment `..`. */
export function isDotDot(s: Buffer): boolean {
  return s.length === 2 && s[0] === DOT && s[1] === DOT;
}

/**
 * R16/R17: an entry name's segments (leading `/` and `./`, `//`, `.` and a trailing `/` gone;
 * none for the root entry).
 * @throws OcikitError `UNSAFE_PATH` for a `..` segment (refused, never clamped).
 */
export function normalise(name: Buffer, what: string): Buffer[] {
  const segs = splitPath(name);
  for (const s of segs) {
    if (isDotDot(s)) throw new OcikitError('UNSAFE_PATH', `${what} ${showPath(name)} has a '..' component`);
  }
  return segs;
}

/** The latin1 key of segments joined by `/`. */
export function keyOf(segs: readonly Buffer[]): string {
  let k = '';
  for (let i = 0; i < segs.length; i++) k += (i > 0 ? '/' : '') + segs[i]!.toString('latin1');
  return k;
}

/** `dir/name` as bytes. */
export function childPath(dir: Buffer, name: Buffer): Buffer {
  return Buffer.concat([dir, Buffer.of(SLASH), name]);
}

/** The resolved key of `name` inside `parent`. */
export function relOf(parent: TreeDir, name: Buffer): string {
  return parent.rel === '' ? name.toString('latin1') : `${parent.rel}/${name.toString('latin1')}`;
}

/** The directory `name` inside `parent` (no file-system access). */
export function childDir(parent: TreeDir, name: Buffer): TreeDir {
  return { full: childPath(parent.full, name), rel: relOf(parent, name), segs: [...parent.segs, name] };
}

/** Called before the content of a directory changes (a child created or removed). */
export type TouchHook = (dir: TreeDir) => void;

/** The tree's state, shared by its layers. */
export class Tree implements DeployTree {
  readonly root: string;
  readonly rootDir: TreeDir;
  readonly rootless: boolean;
  readonly warn: (w: DeployWarning) => void;
  /** Owner ids of this process. */
  readonly selfUid = process.getuid?.() ?? 0;
  readonly selfGid = process.getgid?.() ?? 0;
  /** The root held nothing when the tree was opened (a fresh staging directory). */
  readonly emptyAtOpen: boolean;
  /** Resolved directories by their unresolved key; cleared whenever a directory or symlink goes. */
  private readonly cache = new Map<string, TreeDir>();
  /** R38: final modes of directories kept `u+rwx` while the layers are written. */
  private readonly pendingModes = new Map<string, { full: Buffer; mode: number }>();
  private readonly warned = new Set<string>();
  private layerIndex = -1;

  constructor(root: string, opts: DeployTreeOptions, emptyAtOpen = false) {
    this.root = root;
    this.emptyAtOpen = emptyAtOpen;
    this.rootless = opts.rootless;
    this.warn = opts.warn;
    const full = Buffer.from(root.length > 1 ? root.replace(/\/+$/, '') : root);
    this.rootDir = { full, rel: '', segs: [] };
  }

  /** A warning that is given once per deploy for `code` (e.g. every time truncated to µs). */
  warnOnce(w: DeployWarning): void {
    if (this.warned.has(w.code)) return;
    this.warned.add(w.code);
    this.warn(w);
  }

  layer(index: number): LayerApplier {
    if (index <= this.layerIndex) throw new Error(`deploy tree: layer ${index} after layer ${this.layerIndex}`);
    const first = this.layerIndex === -1;
    this.layerIndex = index;
    // The first layer into an empty root: nothing exists but what this layer wrote.
    return createLayerApplier(this, first && this.emptyAtOpen);
  }

  /** Forgets every resolved directory (a directory or symlink was removed or replaced). */
  invalidate(): void {
    this.cache.clear();
  }

  /** The directory at `rel` (resolved segments) below the root. */
  dirAt(segs: readonly Buffer[]): TreeDir {
    if (segs.length === 0) return this.rootDir;
    const parts: Buffer[] = [this.rootDir.full];
    for (const s of segs) parts.push(Buffer.of(SLASH), s);
    return { full: Buffer.concat(parts), rel: keyOf(segs), segs };
  }

  /**
   * R18/R19/R23: the directory the first `n` of `segs` name, every component resolved inside the
   * tree. With `create`, missing components become directories 0755 and non-directories are
   * replaced by directories (`touch` is told before a directory changes); without it, undefined
   * when something is missing or not a directory.
   * @throws OcikitError `UNSAFE_PATH` for a symlink loop.
   */
  resolveDir(segs: readonly Buffer[], n: number, create: boolean, touch?: TouchHook): TreeDir | undefined {
    if (n === 0) return this.rootDir;
    const key = keyOf(segs.slice(0, n));
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    const parent = this.resolveDir(segs, n - 1, create, touch);
    if (parent === undefined) return undefined;
    const dir = this.walk(parent, [segs[n - 1]!], create, touch, segs);
    if (dir !== undefined) this.cache.set(key, dir);
    return dir;
  }

  /** Resolves `comps` from `start`, following symlinks with chroot semantics. */
  private walk(
    start: TreeDir,
    comps: Buffer[],
    create: boolean,
    touch: TouchHook | undefined,
    forName: readonly Buffer[],
  ): TreeDir | undefined {
    let cur: Buffer[] = [...start.segs];
    let curDir: TreeDir = start;
    const queue = comps.slice();
    let links = 0;
    while (queue.length > 0) {
      const c = queue.shift()!;
      if (isDotDot(c)) {
        // '..' stops at the root (chroot semantics); it only comes from symlink targets.
        cur.pop();
        curDir = this.dirAt(cur);
        continue;
      }
      const full = childPath(curDir.full, c);
      const st = fs.lstatSync(full, { throwIfNoEntry: false });
      if (st?.isSymbolicLink()) {
        if (++links > MAX_LINKS) {
          throw new OcikitError(
            'UNSAFE_PATH',
            `too many levels of symbolic links resolving ${showPath(Buffer.from(keyOf(forName), 'latin1'))}`,
          );
        }
        const target = fs.readlinkSync(full, { encoding: 'buffer' });
        if (target[0] === SLASH) {
          cur = [];
          curDir = this.rootDir;
        }
        queue.unshift(...splitPath(target));
        continue;
      }
      if (st === undefined || !st.isDirectory()) {
        if (!create) return undefined;
        touch?.(curDir);
        if (st !== undefined) fs.unlinkSync(full);
        this.makeImplicitDir(full);
      }
      curDir = childDir(curDir, c);
      cur = curDir.segs.slice();
    }
    return curDir;
  }

  /** R23: a missing parent, 0755 owned by 0:0 (rootless: by the caller). */
  private makeImplicitDir(full: Buffer): void {
    fs.mkdirSync(full, 0o755);
    fs.chmodSync(full, 0o755); // the umask is not the layer's business
    // always: a setgid parent would otherwise give the new directory its group, not 0 (R23)
    if (!this.rootless) fs.lchownSync(full, 0, 0);
  }

  /** R38: remembers the final mode of a directory written with `u+rwx`. */
  deferMode(dir: Buffer, rel: string, mode: number): void {
    this.pendingModes.set(rel, { full: dir, mode });
  }

  /** R38: the directory at `rel` has its final mode now (a later layer set it). */
  forgetMode(rel: string): void {
    this.pendingModes.delete(rel);
  }

  async remove(path: string): Promise<boolean> {
    const segs = normalise(Buffer.from(path, 'utf8'), 'exclude path');
    if (segs.length === 0) {
      throw new OcikitError('INVALID_INPUT', `exclude path ${JSON.stringify(path)} names the whole tree`);
    }
    const parent = this.resolveDir(segs, segs.length - 1, false);
    if (parent === undefined) return false;
    const full = childPath(parent.full, segs[segs.length - 1]!);
    const st = fs.lstatSync(full, { throwIfNoEntry: false });
    if (st === undefined) return false;
    fs.rmSync(full, { recursive: true, force: true });
    this.invalidate();
    return true;
  }

  async finish(): Promise<void> {
    // Deepest first, so a parent's restricted mode never blocks a child's chmod.
    const pending = [...this.pendingModes.values()].sort((a, b) => b.full.length - a.full.length);
    for (const { full, mode } of pending) {
      const st = fs.lstatSync(full, { throwIfNoEntry: false });
      if (st?.isDirectory()) fs.chmodSync(full, mode);
    }
    this.pendingModes.clear();
  }
}

/**
 * Opens `root` (an existing directory) as the tree the layers of one deploy are applied into.
 * Loads the xattr backend first, so that applying stays synchronous where it can.
 */
export async function openDeployTree(root: string, opts: DeployTreeOptions): Promise<DeployTree> {
  await loadXattrs();
  const st = fs.statSync(root, { throwIfNoEntry: false });
  if (!st?.isDirectory()) throw new OcikitError('NOT_FOUND', `deploy tree ${root} is not a directory`);
  return new Tree(root, opts, fs.readdirSync(root).length === 0);
}
