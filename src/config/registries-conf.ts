/**
 * The host's registries.conf (containers-registries.conf(5)): which files are read, in which
 * order, and how they merge, exactly as containers/image 5.23 (the library skopeo 1.9.3 is built
 * on) does in `pkg/sysregistriesv2/system_registries_v2.go` (`newConfigWrapperWithHomeDir`,
 * `dropInConfigs`, `tryUpdatingCache`, `updateWithConfigurationFrom`). One file is decoded by
 * `registries-file.ts`; what a reference matches and where it is pulled from is in
 * `registries-match.ts`. The rules, and where ocikit is stricter, are in docs/registries-conf.md.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { OcikitError, isOcikitError } from '../errors.js';
import { readNamedFile } from '../internal/fs.js';
import { type HostEnv, hostHome, hostPath, hostVar } from '../internal/host-env.js';
import type { RegistriesFile, RegistryConfEntry, ShortNameAlias, ShortNameMode } from './registries-file.js';
import { compareGoStrings } from './registries-match.js';

/**
 * The system-wide registries.conf and its drop-in directory (containers/image's build-time
 * defaults, which Debian, Fedora and upstream builds keep).
 * @category Configuration
 */
export const SYSTEM_REGISTRIES_CONF: Readonly<{
  /** `/etc/containers/registries.conf` */
  file: string;
  /** `/etc/containers/registries.conf.d` */
  dropInDir: string;
}> = Object.freeze({
  file: '/etc/containers/registries.conf',
  dropInDir: '/etc/containers/registries.conf.d',
});

/**
 * Where registries.conf is looked up. The host fields are the shared {@link HostEnv}; only the
 * home directory and two variables matter (containers/image uses `$HOME`, never
 * `XDG_CONFIG_HOME`, for these files). `$CONTAINERS_REGISTRIES_CONF`, else
 * `$REGISTRIES_CONFIG_PATH`, names the main file when no explicit `file` is given, as
 * containers/image `pkg/cli/environment` `UpdateRegistriesConf` sets it up for podman and buildah;
 * skopeo 1.9.3 does not call that function and ignores both variables. ocikit honours them: a
 * host that points podman at another registries.conf (to block or mirror a registry) gets the
 * same decisions from ocikit.
 * @category Configuration
 */
export interface RegistriesConfOptions extends HostEnv {
  /**
   * A main file to read instead of the per-user or system one (skopeo's `--registries-conf`,
   * relative to `cwd`); it must exist. The drop-in directories are still read.
   */
  readonly file?: string | undefined;
  /** The system file (default {@link SYSTEM_REGISTRIES_CONF}`.file`); tests inject their own. */
  readonly systemFile?: string | undefined;
  /** The system drop-in directory (default {@link SYSTEM_REGISTRIES_CONF}`.dropInDir`). */
  readonly systemDropInDir?: string | undefined;
}

/**
 * The paths a lookup consults, before reading anything but the per-user file's existence.
 * @category Configuration
 */
export interface RegistriesConfLookup {
  /** The main file: the explicit one, else the per-user file when it exists, else the system file. */
  readonly file: string;
  /** True when the main file was given explicitly (then it must exist). */
  readonly explicit: boolean;
  /** The drop-in directories, in the order they are read. */
  readonly dropInDirs: readonly string[];
}

/**
 * The merged configuration.
 * @category Configuration
 */
export interface RegistriesConf {
  /** The lookup that produced it. */
  readonly lookup: RegistriesConfLookup;
  /** The files actually read, in order (the main file, when it exists, then the drop-ins). */
  readonly files: readonly string[];
  /** The `[[registry]]` entries, sorted by prefix (each prefix once; a later file replaces an entry whole). */
  readonly registries: readonly RegistryConfEntry[];
  /** `unqualified-search-registries` of the last file that set it (empty when none did). */
  readonly unqualifiedSearchRegistries: readonly string[];
  /** The file that set `unqualified-search-registries`, or null. */
  readonly unqualifiedSearchRegistriesFile: string | null;
  /** `credential-helpers` of the last file that set it; `["containers-auth.json"]` when empty or unset. */
  readonly credentialHelpers: readonly string[];
  /** `short-name-mode` of the last file that set it; `permissive` when none did. */
  readonly shortNameMode: ShortNameMode;
  /** `[aliases]` of every file merged, later files overriding a short name. */
  readonly aliases: ReadonlyMap<string, ShortNameAlias>;
}

/** A registries.conf larger than this is not one (the shipped files are a few KiB). */
const MAX_CONF_BYTES = 4 * 1024 * 1024;

/**
 * Works out the main file and the drop-in directories as containers/image
 * `newConfigWrapperWithHomeDir`: an explicit file (`file`, else `$CONTAINERS_REGISTRIES_CONF`,
 * else `$REGISTRIES_CONFIG_PATH`), else `$HOME/.config/containers/registries.conf`
 * when it exists (`stat` follows symlinks) — then only `$HOME/.config/containers/registries.conf.d`
 * is read, not the system drop-ins —, else the system file with the system drop-in directory and
 * then the per-user one. An explicit file keeps both drop-in directories.
 * @throws never.
 * @category Configuration
 */
