/**
 * The host's containers storage configuration: which `storage.conf` applies and what it says.
 *
 * Follows containers-storage.conf(5) as implemented by containers/storage up to v1.62.0 (the
 * "classic" lookup every released skopeo and podman use): exactly one file is read, never merged
 * with another, and no drop-in directories are consulted. The lookup order is in the TSDoc of
 * {@link readStorageConf}; defaults, expansion and where ocikit is stricter than containers/storage
 * (a wrong store path here becomes a wrong bind mount later) are in docs/storage-conf.md.
 */
import * as path from 'node:path';
import { OcikitError, isOcikitError } from '../errors.js';
import { readFileInside } from '../internal/fs.js';
import { type HostEnv, hostEnvVars, hostPath, hostUid, hostVar, userConfigDir } from '../internal/host-env.js';
import { isTomlTable as isTable, parseTomlDocument, tomlTypeError as typeError } from './toml.js';

/**
 * The storage settings ocikit uses, as read from one `storage.conf` (or the defaults when none
 * was found and `missingOk` was given).
 * @category Configuration
 */
export interface StorageConf {
  /** The storage driver (`overlay`, `vfs`, `btrfs`, `zfs`, …); `overlay2` is reported as `overlay`. */
  readonly driver: string;
  /** The store's root directory: absolute, environment variables expanded, cleaned. */
  readonly graphroot: string;
  /** The store's run-time directory: absolute, environment variables expanded, cleaned. */
  readonly runroot: string;
  /** `[storage] imagestore`, an absolute path that differs from graphroot, or null when unset. */
  readonly imagestore: string | null;
  /** `[storage.options] additionalimagestores` (read-only image stores): absolute paths, in file order. */
  readonly additionalimagestores: readonly string[];
  /** The file the values came from, or null when no file was found (only with `missingOk`). */
  readonly file: string | null;
  /** The raw `[storage.options]` table, exactly as parsed, when the file has one. */
  readonly options?: Readonly<Record<string, unknown>>;
}

/**
 * The values used when `storage.conf` leaves a setting out (osbuild's defaults, root's paths).
 * Current containers-common ships all three keys commented out
 * (https://github.com/osbuild/osbuild/issues/2500), so a missing key is normal, not an error.
 * @category Configuration
 */
export const STORAGE_DEFAULTS: Readonly<{
  /** `overlay`, the driver osbuild assumes. */
  driver: string;
  /** `/var/lib/containers/storage`, root's store. */
  graphroot: string;
  /** `/run/containers/storage`, root's run root. */
  runroot: string;
}> = Object.freeze({
  driver: 'overlay',
  graphroot: '/var/lib/containers/storage',
  runroot: '/run/containers/storage',
});

/**
 * The name containers/storage uses for the driver `driver`: `overlay2` is an alias of `overlay`
 * (`drivers/overlay/overlay.go` registers both); every other name stands as it is.
 */
export function storageDriverName(driver: string): string {
  return driver === 'overlay2' ? 'overlay' : driver;
}

/**
 * The system-wide files, in the order they are tried: the administrator's file, then the vendor's.
 * @category Configuration
 */
export const SYSTEM_STORAGE_CONF_PATHS: readonly string[] = Object.freeze([
  '/etc/containers/storage.conf',
  '/usr/share/containers/storage.conf',
]);

/**
 * Where to look and how to treat a missing file. The host fields are the shared
 * {@link HostEnv}: `env` supplies `CONTAINERS_STORAGE_CONF`, `XDG_CONFIG_HOME`, `HOME` and the
 * variables graphroot and runroot expand; `uid` decides whether the per-user file is consulted and
 * is the value of `$UID`; `home` locates `~/.config`; `cwd` resolves relative file names. Every
 * field is optional; the defaults describe this process.
 * @category Configuration
 */
