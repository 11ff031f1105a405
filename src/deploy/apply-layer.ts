/**
 * Applies one layer's entries to the tree (deploy R15, R20, R22, R24–R37, R39): whiteouts and
 * opaque markers against what lower layers left, replacement, regular files, hard links,
 * symlinks, devices and FIFOs, then each object's metadata (./metadata.ts). Directory times wait
 * for the end of the layer. Regular files, directories and symlinks are written with synchronous
 * calls (the reader stays synchronous, no promise per entry); devices and the xattr fallback
 * return promises.
 */
import * as fs from 'node:fs';
import { OcikitError, fromSystemError } from '../errors.js';
import { runTool } from '../internal/exec.js';
import type { LayerEntry } from '../internal/tar/entry.js';
import { applyOwnerMode, applyXattrs, entryTimes, setTimes, type Target, then } from './metadata.js';
import { type Tree, type TreeDir, childDir, childPath, isDotDot, keyOf, normalise, relOf, showPath } from './tree.js';
import type { LayerApplier, LayerApplyResult } from './types.js';

const WH = Buffer.from('.wh.');
const AUFS = Buffer.from('.wh..wh.');
const OPAQUE = Buffer.from('.wh..wh..opq');
const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
const NEW_FILE = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;

const startsWith = (b: Buffer, p: Buffer) => b.length >= p.length && b.compare(p, 0, p.length, 0, p.length) === 0;

type Times = { atime: number; mtime: number };

/** The regular file being written. */
interface Open {
  readonly fd: number;
  readonly full: Buffer;
  readonly entry: LayerEntry;
}

let nodeSeq = 0;

class Applier implements LayerApplier {
  private readonly seen = new Set<string>();
  /** R33: resolved paths written by this layer, and their ancestors. */
  private readonly upper = new Set<string>();
  /** R37: directory entries' times, set when the layer ends. */
  private readonly dirTimes = new Map<string, { full: Buffer; times: Times }>();
  /** R37: directories changed without an entry of their own keep their previous times. */
  private readonly keepTimes = new Map<string, { full: Buffer; times: Times }>();
  private open: Open | undefined;
  private entries = 0;
  private bytes = 0;
  private readonly touch = (d: TreeDir) => this.touched(d);

  /**
   * @param pristine the first layer into an empty tree: a path exists only if this layer wrote it
   *   or something below it (`upper`), so the lstat of every new entry can be skipped.
   */
  constructor(
    private readonly tree: Tree,
    private readonly pristine: boolean,
  ) {}

  entry(e: LayerEntry): void | Promise<void> {
    this.entries++;
    try {
      return this.apply(e);
    } catch (err) {
      throw fromSystemError(err, 'deploy', showPath(e.name));
    }
  }

  data(chunk: Buffer): void {
    const o = this.open;
    if (o === undefined) return;
    try {
      for (let off = 0; off < chunk.length; ) off += fs.writeSync(o.fd, chunk, off, chunk.length - off);
      this.bytes += chunk.length;
    } catch (err) {
      this.open = undefined;
      fs.closeSync(o.fd);
      throw fromSystemError(err, 'deploy', showPath(o.entry.name));
    }
  }

  end(): void | Promise<void> {
    const o = this.open;
    if (o === undefined) return;
    this.open = undefined;
    const t: Target = { full: o.full, kind: 'file', fd: o.fd };
    const fail = (err: unknown) => {
      fs.closeSync(o.fd);
      throw fromSystemError(err, 'deploy', showPath(o.entry.name));
    };
    try {
      const r = this.metadata(t, o.entry);
      if (r instanceof Promise) return r.then(() => fs.closeSync(o.fd), fail);
      fs.closeSync(o.fd);
    } catch (err) {
      fail(err);
    }
  }

  async finish(): Promise<LayerApplyResult> {
    if (this.open !== undefined) fs.closeSync(this.open.fd);
    for (const [rel, { full, times }] of this.keepTimes) {
      if (this.dirTimes.has(rel)) continue;
      if (fs.lstatSync(full, { throwIfNoEntry: false })?.isDirectory()) fs.lutimesSync(full, times.atime, times.mtime);
    }
    for (const { full, times } of this.dirTimes.values()) {
      if (fs.lstatSync(full, { throwIfNoEntry: false })?.isDirectory()) fs.lutimesSync(full, times.atime, times.mtime);
    }
    return { entries: this.entries, bytes: this.bytes };
  }

  /** R37: remembers a directory's times before its content first changes in this layer. */
  private touched(d: TreeDir): void {
    if (this.keepTimes.has(d.rel)) return;
    const st = fs.lstatSync(d.full, { bigint: true });
    const us = (ns: bigint) => Number(ns / 1000000000n) + (Number((ns % 1000000000n) / 1000n) + 0.5) / 1e6;
    this.keepTimes.set(d.rel, { full: d.full, times: { atime: us(st.atimeNs), mtime: us(st.mtimeNs) } });
  }

