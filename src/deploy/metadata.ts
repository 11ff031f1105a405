/**
 * The metadata of one written object, in the order deploy R29 fixes: owner (`lchown`, R28), then
 * mode (chown clears setuid/setgid), then xattrs (chown drops `security.capability`, R39), then
 * times last (R37). Rootless mode (R38) records owners in `user.rootlesscontainers` instead.
 */
import * as fs from 'node:fs';
import type { LayerEntry } from '../internal/tar/entry.js';
import { type XattrError, isPromise, listXattrs, removeXattr, setXattr } from '../internal/xattr.js';
import { type Tree, showPath } from './tree.js';

/** The xattr umoci records rootless owners in (rootless-containers/proto `Keyname`). */
export const ROOTLESS_XATTR = 'user.rootlesscontainers';
/** rootless-containers/proto `NoopID`: "owner unchanged". */
const NOOP_ID = 0xffffffff;

function varint(n: number, out: number[]): void {
  let v = n >>> 0;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
}

/**
 * R38: the `user.rootlesscontainers` value for an owner, as umoci writes it (opencontainers/umoci
 * `oci/layer/utils.go` `unmapHeader`): the protobuf `Resource{uint32 uid = 1; uint32 gid = 2}`
 * with 0 replaced by `NoopID` (0xFFFFFFFF), and no xattr at all for 0:0. Proto3 leaves zero
 * fields out, and after that replacement neither field is ever zero, so both are always written.
 */
export function rootlessRecord(uid: number, gid: number): Buffer | undefined {
  if (uid === 0 && gid === 0) return undefined;
  const out: number[] = [0x08];
  varint(uid === 0 ? NOOP_ID : uid, out);
  out.push(0x10);
  varint(gid === 0 ? NOOP_ID : gid, out);
  return Buffer.from(out);
}

/** What happens to a layer's xattr (R39): applied, or dropped with the reason (undefined: silently). */
function xattrVerdict(name: string, rootless: boolean): 'apply' | string | undefined {
  if (name === 'security.selinux') return undefined; // labels come from the build's own policy
  if (name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.')) {
    return 'overlayfs metadata would change how the tree behaves as an overlay layer';
  }
  if (name === 'system.nfs4_acl') return 'NFSv4 ACLs are not applied';
  if (rootless && name === ROOTLESS_XATTR) return 'rootless mode records owners in this xattr itself';
  return 'apply';
}

/** The chain of sync-or-async steps that keeps the sync path free of promises. */
export function then(r: void | Promise<void>, next: () => void | Promise<void>): void | Promise<void> {
  return isPromise(r) ? r.then(next) : next();
}

/** What an object is, for the metadata steps. */
export interface Target {
  readonly full: Buffer;
  readonly kind: 'file' | 'dir' | 'symlink' | 'node';
  /** An open descriptor (regular files being written). */
  readonly fd?: number;
  /** A directory merged with an existing one: xattrs not in the entry are removed (R22, R39). */
  readonly merged?: boolean;
}

/** R28/R29 (and R38): owner, then mode. */
export function applyOwnerMode(tree: Tree, t: Target, e: LayerEntry, mode: number): void {
  // Always chown as root, even to this process's ids: a new object in a setgid directory has
  // that directory's group, not ours.
  if (!tree.rootless) {
    if (t.fd !== undefined) fs.fchownSync(t.fd, e.uid, e.gid);
    else fs.lchownSync(t.full, e.uid, e.gid);
  }
  if (t.kind === 'symlink') return;
  if (t.fd !== undefined) fs.fchmodSync(t.fd, mode);
  else fs.chmodSync(t.full, mode);
}

/** The xattrs the object should end up with, by name (R39, R38). */
function wanted(tree: Tree, e: LayerEntry): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const path = showPath(e.name);
  for (const x of e.xattrs) {
    const name = x.name.toString('utf8');
    if (!Buffer.from(name, 'utf8').equals(x.name)) {
      tree.warn({
        code: 'xattr-dropped',
        path,
        detail: `an xattr name that is not UTF-8 (${showPath(x.name)}) cannot be set`,
      });
      continue;
    }
    const verdict = xattrVerdict(name, tree.rootless);
    if (verdict === 'apply') out.set(name, x.value);
    else if (verdict !== undefined)
      tree.warn({ code: 'xattr-dropped', path, detail: `${name} not applied: ${verdict}` });
  }
  if (tree.rootless) {
    const rec = rootlessRecord(e.uid, e.gid);
    if (rec !== undefined) {
      out.set(ROOTLESS_XATTR, rec);
      tree.warnOnce({
        code: 'rootless-owner',
        path,
        detail: `owners other than 0:0 are recorded in ${ROOTLESS_XATTR}, as umoci --rootless does`,
      });
    }
  }
  return out;
}