export interface StorageConfOptions extends HostEnv {
  /** Read exactly this file (relative to `cwd`), ignoring the environment and the usual places. */
  readonly file?: string | undefined;
  /** The system files, in order. Default {@link SYSTEM_STORAGE_CONF_PATHS}; tests inject their own. */
  readonly systemPaths?: readonly string[] | undefined;
  /**
   * When no candidate file exists, return {@link STORAGE_DEFAULTS} with `file: null` instead of
   * throwing. A named file (`file`, `CONTAINERS_STORAGE_CONF`) that is missing is an error even then.
   */
  readonly missingOk?: boolean | undefined;
}

/**
 * The lookup plan: either one named file, or candidates where the first that exists wins.
 * @category Configuration
 */
export interface StorageConfLookup {
  /** `'file'` for `opts.file`, `'env'` for `CONTAINERS_STORAGE_CONF`, `'search'` for the usual places. */
  readonly source: 'file' | 'env' | 'search';
  /** The absolute paths, in order. A named source has exactly one. */
  readonly paths: readonly string[];
}

/** A config file larger than this is not a storage.conf (the shipped one is about 8 KiB). */
const MAX_CONF_BYTES = 1024 * 1024;

/**
 * Works out which `storage.conf` paths {@link readStorageConf} would consult, in order, without
 * touching the file system.
 * @throws never.
 * @category Configuration
 */
export function storageConfLookup(opts: StorageConfOptions = {}): StorageConfLookup {
  if (opts.file !== undefined) return { source: 'file', paths: [hostPath(opts, opts.file)] };
  // An empty value is treated as unset (a shell's `CONTAINERS_STORAGE_CONF= cmd`); containers/storage
  // would instead fail on a path of "".
  const named = hostVar(opts, 'CONTAINERS_STORAGE_CONF');
  if (named !== undefined) return { source: 'env', paths: [hostPath(opts, named)] };
  const paths: string[] = [];
  if (hostUid(opts) !== 0) {
    // Without a home directory containers/storage fails here; the per-user file is simply skipped.
    const user = userConfigDir(opts);
    if (user !== undefined) paths.push(path.join(user, 'containers', 'storage.conf'));
  }
  paths.push(...(opts.systemPaths ?? SYSTEM_STORAGE_CONF_PATHS).map((p) => hostPath(opts, p)));
  return { source: 'search', paths };
}

/**
 * Finds and reads the host's `storage.conf` as containers-storage.conf(5) describes (one file, no
 * merging) and returns its settings, with defaults for whatever it leaves out. The order:
 *
 * 1. an explicit file (`opts.file`, the CLI's `--file`);
 * 2. `$CONTAINERS_STORAGE_CONF`, when set and not empty;
 * 3. for a non-root user only, `$XDG_CONFIG_HOME/containers/storage.conf`, or
 *    `~/.config/containers/storage.conf` when `XDG_CONFIG_HOME` is unset;
 * 4. `/etc/containers/storage.conf`;
 * 5. `/usr/share/containers/storage.conf`.
 *
 * The first two are "named" files: if a named file is missing, that is an error and nothing else is
 * tried. Steps 3–5 are candidates, and the first one that exists is used.
 *
 * `driver`, `graphroot` and `runroot` fall back to {@link STORAGE_DEFAULTS} when absent or empty;
 * `overlay2` is read as `overlay`; in graphroot and runroot, `$UID` and environment variables are
 * expanded and the result is cleaned. A relative path, a value of the wrong type (naming the key)
 * and an imagestore equal to graphroot are errors.
 * @throws OcikitError `NOT_FOUND` when the named file is missing, or when no candidate exists
 *   and `missingOk` is not set (the message and `values` list every path tried); `CONFIG` when the
 *   file is not valid TOML (file, line and column named), a key has the wrong type, a path is relative,
 *   or the file is not a regular file; `IO` when a file cannot be read (e.g. permissions).
 * @category Configuration
 */
