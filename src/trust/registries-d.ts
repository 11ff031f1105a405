/**
 * registries.d (containers-registries.d(5)): where the signatures of docker images are looked up,
 * as containers/image 5.23 `docker/registries_d.go` reads it (checked against skopeo 1.9.3 by
 * experiment, test/trust/registries-d.test.ts):
 * - the directory: an explicit one (skopeo's `--registries.d`), else
 *   `$HOME/.config/containers/registries.d` when it exists (`$HOME`, never `$XDG_CONFIG_HOME`, for
 *   root too), else `/etc/containers/registries.d`; a directory that does not exist is an empty
 *   configuration;
 * - every `*.yaml` entry of it is read (in name order; c/image takes directory order, which only
 *   changes which file an error names first) and merged: `default-docker` and each `docker`
 *   scope may be defined by one file only, else the configuration is an error naming both files;
 * - each file is YAML 1.1 (c/image's `ghodss/yaml` over `yaml.v2`: `yes`/`on` are booleans)
 *   decoded into c/image's Go structs with `encoding/json` rules: keys match case-insensitively,
 *   unknown keys are ignored, `null` leaves a zero value, a type mismatch is an error. Stricter
 *   than c/image: a key repeated in one mapping is an error (yaml.v2 keeps the last), a scalar
 *   that is not a string where a string is expected is an error (ghodss/yaml turns `123` into the
 *   string `"123"`, which then crashes skopeo 1.9.3 as a scheme-less URL);
 * - for a reference, the lookaside URL of the most specific `docker` scope that sets one
 *   (`PolicyConfigurationIdentity`, then `PolicyConfigurationNamespaces`: repository, parent
 *   namespaces, host, `*.` wildcard domains), else `default-docker`'s, else the built-in default
 *   (`file:///var/lib/containers/sigstore` for euid 0, `file://$HOME/.local/share/containers/sigstore`
 *   otherwise; the euid is `$_CONTAINERS_ROOTLESS_UID` when set). For reading, `lookaside` wins
 *   over the legacy `sigstore`; the `-staging` keys are only for writing.
 *   `use-sigstore-attachments` is found the same way (the first scope that sets it; default false);
 * - the lookaside base of an image is that URL with `/<repository path>` appended
 *   (`lookasideStorageBaseURL`), and signature N is at `<base>@sha256=<hex>/signature-N`
 *   (`docker/registries_d.go` `lookasideStorageURL`).
 */