/** Decides what an xattr failure is: a warning (returns), or the deploy's failure (throws). */
function xattrFailed(tree: Tree, t: Target, e: LayerEntry, name: string, err: unknown): void {
  const code = (err as XattrError).code;
  const path = showPath(e.name);
  if (code === 'ENOTSUP') {
    tree.warnOnce({
      code: 'xattr-unsupported',
      path,
      detail: "the tree's file system does not support xattrs: none were set",
    });
    return;
  }
  const privileged = name.startsWith('security.') || name.startsWith('trusted.');
  // The kernel refuses user.* xattrs on symlinks (EPERM), root or not; containers/storage ignores it too.
  if (code === 'EPERM' && ((tree.rootless && privileged) || (t.kind === 'symlink' && name.startsWith('user.')))) {
    tree.warn({ code: 'xattr-dropped', path, detail: `${name} could not be set: operation not permitted` });
    return;
  }
  throw err;
}

/** R39: the entry's xattrs onto the object, binary-exact, never followed. */
export function applyXattrs(tree: Tree, t: Target, e: LayerEntry): void | Promise<void> {
  if (e.xattrs.length === 0 && !tree.rootless && !t.merged) return;
  const want = wanted(tree, e);
  if (want.size === 0 && !t.merged) return;
  const steps: (() => void | Promise<void>)[] = [];
  let unsupported = false;
  const guard = (name: string, op: () => void | Promise<void>) => () => {
    if (unsupported) return;
    const onErr = (err: unknown) => {
      if ((err as XattrError).code === 'ENOTSUP') unsupported = true;
      xattrFailed(tree, t, e, name, err);
    };
    try {
      const r = op();
      if (isPromise(r)) return r.catch(onErr);
    } catch (err) {
      onErr(err);
    }
  };
  if (t.merged) {
    steps.push(() => {
      const drop = (names: string[]) => {
        const rm = names.filter((n) => !want.has(n) && n !== 'security.selinux');
        return rm.reduce<void | Promise<void>>(
          (r, n) =>
            then(
              r,
              guard(n, () => removeXattr(t.full, n)),
            ),
          undefined,
        );
      };
      try {
        const names = listXattrs(t.full);
        return isPromise(names) ? names.then(drop, (err) => xattrFailed(tree, t, e, '', err)) : drop(names);
      } catch (err) {
        xattrFailed(tree, t, e, '', err);
      }
    });
  }
  for (const [name, value] of want) steps.push(guard(name, () => setXattr(t.full, name, value)));
  return steps.reduce<void | Promise<void>>((r, s) => then(r, s), undefined);
}

/** R37: seconds as a double that libuv turns into exactly the entry's microsecond. */
function seconds(t: { readonly sec: number; readonly nsec: number }): number {
  // libuv truncates to whole microseconds; half a microsecond more absorbs the double's rounding.
  return t.sec + (Math.floor(t.nsec / 1000) + 0.5) / 1e6;
}

/** R37: the times an entry asks for (atime never before mtime), as `utimes` arguments. */
export function entryTimes(tree: Tree, e: LayerEntry): { atime: number; mtime: number } {
  if (e.mtime.nsec % 1000 !== 0) {
    tree.warnOnce({
      code: 'time-truncated',
      path: showPath(e.name),
      detail: 'times are set to the microsecond (Node.js cannot set nanoseconds); finer parts are dropped',
    });
  }
  const mtime = seconds(e.mtime);
  const a = e.atime;
  const atime =
    a === undefined || a.sec < e.mtime.sec || (a.sec === e.mtime.sec && a.nsec < e.mtime.nsec) ? mtime : seconds(a);
  return { atime, mtime };
}

/** R37: sets the times of an object, never following it. */
export function setTimes(t: Target, times: { atime: number; mtime: number }): void {
  if (t.fd !== undefined) fs.futimesSync(t.fd, times.atime, times.mtime);
  else fs.lutimesSync(t.full, times.atime, times.mtime);
}
