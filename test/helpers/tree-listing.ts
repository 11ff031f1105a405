/**
 * The canonical listing of a deployed tree (docs/deploy.md, "The canonical listing"), the same
 * rules as test/helpers/deploy-list-tree.py (checked against it in test/deploy/tree.test.ts): one line per object, sorted by the raw bytes of its path,
 * TAB-separated `path type mode uid:gid size content mtime xattrs hardlink`. Never follows
 * symlinks. Paths are read as bytes, so names that are not UTF-8 list exactly.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as xattr from '@napi-rs/xattr';

/** Options of {@link listTree}, as the script's flags. */
export interface ListingOptions {
  /** `--no-mtime`: print `-` for every mtime. */
  readonly noMtime?: boolean;
  /** `--ignore-xattr NAME`, repeatable. */
  readonly ignoreXattrs?: readonly string[];
}

/** The listing's escape: bytes outside 0x21–0x7e, and `\`, as `\xHH`. */
export function esc(b: Buffer): string {
  let out = '';
  for (const c of b)
    out += c >= 0x21 && c <= 0x7e && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  return out;
}

/** The text path napi-rs needs for a byte path, through /proc when the bytes are not UTF-8. */
function xattrsOf(full: Buffer, ignore: ReadonlySet<string>): string {
  const s = full.toString('utf8');
  let p = s;
  let fd: number | undefined;
  let renamed: [Buffer, Buffer] | undefined;
  if (!Buffer.from(s).equals(full)) {
    const slash = full.lastIndexOf(0x2f);
    fd = fs.openSync(full.subarray(0, slash), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    const base = full.subarray(slash + 1);
    let name = base.toString('utf8');
    if (!Buffer.from(name).equals(base)) {
      name = `.listing-${process.pid}`;
      renamed = [full, Buffer.concat([full.subarray(0, slash + 1), Buffer.from(name)])];
      fs.renameSync(renamed[0], renamed[1]);
    }
    p = `/proc/self/fd/${fd}/${name}`;
  }
  try {
    let names: string[];
    try {
      names = xattr.listAttributesSync(p);
    } catch {
      return '-';
    }
    const items: string[] = [];
    for (const n of [...names].sort()) {
      if (ignore.has(n)) continue;
      let v: Buffer | null;
      try {
        v = xattr.getAttributeSync(p, n);
      } catch {
        continue;
      }
      items.push(`${n}=${(v ?? Buffer.alloc(0)).toString('hex')}`);
    }
    return items.length > 0 ? items.join(',') : '-';
  } finally {
    if (renamed) fs.renameSync(renamed[1], renamed[0]);
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function sha256File(p: Buffer): string {
  const h = createHash('sha256');
  const fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const buf = Buffer.alloc(1 << 20);
    for (let n = fs.readSync(fd, buf); n > 0; n = fs.readSync(fd, buf)) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return `sha256:${h.digest('hex')}`;
}

const major = (rdev: bigint) => Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
const minor = (rdev: bigint) => Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));

/** The listing of `root`, one string per line (no newlines). */
export function listTree(root: string, opts: ListingOptions = {}): string[] {
  const ignore = new Set(opts.ignoreXattrs ?? []);
  const rootBuf = Buffer.from(root);
  const entries: { rel: Buffer; full: Buffer; st: fs.BigIntStats }[] = [];
  const stack: Buffer[] = [Buffer.alloc(0)];
  while (stack.length > 0) {
    const rel = stack.pop()!;
    const full = rel.length > 0 ? Buffer.concat([rootBuf, Buffer.from('/'), rel]) : rootBuf;
    const st = fs.lstatSync(full, { bigint: true });
    entries.push({ rel: rel.length > 0 ? rel : Buffer.from('.'), full, st });
    if (st.isDirectory()) {
      for (const name of fs.readdirSync(full, { encoding: 'buffer' })) {
        stack.push(rel.length > 0 ? Buffer.concat([rel, Buffer.from('/'), name]) : name);
      }
    }
  }
  entries.sort((a, b) => Buffer.compare(a.rel, b.rel));
  const first = new Map<string, Buffer>();
  const counts = new Map<string, number>();
  for (const { rel, st } of entries) {
    if (st.isDirectory() || st.nlink <= 1n) continue;
    const k = `${st.dev}:${st.ino}`;
    if (!first.has(k)) first.set(k, rel);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return entries.map(({ rel, full, st }) => {
    let t = '?';
    let size = '-';
    let content = '-';
    if (st.isFile()) {
      t = 'f';
      size = String(st.size);
      content = sha256File(full);
    } else if (st.isDirectory()) t = 'd';
    else if (st.isSymbolicLink()) {
      t = 'l';
      content = esc(fs.readlinkSync(full, { encoding: 'buffer' }));
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      t = st.isCharacterDevice() ? 'c' : 'b';
      content = `${major(st.rdev)},${minor(st.rdev)}`;
    } else if (st.isFIFO()) t = 'p';
    else if (st.isSocket()) t = 's';
    const mode = t === 'l' ? '-' : (Number(st.mode) & 0o7777).toString(8).padStart(4, '0');
    const ns = st.mtimeNs;
    const sec = ns >= 0n ? ns / 1000000000n : -((-ns + 999999999n) / 1000000000n);
    const mtime = opts.noMtime ? '-' : `${sec}.${String(ns - sec * 1000000000n).padStart(9, '0')}`;
    const k = `${st.dev}:${st.ino}`;
    const hl = t !== 'd' && (counts.get(k) ?? 0) > 1 ? `=${esc(first.get(k)!)}` : '-';
    return [esc(rel), t, mode, `${st.uid}:${st.gid}`, size, content, mtime, xattrsOf(full, ignore), hl].join('\t');
  });
}
