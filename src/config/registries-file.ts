/**
 * One registries.conf file (containers-registries.conf(5)) decoded and validated as
 * containers/image 5.23 `pkg/sysregistriesv2/system_registries_v2.go` `loadConfigFile` does:
 * the v2 format, or the v1 format (`[registries.search]`, `[registries.insecure]`,
 * `[registries.block]`) converted to v2 (`ConvertToV2`); then `postProcessRegistries`, the
 * short-name-mode, the wildcard-prefix format and the short-name aliases (`shortnames.go`).
 *
 * Decoding is strictly typed: a value of the wrong type is a `CONFIG` error naming the key (the
 * TOML decoder containers/image uses, BurntSushi/toml, refuses those too). Keys are matched as
 * that decoder matches struct fields: exactly, else ignoring ASCII case (`Location` sets
 * `location`); unknown keys are ignored, as there. Stricter: two keys that differ only in case
 * (containers/image would take either, depending on Go's map order) are an error.
 */
import { OcikitError } from '../errors.js';
import { type DockerReference, parseDockerReference } from '../model/docker-reference.js';
import { compareGoStrings } from './registries-match.js';
import { isTomlTable, type TomlTable, tomlTypeError } from './toml.js';

/**
 * A mirror's `pull-from-mirror`: which pulls may use it (digest references, tag references, both).
 * @category Configuration
 */
export type PullFromMirror = 'all' | 'digest-only' | 'tag-only';

/**
 * `short-name-mode`: how short names are resolved by tools that resolve them.
 * @category Configuration
 */
export type ShortNameMode = 'enforcing' | 'permissive' | 'disabled';

/**
 * One `[[registry.mirror]]`.
 * @category Configuration
 */
export interface RegistryMirrorConf {
  /** `location`: `host[:port][/namespace]`, trailing slashes removed; never empty. */
  readonly location: string;
  /** `insecure`: this mirror is reached without certificate checks, falling back to plain HTTP. */
  readonly insecure: boolean;
  /** `pull-from-mirror`, or null when unset (the same as `all`). */
  readonly pullFromMirror: PullFromMirror | null;
}

/**
 * One `[[registry]]` entry (or one converted from the v1 format), validated and normalised.
 * @category Configuration
 */
export interface RegistryConfEntry {
  /** `prefix` (default: `location`); `*.example.com` matches subdomains. Trailing slashes removed. */
  readonly prefix: string;
  /** `location`: where the prefix is pulled from; empty only for a `*.` prefix (no rewrite). */
  readonly location: string;
  /** `insecure`: no certificate checks, falling back to plain HTTP, for the primary location. */
  readonly insecure: boolean;
  /** `blocked`: pulls whose endpoint matches this entry are refused. */
  readonly blocked: boolean;
  /** `mirror-by-digest-only`: the mirrors serve digest references only. */
  readonly mirrorByDigestOnly: boolean;
  /** The mirrors, in the order they are tried. */
  readonly mirrors: readonly RegistryMirrorConf[];
  /** The file the entry came from (a later drop-in with the same prefix replaces it whole). */
  readonly file: string;
  /** `'v1'` for an entry converted from `[registries.insecure]`/`[registries.block]`. */
  readonly format: 'v1' | 'v2';
}

/**
 * A short-name alias (`[aliases]`): the fully qualified name, or null for an empty value (which
 * cancels an alias of an earlier file).
 * @category Configuration
 */
export interface ShortNameAlias {
  /** The name the short name stands for, or null. */
  readonly value: DockerReference | null;
  /** The file that set it. */
  readonly file: string;
}

/** What one file sets; undefined for a setting the file does not contain. */
export interface RegistriesFile {
  readonly file: string;
  /** Sorted by prefix, each prefix once (the first entry with it wins), as containers/image keeps them. */
  readonly registries: readonly RegistryConfEntry[];
  readonly unqualifiedSearchRegistries: readonly string[] | undefined;
  readonly credentialHelpers: readonly string[] | undefined;
  readonly shortNameMode: ShortNameMode | undefined;
  readonly aliases: ReadonlyMap<string, ShortNameAlias>;
}

const PULL_FROM_MIRROR: readonly string[] = ['all', 'digest-only', 'tag-only'];
const SHORT_NAME_MODES: readonly string[] = ['enforcing', 'permissive', 'disabled'];
const DOMAIN_RE =
  /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?$/;

function configError(file: string, msg: string): OcikitError {
  return new OcikitError('CONFIG', `${file}: ${msg}`);
}