import { readdir, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import type * as YAML from 'yaml';

let yamlLib: typeof YAML | undefined;
/**
 * The yaml library, loaded on first use (about 30 ms): a host without registries.d files never
 * pays it. Loaded through `require`, which keeps {@link parseRegistriesDFile} synchronous.
 */
function yaml(): typeof YAML {
  yamlLib ??= createRequire(import.meta.url)('yaml') as typeof YAML;
  return yamlLib;
}
import { OcikitError } from '../errors.js';
import { T, decodeGo, type GoStruct } from '../gojson/decode.js';
import type { GoNode } from '../gojson/parse.js';
import { readNamedFile } from '../internal/fs.js';
import { type HostEnv, hostHome, hostUid, hostVar } from '../internal/host-env.js';
import { escapeControl } from '../internal/text.js';
import type { Digest } from '../model/digest.js';
import type { DockerReference } from '../model/docker-reference.js';
import { dockerPolicyIdentity } from './policy-scopes.js';

/** The system directory (c/image `builtinRegistriesDirPath`). */
export const SYSTEM_REGISTRIES_D = '/etc/containers/registries.d';
/** The per-user directory under `$HOME`. */
const USER_REGISTRIES_D = '.config/containers/registries.d';
/** The built-in lookaside directory for euid 0, and for others under `$HOME`. */
const ROOT_LOOKASIDE = '/var/lib/containers/sigstore';
const USER_LOOKASIDE = '.local/share/containers/sigstore';
/** A registries.d file's size limit. */
const MAX_FILE = 1024 * 1024;

/**
 * Where registries.d is read from.
 * @category Trust
 */
export interface RegistriesDOptions extends HostEnv {
  /** A directory to read instead of the standard one (skopeo's `--registries.d`). */
  readonly dir?: string | undefined;
  /** The system directory (default {@link SYSTEM_REGISTRIES_D}); tests inject their own. */
  readonly systemDir?: string | undefined;
}

/**
 * One scope of registries.d (c/image `registryNamespace`); unset keys are absent.
 * @category Trust
 */
export interface RegistryNamespace {
  /** `lookaside`: where signatures are read (and written when there is no staging URL). */
  readonly lookaside?: string | undefined;
  /** `lookaside-staging`: where signatures are written. */
  readonly lookasideStaging?: string | undefined;
  /** `sigstore`: the legacy name of `lookaside`. */
  readonly sigstore?: string | undefined;
  /** `sigstore-staging`: the legacy name of `lookaside-staging`. */
  readonly sigstoreStaging?: string | undefined;
  /** `use-sigstore-attachments`, when set. */
  readonly useSigstoreAttachments?: boolean | undefined;
  /** The file that defined the scope. */
  readonly file: string;
}

/**
 * The merged registries.d configuration.
 * @category Trust
 */
export interface RegistriesD {
  /** The directory read (null when none exists). */
  readonly dir: string | null;
  /** The files read, in order. */
  readonly files: readonly string[];
  /** `default-docker`, when a file defines it. */
  readonly defaultDocker?: RegistryNamespace | undefined;
  /** The `docker` scopes by name. */
  readonly docker: ReadonlyMap<string, RegistryNamespace>;
  /** The built-in lookaside URL used when no scope sets one, or undefined without a home directory. */
  readonly builtinLookaside?: string | undefined;
}

/**
 * Where the signatures of one image are looked up.
 * @category Trust
 */
export interface SignatureLocations {
  /**
   * The lookaside base of the image (`<lookaside URL>/<repository path>`), or undefined for none;
   * signature N is `<lookaside>@sha256=<hex>/signature-N`.
   */
  readonly lookaside?: string | undefined;
  /** Where the lookaside URL was configured (`docker scope "…" in FILE`, `built-in default`), for messages. */
  readonly lookasideFrom?: string | undefined;
  /** `use-sigstore-attachments`. */
  readonly useSigstoreAttachments: boolean;
}

const NAMESPACE = T.struct({
  lookaside: T.string,
  'lookaside-staging': T.string,
  sigstore: T.string,
  'sigstore-staging': T.string,
  'use-sigstore-attachments,omitempty': T.ptr(T.bool),
});
const CONFIGURATION = T.struct({ 'default-docker': T.ptr(NAMESPACE), docker: T.map(NAMESPACE) });

function configError(file: string, message: string, cause?: unknown): OcikitError {
  return new OcikitError('CONFIG', `registries.d file ${file}: ${message}`, cause === undefined ? {} : { cause });
}

/** A JavaScript value of `yaml`'s `toJS` (maps as `Map`) as the JSON tree ghodss/yaml hands Go. */
function toGoNode(v: unknown, file: string): GoNode {
  if (v === null || v === undefined) return { kind: 'null' };
  if (typeof v === 'string') return { kind: 'string', value: v };
  if (typeof v === 'boolean') return { kind: 'bool', value: v };
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw configError(file, `the number ${v} cannot be represented in JSON`);
    return { kind: 'number', text: String(v) };
  }
  if (typeof v === 'bigint') return { kind: 'number', text: v.toString() };
  if (v instanceof Date) return { kind: 'string', value: v.toISOString() };
  if (Array.isArray(v)) return { kind: 'array', items: v.map((x) => toGoNode(x, file)) };
  if (v instanceof Map) {
    const members = [...v.entries()].map(([k, x]) => {
      if (k !== null && typeof k === 'object') throw configError(file, 'a mapping key is not a scalar');
      return { key: String(k), value: toGoNode(x, file) };
    });
    return { kind: 'object', members };
  }
  throw configError(file, `unexpected YAML value ${escapeControl(String(v)).slice(0, 80)}`);
}

