/**
 * The facts about the host that decide where per-user and system configuration files are looked
 * up: the environment, the user ID, the home directory and the working directory. Every lookup
 * (the containers auth files, storage.conf, and next registries.conf, policy.json and certs.d)
 * takes them as one {@link HostEnv}, so that tests and library callers describe another host
 * with the same four fields, and every lookup applies the same defaults (documented on the fields).
 *
 * It lives in `internal/` because both `auth/` and `config/` need it and neither may import the
 * other.
 */
import { homedir } from 'node:os';
import * as path from 'node:path';

/**
 * Where a lookup runs. Every field is optional; the defaults describe this process.
 * @category Configuration
 */
export interface HostEnv {
  /**
   * The environment to read (default `process.env`). A variable set to the empty string counts as
   * unset, as containers/image and containers/storage treat `XDG_CONFIG_HOME=` and the like.
   */
  readonly env?: NodeJS.ProcessEnv | undefined;
  /** The user ID (default: the process's; 0 where the platform has none). */
  readonly uid?: number | undefined;
  /**
   * The home directory (default: the first non-empty of `$HOME` and the account's home directory
   * from the password database, `os.homedir()`). When there is none at all, lookups skip the files
   * under it.
   */
  readonly home?: string | undefined;
  /** The directory relative file names are resolved against (default `process.cwd()`, read only when needed). */
  readonly cwd?: string | undefined;
}

/** The environment of `h`. */
export function hostEnvVars(h: HostEnv): NodeJS.ProcessEnv {
  return h.env ?? process.env;
}

/** The value of variable `name` in `h`'s environment, or undefined when it is unset or empty. */
export function hostVar(h: HostEnv, name: string): string | undefined {
  const v = hostEnvVars(h)[name];
  return v === undefined || v === '' ? undefined : v;
}

/** The user ID of `h`. */
export function hostUid(h: HostEnv): number {
  return h.uid ?? (typeof process.getuid === 'function' ? process.getuid() : 0);
}

/** The home directory of `h`, or undefined when there is none. */
export function hostHome(h: HostEnv): string | undefined {
  if (h.home !== undefined && h.home !== '') return h.home;
  const env = hostVar(h, 'HOME');
  if (env !== undefined) return env;
  try {
    return homedir() || undefined;
  } catch {
    return undefined; // no HOME and no password entry
  }
}

/** `file` made absolute against the working directory of `h` (and cleaned). */
export function hostPath(h: HostEnv, file: string): string {
  // path.resolve reads process.cwd() only for a relative path: a deleted working directory does
  // not fail a lookup of absolute paths.
  return h.cwd !== undefined ? path.resolve(h.cwd, file) : path.resolve(file);
}

/**
 * The per-user configuration directory of `h` (XDG Base Directory: `$XDG_CONFIG_HOME`, else
 * `<home>/.config`), or undefined when there is no home directory either.
 */
export function userConfigDir(h: HostEnv): string | undefined {
  const xdg = hostVar(h, 'XDG_CONFIG_HOME');
  if (xdg !== undefined) return xdg;
  const home = hostHome(h);
  return home === undefined ? undefined : path.join(home, '.config');
}