/** A typed view of one TOML table, keys matched as BurntSushi/toml matches struct fields. */
class Fields {
  constructor(
    private readonly t: TomlTable,
    private readonly file: string,
    private readonly where: string,
  ) {}

  private get(name: string): { key: string; value: unknown } | undefined {
    let found: string | undefined;
    for (const k of Object.keys(this.t)) {
      if (k !== name && k.toLowerCase() !== name) continue;
      if (found !== undefined)
        throw configError(this.file, `${this.where}keys "${found}" and "${k}" both set "${name}"`);
      found = k;
    }
    return found === undefined ? undefined : { key: found, value: this.t[found] };
  }

  private typeError(f: { key: string; value: unknown }, want: string, suffix = ''): OcikitError {
    return tomlTypeError(this.file, `${this.where}${f.key}${suffix}`, want, f.value);
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  string(name: string): string | undefined {
    const f = this.get(name);
    if (f === undefined) return undefined;
    if (typeof f.value !== 'string') throw this.typeError(f, 'a string');
    return f.value;
  }

  bool(name: string): boolean {
    const f = this.get(name);
    if (f === undefined) return false;
    if (typeof f.value !== 'boolean') throw this.typeError(f, 'a boolean');
    return f.value;
  }

  strings(name: string): string[] | undefined {
    const f = this.get(name);
    if (f === undefined) return undefined;
    if (!Array.isArray(f.value)) throw this.typeError(f, 'an array of strings');
    return f.value.map((v, i) => {
      if (typeof v !== 'string') throw tomlTypeError(this.file, `${this.where}${f.key}[${i}]`, 'a string', v);
      return v;
    });
  }

  table(name: string): { key: string; fields: Fields; raw: TomlTable } | undefined {
    const f = this.get(name);
    if (f === undefined) return undefined;
    if (!isTomlTable(f.value)) throw this.typeError(f, 'a table');
    return { key: f.key, raw: f.value, fields: new Fields(f.value, this.file, `${this.where}${f.key}.`) };
  }

  tables(name: string, label: (i: number) => string): Fields[] {
    const f = this.get(name);
    if (f === undefined) return [];
    if (!Array.isArray(f.value)) throw this.typeError(f, 'an array of tables');
    return f.value.map((v, i) => {
      if (!isTomlTable(v)) throw tomlTypeError(this.file, label(i), 'a table', v);
      return new Fields(v, this.file, `${label(i)} `);
    });
  }
}

/** containers/image `parseLocation`: trailing slashes removed; `http://`, `https://` refused. */
function parseLocation(input: string, file: string, where: string): string {
  const trimmed = input.replace(/\/+$/, '');
  if (trimmed.startsWith('http://') || trimmed.startsWith('https://'))
    throw configError(file, `${where}invalid location ${JSON.stringify(input)}: URI schemes are not supported`);
  return trimmed;
}

interface RawRegistry {
  prefix: string;
  location: string;
  insecure: boolean;
  blocked: boolean;
  mirrorByDigestOnly: boolean;
  pullFromMirror: string;
  mirrors: { location: string; insecure: boolean; pullFromMirror: string }[];
  format: 'v1' | 'v2';
  where: string;
}

/** The v2 `[[registry]]` tables of a file, decoded but not validated. */
function v2Registries(top: Fields): RawRegistry[] {
  return top
    .tables('registry', (i) => `[[registry]] ${i + 1}`)
    .map((r, i) => {
      const where = `[[registry]] ${i + 1}: `;
      const mirrors = r
        .tables('mirror', (j) => `[[registry]] ${i + 1} [[registry.mirror]] ${j + 1}`)
        .map((m) => ({
          location: m.string('location') ?? '',
          insecure: m.bool('insecure'),
          pullFromMirror: m.string('pull-from-mirror') ?? '',
        }));
      return {
        prefix: r.string('prefix') ?? '',
        location: r.string('location') ?? '',
        insecure: r.bool('insecure'),
        blocked: r.bool('blocked'),
        mirrorByDigestOnly: r.bool('mirror-by-digest-only'),
        pullFromMirror: r.string('pull-from-mirror') ?? '',
        mirrors,
        format: 'v2' as const,
        where,
      };
    });
}

interface V1 {
  search: string[] | undefined;
  insecure: string[] | undefined;
  block: string[] | undefined;
}

function v1Lists(top: Fields): V1 | undefined {
  const registries = top.table('registries');
  if (registries === undefined) return undefined;
  const list = (name: string) => registries.fields.table(name)?.fields.strings('registries');
  return { search: list('search'), insecure: list('insecure'), block: list('block') };
}

/** containers/image `ConvertToV2`: one entry per location, blocked first, in order of appearance. */
function convertV1(v1: V1, file: string): RawRegistry[] {
  const byLocation = new Map<string, RawRegistry>();
  const get = (input: string, section: string) => {
    const location = parseLocation(input, file, `[registries.${section}] `);
    let reg = byLocation.get(location);
    if (reg === undefined) {
      reg = {
        prefix: location,
        location,
        insecure: false,
        blocked: false,
        mirrorByDigestOnly: false,
        pullFromMirror: '',
        mirrors: [],
        format: 'v1',
        where: `[registries.${section}] ${JSON.stringify(input)}: `,
      };
      byLocation.set(location, reg);
    }
    return reg;
  };
  for (const loc of v1.block ?? []) get(loc, 'block').blocked = true;
  for (const loc of v1.insecure ?? []) get(loc, 'insecure').insecure = true;
  return [...byLocation.values()];
}

/** containers/image `postProcessRegistries` for the registries of one file. */
function postProcess(raw: RawRegistry[], file: string): RegistryConfEntry[] {
  const byLocation = new Map<string, RawRegistry[]>();
  for (const reg of raw) {
    const w = reg.where;
    reg.location = parseLocation(reg.location, file, w);
    if (reg.prefix === '') {
      if (reg.location === '') throw configError(file, `${w}invalid condition: both location and prefix are unset`);
      reg.prefix = reg.location;
    } else {
      reg.prefix = parseLocation(reg.prefix, file, w);
      if (!reg.prefix.startsWith('*.') && reg.location === '')
        throw configError(
          file,
          `${w}invalid condition: location is unset and prefix is not in the format: *.example.com`,
        );
    }
    if (reg.pullFromMirror !== '')
      throw configError(file, `${w}pull-from-mirror must not be set for a non-mirror registry "${reg.prefix}"`);
    for (const [j, mir] of reg.mirrors.entries()) {
      const mw = `${w}[[registry.mirror]] ${j + 1}: `;
      mir.location = parseLocation(mir.location, file, mw);
      if (mir.location === '') throw configError(file, `${mw}invalid condition: mirror location is unset`);
      if (reg.mirrorByDigestOnly && mir.pullFromMirror !== '')
        throw configError(
          file,
          `${mw}cannot set mirror usage mirror-by-digest-only for the registry ("${reg.prefix}") and pull-from-mirror for per-mirror ("${mir.location}") at the same time`,
        );
      if (mir.pullFromMirror !== '' && !PULL_FROM_MIRROR.includes(mir.pullFromMirror))
        throw configError(
          file,
          `${mw}unsupported pull-from-mirror value ${JSON.stringify(mir.pullFromMirror)} for mirror "${mir.location}"`,
        );
    }
    const key = reg.location === '' ? reg.prefix : reg.location;
    byLocation.set(key, [...(byLocation.get(key) ?? []), reg]);
  }
  for (const reg of raw) {
    for (const other of byLocation.get(reg.location === '' ? reg.prefix : reg.location) ?? []) {
      for (const setting of ['insecure', 'blocked'] as const) {
        if (reg[setting] !== other[setting])
          throw configError(
            file,
            `${other.where}registry "${reg.location}" is defined multiple times with conflicting "${setting}" setting`,
          );
      }
    }
  }
  // Same prefix twice: the first wins (containers/image keeps the first and ignores the rest).
  const unique = new Map<string, RawRegistry>();
  for (const reg of raw) if (!unique.has(reg.prefix)) unique.set(reg.prefix, reg);
  return [...unique.values()]
    .sort((a, b) => compareGoStrings(a.prefix, b.prefix))
    .map((r) =>
      Object.freeze({
        prefix: r.prefix,
        location: r.location,
        insecure: r.insecure,
        blocked: r.blocked,
        mirrorByDigestOnly: r.mirrorByDigestOnly,
        mirrors: Object.freeze(
          r.mirrors.map((m) =>
            Object.freeze({
              location: m.location,
              insecure: m.insecure,
              pullFromMirror: m.pullFromMirror === '' ? null : (m.pullFromMirror as PullFromMirror),
            }),
          ),
        ),
        file,
        format: r.format,
      }),
    );
}

/** The first path component when it is a registry (has `.` or `:`, or is `localhost`). */
function explicitDomain(name: string): string | undefined {
  const slash = name.indexOf('/');
  if (slash < 0) return undefined;
  const first = name.slice(0, slash);
  if (!DOMAIN_RE.test(first)) return undefined;
  return first.includes('.') || first.includes(':') || first === 'localhost' ? first : undefined;
}

/** containers/image `newShortNameAliasCache`: short names as keys, fully qualified names without tag or digest as values. */
function aliases(table: TomlTable | undefined, file: string): Map<string, ShortNameAlias> {
  const out = new Map<string, ShortNameAlias>();
  if (table === undefined) return out;
  for (const name of Object.keys(table)) {
    const value = table[name];
    const where = `[aliases] ${JSON.stringify(name)}`;
    if (typeof value !== 'string') throw tomlTypeError(file, where, 'a string', value);
    const ref = aliasRef(name, file, where, 'short name');
    if (ref.tag !== undefined || ref.digest !== undefined || explicitDomain(name) !== undefined)
      throw configError(file, `${where}: invalid short name: must not contain a registry, tag or digest`);
    if (value === '') {
      out.set(name, Object.freeze({ value: null, file }));
      continue;
    }
    const target = aliasRef(value, file, where, 'alias');
    if (target.tag !== undefined || target.digest !== undefined)
      throw configError(file, `${where}: invalid alias ${JSON.stringify(value)}: must not contain a tag or digest`);
    if (explicitDomain(value) === undefined)
      throw configError(file, `${where}: invalid alias ${JSON.stringify(value)}: must contain registry and repository`);
    out.set(name, Object.freeze({ value: Object.freeze(target), file }));
  }
  return out;
}

function aliasRef(s: string, file: string, where: string, what: string): DockerReference {
  try {
    return parseDockerReference(s, what);
  } catch (err) {
    throw new OcikitError('CONFIG', `${file}: ${where}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Decodes and validates the parsed TOML `doc` of `file`. `dropIn` files must be in the v2 format.
 * @throws OcikitError `CONFIG` naming the file and the entry.
 */
export function decodeRegistriesFile(doc: TomlTable, file: string, dropIn: boolean): RegistriesFile {
  const top = new Fields(doc, file, '');
  const v1 = v1Lists(top);
  const nonEmpty = (a: readonly unknown[] | undefined) => a !== undefined && a.length > 0;
  const v1Set = v1 !== undefined && (nonEmpty(v1.search) || nonEmpty(v1.insecure) || nonEmpty(v1.block));
  let raw = v2Registries(top);
  let search = top.strings('unqualified-search-registries');
  const credentialHelpers = top.strings('credential-helpers');
  const mode = top.string('short-name-mode');
  const aliasTable = top.table('aliases');
  if (v1Set) {
    if (dropIn) throw configError(file, 'registry must be in v2 format but is in v1');
    const v2Set =
      raw.length > 0 ||
      nonEmpty(search) ||
      nonEmpty(credentialHelpers) ||
      (mode ?? '') !== '' ||
      Object.keys(aliasTable?.raw ?? {}).length > 0;
    if (v2Set) throw configError(file, 'mixing sysregistry v1/v2 is not supported');
    raw = convertV1(v1!, file);
    search = v1!.search;
  }
  const registries = postProcess(raw, file);
  const unqualified = search?.map((entry) => {
    const registry = parseLocation(entry, file, 'unqualified-search-registries: ');
    if (!DOMAIN_RE.test(registry))
      throw configError(file, `Invalid unqualified-search-registries entry ${JSON.stringify(registry)}`);
    return registry;
  });
  if (mode !== undefined && mode !== '' && !SHORT_NAME_MODES.includes(mode))
    throw configError(file, `invalid short-name mode: ${JSON.stringify(mode)}`);
  for (const r of registries) {
    if (r.prefix.startsWith('*.') && /[/@:]/.test(r.prefix))
      throw configError(
        file,
        `Wildcarded prefix should be in the format: *.example.com. Current prefix ${JSON.stringify(r.prefix)} is incorrectly formatted`,
      );
  }
  const aliasMap = aliases(aliasTable?.raw, file);
  return {
    file,
    registries,
    unqualifiedSearchRegistries: unqualified,
    credentialHelpers,
    shortNameMode: mode === undefined || mode === '' ? undefined : (mode as ShortNameMode),
    aliases: aliasMap,
  };
}