function namespaceOf(v: unknown, file: string): RegistryNamespace {
  const s = (v ?? {}) as GoStruct;
  const str = (k: string) => (typeof s[k] === 'string' && s[k] !== '' ? (s[k] as string) : undefined);
  const use = s['use-sigstore-attachments'];
  return {
    lookaside: str('lookaside'),
    lookasideStaging: str('lookaside-staging'),
    sigstore: str('sigstore'),
    sigstoreStaging: str('sigstore-staging'),
    useSigstoreAttachments: typeof use === 'boolean' ? use : undefined,
    file,
  };
}

/**
 * Parses one registries.d file's bytes (`file` names it in errors).
 * @throws OcikitError `CONFIG` naming the file.
 */
export function parseRegistriesDFile(
  bytes: Uint8Array,
  file: string,
): { defaultDocker?: RegistryNamespace; docker: Map<string, RegistryNamespace> } {
  const doc = yaml().parseDocument(Buffer.from(bytes).toString('utf8'), { version: '1.1', uniqueKeys: true });
  const problem = doc.errors[0];
  if (problem !== undefined)
    throw configError(file, escapeControl((problem.message.split('\n')[0] ?? '').replace(/:$/, '')), problem);
  let js: unknown;
  try {
    js = doc.toJS({ mapAsMap: true, maxAliasCount: 100 });
  } catch (err) {
    throw configError(file, escapeControl((err as Error).message.split('\n')[0] ?? ''), err);
  }
  let decoded: GoStruct;
  try {
    decoded = (decodeGo(toGoNode(js, file), CONFIGURATION) as GoStruct | undefined) ?? {};
  } catch (err) {
    if (err instanceof OcikitError && err.code === 'CONFIG') throw err;
    throw configError(file, escapeControl((err as Error).message), err);
  }
  const docker = new Map<string, RegistryNamespace>();
  for (const [k, v] of (decoded.docker as Map<string, unknown> | undefined) ?? []) docker.set(k, namespaceOf(v, file));
  const dd = decoded['default-docker'];
  return { ...(dd !== undefined ? { defaultDocker: namespaceOf(dd, file) } : {}), docker };
}

/** The directory c/image reads: explicit, else the per-user one when it exists, else the system one. */
async function registriesDirPath(opts: RegistriesDOptions): Promise<string> {
  if (opts.dir !== undefined && opts.dir !== '') return opts.dir;
  const home = hostHome(opts);
  if (home !== undefined) {
    const user = path.join(home, USER_REGISTRIES_D);
    if (
      await stat(user).then(
        () => true,
        () => false,
      )
    )
      return user;
  }
  return opts.systemDir ?? SYSTEM_REGISTRIES_D;
}

/** c/image `builtinDefaultLookasideStorageDir`, as a URL. */
function builtinLookaside(opts: HostEnv): string | undefined {
  const env = hostVar(opts, '_CONTAINERS_ROOTLESS_UID');
  // Go's strconv.Atoi: an invalid value gives 0 (and so the root default).
  const euid = env !== undefined ? (/^[+-]?\d+$/.test(env) ? Number(env) : 0) : hostUid(opts);
  if (euid === 0) return `file://${ROOT_LOOKASIDE}`;
  const home = hostHome(opts);
  return home === undefined ? undefined : new URL(`file://${path.join(home, USER_LOOKASIDE)}`).href;
}

/**
 * Reads registries.d (see the module header).
 * @throws OcikitError `CONFIG` naming the file (unreadable or malformed, a scope defined twice) or
 *   the directory (unreadable).
 * @category Trust
 */