  /** R33: `rel` and its ancestors are this layer's. */
  private markUpper(rel: string): void {
    for (let r = rel; r !== '' && !this.upper.has(r); r = r.slice(0, Math.max(0, r.lastIndexOf('/')))) {
      this.upper.add(r);
    }
  }

  private apply(e: LayerEntry): void | Promise<void> {
    const segs = normalise(e.name, 'layer entry');
    const key = keyOf(segs);
    if (this.seen.has(key)) {
      throw new OcikitError(
        'INVALID_INPUT',
        `layer has ${showPath(e.name)} twice (deploy R15: duplicate paths are refused)`,
      );
    }
    this.seen.add(key);
    const isDir = e.type === 'directory' || (e.type === 'file' && e.name[e.name.length - 1] === 0x2f);
    if (segs.length === 0) return this.rootEntry(e, isDir);
    const base = segs[segs.length - 1]!;
    // R35: AUFS metadata at the top level (.wh..wh.plnk/…, .wh..wh.aufs, .wh..wh.orph) is skipped.
    if (startsWith(segs[0]!, AUFS) && !(segs.length === 1 && base.equals(OPAQUE))) return;
    for (let i = 0; i < segs.length - 1; i++) {
      if (startsWith(segs[i]!, WH)) {
        throw new OcikitError('INVALID_INPUT', `layer entry ${showPath(e.name)} is below a whiteout name (deploy R36)`);
      }
    }
    if (base.equals(OPAQUE)) return this.opaque(segs);
    if (startsWith(base, WH)) return this.whiteout(e, segs);
    const parent = this.tree.resolveDir(segs, segs.length - 1, true, this.touch)!;
    const full = childPath(parent.full, base);
    const rel = relOf(parent, base);
    const known = this.upper.has(rel);
    this.markUpper(rel);
    if (e.type === 'link') return this.hardLink(e, parent, full);
    const st = this.pristine && !known ? undefined : fs.lstatSync(full, { throwIfNoEntry: false });
    if (isDir) return this.directory(e, parent, full, rel, st);
    if (st !== undefined) this.replace(parent, full, st);
    else this.touched(parent);
    switch (e.type) {
      case 'file': {
        const fd = fs.openSync(full, NEW_FILE, 0o600);
        this.open = { fd, full, entry: e };
        return;
      }
      case 'symlink':
        fs.symlinkSync(e.linkname, full);
        return this.metadata({ full, kind: 'symlink' }, e);
      default:
        return this.node(e, full);
    }
  }

  /** R22/R20: removes what is at `full` (never following it), recursively for a directory. */
  private replace(parent: TreeDir, full: Buffer, st: fs.Stats): void {
    this.touched(parent);
    if (st.isDirectory()) {
      fs.rmSync(full, { recursive: true, force: true });
      this.tree.invalidate();
    } else {
      fs.unlinkSync(full);
      if (st.isSymbolicLink()) this.tree.invalidate();
    }
  }

  /** R29: owner, mode, xattrs, times (directories: times at the layer's end). */
  private metadata(t: Target, e: LayerEntry, rel?: string): void | Promise<void> {
    let mode = e.mode;
    if (t.kind === 'dir' && this.tree.rootless && rel !== undefined) {
      // R38: an unprivileged writer needs u+rwx to write below; the real mode comes at the end.
      if ((mode & 0o700) !== 0o700) this.tree.deferMode(t.full, rel, mode);
      else this.tree.forgetMode(rel);
      mode |= 0o700;
    }
    applyOwnerMode(this.tree, t, e, mode);
    const times = entryTimes(this.tree, e);
    return then(applyXattrs(this.tree, t, e), () => {
      if (t.kind === 'dir') this.dirTimes.set(rel ?? '', { full: t.full, times });
      else setTimes(t, times);
    });
  }

  /** R30: the root entry sets the root's attributes, never its type. */
  private rootEntry(e: LayerEntry, isDir: boolean): void | Promise<void> {
    if (!isDir)
      throw new OcikitError('INVALID_INPUT', `layer's root entry ${showPath(e.name)} is not a directory (deploy R30)`);
    return this.metadata({ full: this.tree.rootDir.full, kind: 'dir', merged: true }, e, '');
  }

  /** R22: a directory stays a directory and gets the entry's attributes; anything else is replaced. */
  private directory(e: LayerEntry, parent: TreeDir, full: Buffer, rel: string, st: fs.Stats | undefined) {
    const merged = st?.isDirectory() === true;
    if (!merged) {
      if (st !== undefined) this.replace(parent, full, st);
      else this.touched(parent);
      fs.mkdirSync(full, 0o700);
    }
    return this.metadata({ full, kind: 'dir', merged }, e, rel);
  }