export async function readStorageConf(opts: StorageConfOptions = {}): Promise<StorageConf> {
  const lookup = storageConfLookup(opts);
  for (const file of lookup.paths) {
    const text = await readConf(file, lookup.source);
    if (text !== null) return parseStorageConf(text, file, opts);
  }
  if (lookup.source === 'search' && opts.missingOk) return defaults(null);
  throw new OcikitError(
    'NOT_FOUND',
    `no containers storage.conf found; tried ${lookup.paths.join(', ')} (set CONTAINERS_STORAGE_CONF to name one)`,
    { values: lookup.paths },
  );
}

/**
 * Interprets the text of a `storage.conf`; `file` only labels errors and the result.
 * @throws OcikitError `CONFIG` (broken TOML with line and column, a wrong type, a relative path,
 *   imagestore equal to graphroot).
 * @category Configuration
 */
export function parseStorageConf(text: string, file: string, opts: Pick<HostEnv, 'env' | 'uid'> = {}): StorageConf {
  const env = hostEnvVars(opts);
  const uid = hostUid(opts);
  const doc = parseTomlDocument(text, file);

  // No [storage] table at all: everything is a default (osbuild raises KeyError here).
  const storage = table(doc, 'storage', file, '');
  if (storage === undefined) return defaults(file);
  const options = table(storage, 'options', file, '[storage] ');

  const conf = (key: string) => optionalString(storage, key, file, '[storage] ');
  const priority = stringArray(storage, 'driver_priority', file, '[storage] ');
  // With no driver, containers/storage tries driver_priority in order; its first entry is the best
  // static guess. Without either, osbuild's "overlay" stands.
  const driver = storageDriverName(conf('driver') || priority[0] || STORAGE_DEFAULTS.driver);

  const graphroot = storePath(conf('graphroot'), 'graphroot', file, env, uid) ?? STORAGE_DEFAULTS.graphroot;
  const runroot = storePath(conf('runroot'), 'runroot', file, env, uid) ?? STORAGE_DEFAULTS.runroot;
  const imagestore = absolutePath(conf('imagestore'), '[storage] imagestore', file);
  if (imagestore !== null && imagestore === graphroot) {
    throw new OcikitError(
      'CONFIG',
      `${file}: [storage] imagestore ${JSON.stringify(imagestore)} must differ from graphroot`,
    );
  }
  const additional =
    options === undefined ? [] : stringArray(options, 'additionalimagestores', file, '[storage.options] ');
  const additionalimagestores = additional.map((p, i) => {
    const abs = absolutePath(p, `[storage.options] additionalimagestores[${i}]`, file);
    if (abs === null)
      throw new OcikitError('CONFIG', `${file}: [storage.options] additionalimagestores[${i}] is an empty string`);
    return abs;
  });

  return Object.freeze({
    driver,
    graphroot,
    runroot,
    imagestore,
    additionalimagestores: Object.freeze(additionalimagestores),
    file,
    ...(options === undefined ? {} : { options }),
  });
}

function defaults(file: string | null): StorageConf {
  return Object.freeze({ ...STORAGE_DEFAULTS, imagestore: null, additionalimagestores: Object.freeze([]), file });
}

