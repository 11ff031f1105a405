/**
 * Extended attributes of a file-system object itself, never followed (`lgetxattr`,
 * `lsetxattr`, `llistxattr`, `lremovexattr`), with byte-exact values and paths given as bytes.
 *
 * The backend is the `@napi-rs/xattr` addon (prebuilt N-API binaries shipped as npm optional
 * dependencies; it acts on a symlink itself, like the `l*` calls), loaded on first use. Where it
 * cannot load, Debian `attr`'s `setfattr`/`getfattr` run through `runTool` instead (one process
 * per call: acceptable because layers carry few xattrs). The addon's calls are synchronous, the
 * fallback's return promises: callers check with {@link isPromise} to keep their sync fast path.
 *
 * Paths: both backends take text, and a path that is not valid UTF-8 cannot be spelled as text.
 * Such a path is reached through its parent directory, opened by its byte path, as
 * `/proc/<pid>/fd/<fd>/<name>` (the kernel follows that magic link to the directory; the final
 * name stays unfollowed); a final name that is itself not UTF-8 is renamed to a temporary ASCII
 * name in the same directory for the call and renamed back afterwards.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { runTool } from './exec.js';

/** A system error as the backends report it: the errno name in `code` (`ENOTSUP`, `EPERM`, …). */
export interface XattrError extends Error {
  code: string;
}

/** The four calls on a text path. */
interface Backend {
  readonly sync: boolean;
  set(path: string, name: string, value: Buffer): void | Promise<void>;
  get(path: string, name: string): Buffer | undefined | Promise<Buffer | undefined>;
  list(path: string): string[] | Promise<string[]>;
  remove(path: string, name: string): void | Promise<void>;
}

/** Errno numbers the addon's messages end with ("… (os error 95)"), by name. */
const ERRNO: Readonly<Record<number, string>> = {
  1: 'EPERM',
  2: 'ENOENT',
  7: 'E2BIG',
  13: 'EACCES',
  20: 'ENOTDIR',
  22: 'EINVAL',
  28: 'ENOSPC',
  34: 'ERANGE',
  40: 'ELOOP',
  61: 'ENODATA',
  95: 'ENOTSUP',
  122: 'EDQUOT',
};

function xerr(message: string, code: string, cause?: unknown): XattrError {
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), { code });
}

/** The addon's error with its errno name in `code`. */
function addonError(e: unknown): XattrError {
  const msg = e instanceof Error ? e.message : String(e);
  const m = /\(os error (\d+)\)/.exec(msg);
  return xerr(msg, (m && ERRNO[Number(m[1])]) ?? 'EIO', e);
}

interface Addon {
  getAttributeSync(path: string, name: string): Buffer | null;
  setAttributeSync(path: string, name: string, value: Uint8Array): void;
  listAttributesSync(path: string): string[];
  removeAttributeSync(path: string, name: string): void;
}

function addonBackend(a: Addon): Backend {
  const wrap =
    <A extends unknown[], R>(f: (...args: A) => R) =>
    (...args: A): R => {
      try {
        return f(...args);
      } catch (e) {
        throw addonError(e);
      }
    };
  return {
    sync: true,
    set: wrap((p: string, n: string, v: Buffer) => a.setAttributeSync(p, n, v)),
    get: wrap((p: string, n: string) => a.getAttributeSync(p, n) ?? undefined),
    list: wrap((p: string) => a.listAttributesSync(p)),
    remove: wrap((p: string, n: string) => a.removeAttributeSync(p, n)),
  };
}

/** The errno name a `setfattr`/`getfattr` failure stands for, from its message. */
function toolErrno(stderr: string): string {
  if (/Operation not supported/i.test(stderr)) return 'ENOTSUP';
  if (/Operation not permitted/i.test(stderr)) return 'EPERM';
  if (/No such attribute|No data available/i.test(stderr)) return 'ENODATA';
  if (/No such file/i.test(stderr)) return 'ENOENT';
  if (/Permission denied/i.test(stderr)) return 'EACCES';
  if (/No space left/i.test(stderr)) return 'ENOSPC';
  return 'EIO';
}

async function tool(argv: string[]): Promise<Buffer> {
  const r = await runTool(argv, { allowFailure: true });
  if (r.exitCode !== 0) throw xerr(`${argv[0]}: ${r.stderr.trim()}`, toolErrno(r.stderr));
  return r.stdout;
}