  /** R25: a hard link to what the tree holds now; the link entry's own metadata is ignored. */
  private hardLink(e: LayerEntry, parent: TreeDir, full: Buffer): void {
    const tsegs = normalise(e.linkname, `hard link ${showPath(e.name)} to`);
    const shown = `hard link ${showPath(e.name)} to ${showPath(e.linkname)}`;
    if (tsegs.length > 0 && startsWith(tsegs[0]!, AUFS)) {
      throw new OcikitError('UNSUPPORTED', `${shown}: links into AUFS metadata (.wh..wh.plnk) are not supported`);
    }
    if (tsegs.length === 0) throw new OcikitError('INVALID_INPUT', `${shown}: the target is a directory`);
    const tdir = this.tree.resolveDir(tsegs, tsegs.length - 1, false);
    const target = tdir && childPath(tdir.full, tsegs[tsegs.length - 1]!);
    const tst = target && fs.lstatSync(target, { throwIfNoEntry: false });
    if (target === undefined || tst === undefined) {
      throw new OcikitError('NOT_FOUND', `${shown}: the target does not exist (yet)`);
    }
    if (tst.isDirectory()) throw new OcikitError('INVALID_INPUT', `${shown}: the target is a directory`);
    const st = fs.lstatSync(full, { throwIfNoEntry: false });
    if (st !== undefined) {
      if (st.ino === tst.ino && st.dev === tst.dev) return; // already that inode
      this.replace(parent, full, st);
    } else this.touched(parent);
    fs.linkSync(target, full); // link(2) does not follow a final symlink
  }

  /** R27 (root) / R38 (rootless): a device node or FIFO. */
  private node(e: LayerEntry, full: Buffer): void | Promise<void> {
    if (e.type !== 'char' && e.type !== 'block' && e.type !== 'fifo') {
      throw new OcikitError('UNSUPPORTED', `layer entry ${showPath(e.name)} has an unsupported type`);
    }
    if (this.tree.rootless) {
      this.tree.warn({
        code: 'rootless-device',
        path: showPath(e.name),
        detail: `${e.type === 'fifo' ? 'a FIFO' : 'a device node'} cannot be created without privileges: an empty file with mode 0 stands in`,
      });
      fs.closeSync(fs.openSync(full, NEW_FILE, 0o000));
      return this.metadata({ full, kind: 'file' }, { ...e, mode: 0 });
    }
    // Node has no mknod(2): coreutils' tools, on a text path. A name that is not UTF-8 cannot
    // pass through argv, so the node is made under an ASCII name in the root and renamed.
    const text = full.toString('utf8');
    const direct = Buffer.from(text, 'utf8').equals(full);
    const made = direct ? text : `${this.tree.rootDir.full.toString()}/.ocikit-node-${process.pid}-${nodeSeq++}`;
    const argv =
      e.type === 'fifo'
        ? ['mkfifo', '-m', '0600', '--', made]
        : ['mknod', '-m', '0600', '--', made, e.type === 'char' ? 'c' : 'b', String(e.devmajor), String(e.devminor)];
    return runTool(argv).then(() => {
      try {
        if (!direct) fs.renameSync(made, full);
        const r = this.metadata({ full, kind: 'node' }, e);
        if (r instanceof Promise)
          return r.catch((err) => Promise.reject(fromSystemError(err, 'deploy', showPath(e.name))));
      } catch (err) {
        throw fromSystemError(err, 'deploy', showPath(e.name));
      }
    });
  }

  /** R32: `<dir>/.wh..wh..opq` hides everything lower layers left in `<dir>`, wherever it comes. */
  private opaque(segs: Buffer[]): void {
    const dir = this.tree.resolveDir(segs, segs.length - 1, true, this.touch)!;
    this.markUpper(dir.rel);
    this.prune(dir);
  }

  /** R31/R34: `.wh.<name>` removes `<name>` as lower layers left it; parents are not created. */
  private whiteout(e: LayerEntry, segs: Buffer[]): void {
    const base = segs[segs.length - 1]!;
    const name = base.subarray(WH.length);
    if (name.length === 0 || (name.length === 1 && name[0] === 0x2e)) {
      throw new OcikitError(
        'INVALID_INPUT',
        `layer entry ${showPath(e.name)} is a whiteout without a name (deploy R34)`,
      );
    }
    if (isDotDot(name)) throw new OcikitError('UNSAFE_PATH', `layer entry ${showPath(e.name)} whites out '..'`);
    const parent = this.tree.resolveDir(segs, segs.length - 1, false);
    if (parent === undefined) return;
    const full = childPath(parent.full, name);
    const rel = relOf(parent, name);
    const st = fs.lstatSync(full, { throwIfNoEntry: false });
    if (st === undefined) return;
    if (!this.upper.has(rel)) this.replace(parent, full, st);
    else if (st.isDirectory()) this.prune(childDir(parent, name));
  }

  /** R32/R33: removes below `dir` everything this layer did not write, keeping what it did. */
  private prune(dir: TreeDir): void {
    for (const name of fs.readdirSync(dir.full, { encoding: 'buffer' })) {
      const full = childPath(dir.full, name);
      const rel = relOf(dir, name);
      const st = fs.lstatSync(full);
      if (!this.upper.has(rel)) this.replace(dir, full, st);
      else if (st.isDirectory()) this.prune(childDir(dir, name));
    }
  }
}

/** A new applier for the next layer of `tree`. */
export function createLayerApplier(tree: Tree, pristine = false): LayerApplier {
  return new Applier(tree, pristine);
}