export async function loadRegistriesD(opts: RegistriesDOptions = {}): Promise<RegistriesD> {
  const dir = await registriesDirPath(opts);
  const base = { builtinLookaside: builtinLookaside(opts) };
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { dir: null, files: [], docker: new Map(), ...base };
    throw new OcikitError('CONFIG', `registries.d directory ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const files = names
    .filter((n) => n.endsWith('.yaml'))
    .sort()
    .map((n) => path.join(dir, n));
  let defaultDocker: RegistryNamespace | undefined;
  const docker = new Map<string, RegistryNamespace>();
  for (const file of files) {
    let bytes: Uint8Array;
    try {
      bytes = await readNamedFile(file, 'registries.d file', { maxBytes: MAX_FILE });
    } catch (err) {
      throw configError(file, (err as Error).message, err);
    }
    const one = parseRegistriesDFile(bytes, file);
    if (one.defaultDocker !== undefined) {
      if (defaultDocker !== undefined)
        throw configError(file, `"default-docker" is defined both in ${defaultDocker.file} and ${file}`);
      defaultDocker = one.defaultDocker;
    }
    for (const [name, ns] of one.docker) {
      const before = docker.get(name);
      if (before !== undefined) {
        throw configError(
          file,
          `"docker" scope ${escapeControl(JSON.stringify(name))} is defined both in ${before.file} and ${file}`,
        );
      }
      docker.set(name, ns);
    }
  }
  return { dir, files, ...(defaultDocker !== undefined ? { defaultDocker } : {}), docker, ...base };
}

/** The scopes of `ref` that apply, most specific first, with how messages name them. */
function scopesFor(rd: RegistriesD, ref: DockerReference): { ns: RegistryNamespace; label: string }[] {
  const id = dockerPolicyIdentity(ref);
  const out: { ns: RegistryNamespace; label: string }[] = [];
  for (const name of [id.identity, ...id.namespaces]) {
    const ns = rd.docker.get(name);
    if (ns !== undefined) out.push({ ns, label: `docker scope ${JSON.stringify(name)} in ${ns.file}` });
  }
  if (rd.defaultDocker !== undefined)
    out.push({ ns: rd.defaultDocker, label: `default-docker in ${rd.defaultDocker.file}` });
  return out;
}

/**
 * The lookaside base URL: `url` with `/<repo>` appended to its path, as Go's `url.Path + "/" + repo`
 * (a URL without a path, `http://host`, gets `/repo`; `http://host/` gets `//repo`).
 */
export function lookasideBase(url: string, repo: string, from: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch (err) {
    throw new OcikitError(
      'CONFIG',
      `lookaside URL ${escapeControl(JSON.stringify(url))} (${from}) is not an absolute URL`,
      { cause: err },
    );
  }
  const emptyPath = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*(?:[?#]|$)/i.test(url);
  const pathname = emptyPath ? '' : u.pathname;
  const out = new URL(u.href);
  out.pathname = `${pathname}/${repo}`;
  return out.href;
}

/** The URL of signature `n` (from 1) of manifest `digest` under a lookaside base (`lookasideStorageURL`). */
export function lookasideSignatureURL(base: string, digest: Digest, n: number): URL {
  const u = new URL(base);
  const [algorithm, hex] = digest.split(':');
  u.pathname = `${u.pathname}@${algorithm}=${hex}/signature-${n}`;
  return u;
}

/**
 * Where the signatures of `ref` (the reference of the endpoint the image is pulled from, as
 * containers/image looks the pull source's reference up) are looked for.
 * @throws OcikitError `CONFIG` for a lookaside URL that is not an absolute URL (naming where it is set).
 * @category Trust
 */
export function signatureLocationsFor(rd: RegistriesD, ref: DockerReference): SignatureLocations {
  const scopes = scopesFor(rd, ref);
  let url: string | undefined;
  let from: string | undefined;
  for (const { ns, label } of scopes) {
    const v = ns.lookaside ?? ns.sigstore;
    if (v !== undefined) {
      url = v;
      from = `${ns.lookaside !== undefined ? 'lookaside' : 'sigstore'} of ${label}`;
      break;
    }
  }
  if (url === undefined && rd.builtinLookaside !== undefined) {
    url = rd.builtinLookaside;
    from = 'the built-in default';
  }
  let use = false;
  for (const { ns } of scopes) {
    if (ns.useSigstoreAttachments !== undefined) {
      use = ns.useSigstoreAttachments;
      break;
    }
  }
  const lookaside = url === undefined ? undefined : lookasideBase(url, ref.path, from ?? '');
  return { lookaside, lookasideFrom: from, useSigstoreAttachments: use };
}