export async function registriesConfLookup(opts: RegistriesConfOptions = {}): Promise<RegistriesConfLookup> {
  const home = hostHome(opts) ?? '';
  const userFile = path.join(home, '.config/containers/registries.conf');
  const userDir = path.join(home, '.config/containers/registries.conf.d');
  const systemDir = hostPath(opts, opts.systemDropInDir ?? SYSTEM_REGISTRIES_CONF.dropInDir);
  const explicit =
    opts.file !== undefined && opts.file !== ''
      ? opts.file
      : (hostVar(opts, 'CONTAINERS_REGISTRIES_CONF') ?? hostVar(opts, 'REGISTRIES_CONFIG_PATH'));
  if (explicit !== undefined)
    return { file: hostPath(opts, explicit), explicit: true, dropInDirs: [systemDir, userDir] };
  const userExists = await fs.stat(userFile).then(
    () => true,
    () => false,
  );
  if (userExists) return { file: userFile, explicit: false, dropInDirs: [userDir] };
  return {
    file: hostPath(opts, opts.systemFile ?? SYSTEM_REGISTRIES_CONF.file),
    explicit: false,
    dropInDirs: [systemDir, userDir],
  };
}

/**
 * Reads and merges the host's registries.conf files (see {@link registriesConfLookup} for which):
 * the main file (v1 or v2 format; a missing non-explicit one is an empty configuration), then the
 * `*.conf` files of each drop-in directory in name order (v2 format only). A later file replaces
 * `[[registry]]` entries with the same prefix, `unqualified-search-registries`,
 * `credential-helpers` and `short-name-mode` when it sets them, and adds to `[aliases]`.
 * @throws OcikitError `CONFIG` naming the file (and the entry): a missing explicit file, a file
 *   that cannot be read, broken TOML, a wrong type, an invalid entry.
 * @category Configuration
 */
export async function loadRegistriesConf(opts: RegistriesConfOptions = {}): Promise<RegistriesConf> {
  const lookup = await registriesConfLookup(opts);
  const files: string[] = [];
  const main = await readRegistriesFile(lookup.file, false, !lookup.explicit);
  if (main !== null) files.push(lookup.file);
  const layers: RegistriesFile[] = main === null ? [] : [main];
  for (const dir of lookup.dropInDirs) {
    for (const file of await dropInFiles(dir)) {
      const got = await readRegistriesFile(file, true, false);
      files.push(file);
      layers.push(got!);
    }
  }
  return merge(lookup, files, layers);
}

function merge(lookup: RegistriesConfLookup, files: string[], layers: RegistriesFile[]): RegistriesConf {
  const byPrefix = new Map<string, RegistryConfEntry>();
  let search: { list: readonly string[]; file: string } | undefined;
  let helpers: readonly string[] | undefined;
  let mode: ShortNameMode | undefined;
  const aliases = new Map<string, ShortNameAlias>();
  for (const layer of layers) {
    for (const r of layer.registries) byPrefix.set(r.prefix, r);
    if (layer.unqualifiedSearchRegistries !== undefined)
      search = { list: layer.unqualifiedSearchRegistries, file: layer.file };
    if (layer.credentialHelpers !== undefined) helpers = layer.credentialHelpers;
    if (layer.shortNameMode !== undefined) mode = layer.shortNameMode;
    for (const [name, alias] of layer.aliases) aliases.set(name, alias);
  }
  const registries = [...byPrefix.values()].sort((a, b) => compareGoStrings(a.prefix, b.prefix));
  return Object.freeze({
    lookup,
    files: Object.freeze(files),
    registries: Object.freeze(registries),
    unqualifiedSearchRegistries: Object.freeze([...(search?.list ?? [])]),
    unqualifiedSearchRegistriesFile: search?.file ?? null,
    credentialHelpers: Object.freeze(
      helpers === undefined || helpers.length === 0 ? ['containers-auth.json'] : [...helpers],
    ),
    shortNameMode: mode ?? 'permissive',
    aliases,
  });
}

/**
 * The `*.conf` entries of `dir` in name order, as containers/image `dropInConfigs` walks it:
 * subdirectories are skipped, a missing directory is no drop-ins. Like Go's `filepath.WalkDir`,
 * a directory that is itself a symlink is not walked.
 */
async function dropInFiles(dir: string): Promise<string[]> {
  let entries: import('node:fs').Dirent[];
  try {
    const st = await fs.lstat(dir);
    if (!st.isDirectory()) return [];
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new OcikitError('CONFIG', `reading registries.conf.d ${dir}: ${(err as NodeJS.ErrnoException).code ?? err}`, {
      cause: err,
    });
  }
  return entries
    .filter((e) => !e.isDirectory() && e.name.endsWith('.conf'))
    .map((e) => e.name)
    .sort(compareGoStrings)
    .map((name) => path.join(dir, name));
}

/**
 * Reads and decodes one file; null when it does not exist and `missingOk`.
 * @throws OcikitError `CONFIG` naming the file.
 */
async function readRegistriesFile(file: string, dropIn: boolean, missingOk: boolean): Promise<RegistriesFile | null> {
  const what = dropIn ? 'drop-in registries configuration' : 'registries configuration';
  let bytes: Buffer;
  try {
    bytes = await readNamedFile(file, what, {
      maxBytes: MAX_CONF_BYTES,
      tooLarge: (n) => new OcikitError('CONFIG', `${what} ${file} is ${n} bytes, too large for a registries.conf`),
    });
  } catch (err) {
    if (isOcikitError(err, 'NOT_FOUND') && missingOk) return null;
    if (isOcikitError(err, 'CONFIG')) throw err;
    const why = isOcikitError(err, 'NOT_FOUND') ? 'does not exist' : (err as Error).message;
    throw new OcikitError('CONFIG', `${what} ${file}: ${why}`, { cause: err });
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (err) {
    throw new OcikitError('CONFIG', `${file} is not valid UTF-8 text`, { cause: err });
  }
  // The TOML parser (smol-toml, ~12 ms to load) is loaded only when a file exists.
  const [{ parseTomlDocument }, { decodeRegistriesFile }] = await Promise.all([
    import('./toml.js'),
    import('./registries-file.js'),
  ]);
  return decodeRegistriesFile(parseTomlDocument(text, file), file, dropIn);
}