/** Debian `attr`'s tools; `-h` acts on a symlink itself. */
const toolBackend: Backend = {
  sync: false,
  async set(p, n, v) {
    // An empty value is set by leaving -v out; otherwise hex keeps every byte exact.
    await tool(['setfattr', '-h', '-n', n, ...(v.length > 0 ? ['-v', `0x${v.toString('hex')}`] : []), '--', p]);
  },
  async get(p, n) {
    try {
      return await tool(['getfattr', '-h', '--absolute-names', '--only-values', '-n', n, '--', p]);
    } catch (e) {
      if ((e as XattrError).code === 'ENODATA') return undefined;
      throw e;
    }
  },
  async list(p) {
    const out = (await tool(['getfattr', '-h', '--absolute-names', '-m', '-', '--', p])).toString('utf8');
    return out.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  },
  async remove(p, n) {
    await tool(['setfattr', '-h', '-x', n, '--', p]);
  },
};

let loaded: Promise<Backend> | undefined;
let forced: Backend | undefined;
let current: Backend | undefined;

/**
 * Loads the backend on first use: the addon, or the tools when it cannot load. Await it once
 * before a run so that the calls below are available (synchronously with the addon).
 */
export async function loadXattrs(): Promise<void> {
  // `require`, not `import()`: the CLI bundle is a script that cannot import (scripts/bundle.mjs).
  loaded ??= Promise.resolve()
    .then(() => createRequire(import.meta.url)('@napi-rs/xattr') as unknown)
    .then(
      (m) => addonBackend(m as Addon),
      () => toolBackend,
    );
  const b = await loaded;
  current = forced ?? b;
}

/** For tests: use the `setfattr`/`getfattr` fallback even when the addon loads (then call {@link loadXattrs}). */
export function useXattrToolsForTesting(on: boolean): void {
  forced = on ? toolBackend : undefined;
  current = undefined;
}

function backend(): Backend {
  if (current === undefined) throw new Error('xattrs: loadXattrs() was not awaited');
  return current;
}

/** True when `v` is a promise (the fallback backend's results are). */
export function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

/** True when the loaded backend's calls return synchronously. */
export function xattrsAreSync(): boolean {
  return backend().sync;
}

/** `b` as text when the text encodes back to the same bytes. */
function asText(b: Buffer): string | undefined {
  const s = b.toString('utf8');
  return Buffer.byteLength(s) === b.length && Buffer.from(s, 'utf8').equals(b) ? s : undefined;
}

let tempSeq = 0;

/**
 * Runs `op` on a text spelling of the byte path `p` (see the module header), undoing the
 * temporary rename and closing the directory afterwards, also when `op` fails.
 */
function withTextPath<R>(p: Buffer, op: (path: string) => R | Promise<R>): R | Promise<R> {
  const whole = asText(p);
  if (whole !== undefined) return op(whole);
  const slash = p.lastIndexOf(0x2f);
  const dir = slash < 0 ? Buffer.from('.') : slash === 0 ? Buffer.from('/') : p.subarray(0, slash);
  const base = p.subarray(slash + 1);
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  let renamed: Buffer | undefined;
  const done = () => {
    try {
      if (renamed !== undefined) fs.renameSync(renamed, p);
    } finally {
      fs.closeSync(fd);
    }
  };
  let name = asText(base);
  let result: R | Promise<R>;
  try {
    if (name === undefined) {
      name = `.ocikit-xattr-${process.pid}-${tempSeq++}`;
      const tmp = Buffer.concat([dir, Buffer.from(`/${name}`)]);
      fs.renameSync(p, tmp);
      renamed = tmp;
    }
    // /proc/<pid>, not /proc/self: the fallback's tools run in a child process.
    result = op(`/proc/${process.pid}/fd/${fd}/${name}`);
  } catch (e) {
    done();
    throw e;
  }
  if (isPromise(result)) return result.finally(done);
  done();
  return result;
}

/** `lsetxattr(p, name, value)`. */
export function setXattr(p: Buffer, name: string, value: Buffer): void | Promise<void> {
  return withTextPath(p, (t) => backend().set(t, name, value));
}

/** `lgetxattr(p, name)`; undefined when the object has no such attribute. */
export function getXattr(p: Buffer, name: string): Buffer | undefined | Promise<Buffer | undefined> {
  return withTextPath(p, (t) => backend().get(t, name));
}

/** `llistxattr(p)`: the names the caller may see. */
export function listXattrs(p: Buffer): string[] | Promise<string[]> {
  return withTextPath(p, (t) => backend().list(t));
}

/** `lremovexattr(p, name)`. */
export function removeXattr(p: Buffer, name: string): void | Promise<void> {
  return withTextPath(p, (t) => backend().remove(t, name));
}