/** Reads `file`, or returns null when a search candidate does not exist. */
async function readConf(file: string, source: StorageConfLookup['source']): Promise<string | null> {
  let bytes: Buffer;
  try {
    bytes = await readFileInside(
      '/',
      file,
      'storage.conf',
      MAX_CONF_BYTES,
      (size) => new OcikitError('CONFIG', `${file} is ${size} bytes, too large for a storage.conf`),
    );
  } catch (err) {
    if (isOcikitError(err, 'NOT_FOUND')) {
      if (source === 'search') return null;
      const by = source === 'env' ? 'CONTAINERS_STORAGE_CONF names' : 'the storage.conf given,';
      throw new OcikitError('NOT_FOUND', `${by} ${file}, which does not exist`, { cause: err, values: [file] });
    }
    if (isOcikitError(err, 'INVALID_INPUT')) {
      throw new OcikitError('CONFIG', `${file} is not a regular file`, { cause: err });
    }
    throw err;
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (err) {
    throw new OcikitError('CONFIG', `${file} is not valid UTF-8 text`, { cause: err });
  }
}

/** The sub-table `key` of `parent`, or undefined when absent. */
function table(
  parent: Record<string, unknown>,
  key: string,
  file: string,
  where: string,
): Record<string, unknown> | undefined {
  const v = parent[key];
  if (v === undefined) return undefined;
  if (!isTable(v)) throw typeError(file, `${where}${key}`, 'a table', v);
  return v;
}

/** A string value, or undefined when absent. An empty string is returned as is (callers treat it as unset). */
function optionalString(parent: Record<string, unknown>, key: string, file: string, where: string): string | undefined {
  const v = parent[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw typeError(file, `${where}${key}`, 'a string', v);
  return v;
}

function stringArray(parent: Record<string, unknown>, key: string, file: string, where: string): string[] {
  const v = parent[key];
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw typeError(file, `${where}${key}`, 'an array of strings', v);
  return v.map((item, i) => {
    if (typeof item !== 'string') throw typeError(file, `${where}${key}[${i}]`, 'a string', item);
    return item;
  });
}

/** graphroot/runroot: unset or empty → null; otherwise expanded, cleaned and required to be absolute. */
function storePath(
  value: string | undefined,
  key: string,
  file: string,
  env: NodeJS.ProcessEnv,
  uid: number,
): string | null {
  if (value === undefined || value === '') return null;
  const expanded = expandEnv(value.split('$UID').join(String(uid)), env);
  const abs = absolutePath(expanded, `[storage] ${key}`, file, value);
  if (abs === null) {
    throw new OcikitError('CONFIG', `${file}: [storage] ${key} ${JSON.stringify(value)} expands to an empty path`);
  }
  return abs;
}

/** Cleans `p` and requires it to be absolute; undefined or empty → null. */
function absolutePath(p: string | undefined, key: string, file: string, written = p): string | null {
  if (p === undefined || p === '') return null;
  if (p.includes('\0'))
    throw new OcikitError('CONFIG', `${file}: ${key} ${JSON.stringify(written)} contains a NUL byte`);
  if (!path.posix.isAbsolute(p)) {
    const shown = written === p ? JSON.stringify(p) : `${JSON.stringify(written)} (expanded: ${JSON.stringify(p)})`;
    throw new OcikitError('CONFIG', `${file}: ${key} ${shown} is not an absolute path`);
  }
  const clean = path.posix.normalize(p);
  return clean.length > 1 && clean.endsWith('/') ? clean.slice(0, -1) : clean;
}

/**
 * Expands `$NAME`, `${NAME}` and the one-character shell specials (`$1`, `$*`, …) from `env`, with
 * the rules of Go's os.ExpandEnv, which containers/storage applies: an unset variable becomes
 * empty, a `$` not followed by a name stays, and the malformed `${}` and an unterminated `${` are
 * dropped.
 */
export function expandEnv(s: string, env: NodeJS.ProcessEnv): string {
  const special = '*#$@!?-0123456789';
  const nameChar = /[A-Za-z0-9_]/;
  let out = '';
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c !== '$' || i + 1 >= s.length) {
      out += c;
      i++;
      continue;
    }
    const rest = s.slice(i + 1);
    let name = '';
    let width = 0;
    if (rest[0] === '{') {
      const close = rest.indexOf('}');
      if (close === -1)
        width = 1; // unterminated "${": drop "${"
      else {
        name = rest.slice(1, close);
        width = close + 1; // "${}" drops as a whole (name stays empty)
      }
    } else if (special.includes(rest[0]!)) {
      name = rest[0]!;
      width = 1;
    } else {
      while (width < rest.length && nameChar.test(rest[width]!)) width++;
      name = rest.slice(0, width);
    }
    if (name !== '')
      out += Object.hasOwn(env, name) ? (env[name] ?? '') : ''; // inherited names are unset
    else if (width === 0) out += '$'; // "$" followed by something that is not a name
    i += 1 + width;
  }
  return out;
}
