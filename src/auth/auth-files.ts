/**
 * Registry credentials as containers/image 5.23 (skopeo 1.9.3) finds them, `pkg/docker/config/config.go`
 * `getCredentialsWithHomeDir`: the credential helpers of registries.conf in order, where
 * `containers-auth.json` (the default, and the only one unless registries.conf names others) is
 * the lookup in the auth files of containers-auth.json(5). The file order is at
 * {@link authFilePaths}, the order inside one file at {@link credentialsFromAuths}, the whole
 * search at {@link lookupCredentials}, and docs/credentials.md sums it up. External helpers are run
 * by ./cred-helpers.ts.
 *
 * The `WWW-Authenticate` challenges that ask for credentials are HTTP, not credentials: they are
 * parsed in registry/transport/challenge.ts.
 */
import * as path from 'node:path';
import { OcikitError, isOcikitError } from '../errors.js';
import { STD_ALPHABET, goBase64Decode } from '../gojson/base64.js';
import { T, decodeGo, type GoStruct } from '../gojson/decode.js';
import { parseGoJSON } from '../gojson/parse.js';
import { readNamedFile } from '../internal/fs.js';
import { type HostEnv, hostHome, hostPath, hostUid, hostVar, userConfigDir } from '../internal/host-env.js';
import { type HelperCache, credentialsFromHelper } from './cred-helpers.js';

/**
 * Credentials for a registry: a user name and password for HTTP Basic authentication and token
 * requests, or an identity token (an OAuth2 refresh token, exchanged at the token realm).
 */
export interface Credentials {
  readonly username: string;
  readonly password: string;
  /** An identity token: `identitytoken` of an auth-file entry, or a helper's `<token>` secret. */
  readonly identityToken?: string | undefined;
}

/** The registries.conf `credential-helpers` name of the auth-file lookup. */
export const AUTH_FILE_HELPER = 'containers-auth.json';

/** One auth file to read, and whether it is the legacy `.dockercfg` shape. */
export interface AuthFilePath {
  readonly path: string;
  readonly legacy: boolean;
}

/**
 * Where to look for credentials: the host (see internal/host-env.ts; `uid` names the primary file
 * without `XDG_RUNTIME_DIR`, `cwd` resolves a relative explicit file, `env` is also the environment
 * credential helpers run in), an explicit file, and the registries.conf credential helpers.
 */
export interface AuthLookupOptions extends HostEnv {
  /**
   * An explicit auth file (like skopeo's `--authfile`; default `$REGISTRY_AUTH_FILE`). It takes the
   * place of the primary file only: the per-user and Docker files are still read after it.
   */
  readonly authFile?: string | undefined;
  /**
   * registries.conf `credential-helpers`: helper names tried in order, `containers-auth.json`
   * meaning the auth files (default, and when empty: `["containers-auth.json"]`).
   */
  readonly credentialHelpers?: readonly string[] | undefined;
  /** Milliseconds a credential helper may take before it is killed (default 60 000). */
  readonly credentialHelperTimeoutMs?: number | undefined;
}

/** What one lookup shares with the rest of its run. */
export interface LookupRun {
  /** Helper answers already known (each helper is asked once per registry and run). */
  readonly cache?: HelperCache | undefined;
  /** Aborts running helpers. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * The auth files to read, in order (c/image `getAuthFilePaths`): the primary file — an explicit
 * file (`authFile`, else `$REGISTRY_AUTH_FILE`), otherwise `$XDG_RUNTIME_DIR/containers/auth.json`
 * (`/run/containers/<uid>/auth.json` without XDG_RUNTIME_DIR) —, then
 * `$XDG_CONFIG_HOME/containers/auth.json` (`~/.config/...`), then `$DOCKER_CONFIG/config.json` or
 * `~/.docker/config.json`, then the legacy `~/.dockercfg` (whose top level is the `auths` map).
 * A file under a home directory is left out when the host has none (and neither
 * `XDG_CONFIG_HOME` nor `DOCKER_CONFIG` says where it is).
 */
export function authFilePaths(opts: AuthLookupOptions = {}): AuthFilePath[] {
  const explicit = opts.authFile ?? hostVar(opts, 'REGISTRY_AUTH_FILE');
  const runtime = hostVar(opts, 'XDG_RUNTIME_DIR');
  const config = userConfigDir(opts);
  const docker = hostVar(opts, 'DOCKER_CONFIG');
  const home = hostHome(opts);
  const primary =
    explicit !== undefined
      ? hostPath(opts, explicit)
      : runtime
        ? path.join(runtime, 'containers', 'auth.json')
        : `/run/containers/${hostUid(opts)}/auth.json`;
  const out: AuthFilePath[] = [{ path: primary, legacy: false }];
  if (config !== undefined) out.push({ path: path.join(config, 'containers', 'auth.json'), legacy: false });
  if (docker !== undefined) out.push({ path: path.join(docker, 'config.json'), legacy: false });
  else if (home !== undefined) out.push({ path: path.join(home, '.docker', 'config.json'), legacy: false });
  if (home !== undefined) out.push({ path: path.join(home, '.dockercfg'), legacy: true });
  return out;
}

/** c/image `normalizeRegistry`: Docker Hub's names are one registry. */
function normaliseRegistry(r: string): string {
  return r === 'registry-1.docker.io' || r === 'docker.io' ? 'index.docker.io' : r;
}

/**
 * c/image `normalizeAuthFileKey`, for the second, looser pass: a URL-shaped key
 * (`https://host/v1/`), and every key of a legacy `.dockercfg`, is cut down to its host; a plain
 * `host/namespace` key stays as it is, so it never matches another namespace of the same host.
 */
function normaliseAuthKey(key: string, legacy: boolean): string {
  let k = key.replace(/^https?:\/\//, '');
  if (legacy || k !== key) {
    const slash = k.indexOf('/');
    if (slash >= 0) k = k.slice(0, slash);
  }
  return normaliseRegistry(k);
}

/**
 * c/image `decodeDockerAuth`: `auth` is Go's padded standard base64 (invalid base64 is an error) of
 * `user:password`; a value without a colon (an empty one included, as Docker writes `{}` next to a
 * credential helper) gives no credentials, and the `identitytoken` only comes with a valid `auth`.
 * NUL characters around the password are trimmed.
 */
function decodeAuth(entry: unknown, file: string, key: string): Credentials | undefined {
  const e = (entry !== null && typeof entry === 'object' ? entry : {}) as Record<string, unknown>;
  const auth = typeof e.auth === 'string' ? e.auth : '';
  let text: string;
  try {
    text = Buffer.from(goBase64Decode(auth, STD_ALPHABET)).toString('utf8');
  } catch (err) {
    throw new OcikitError('CONFIG', `auth file ${file}: the "auth" of ${JSON.stringify(key)} is not base64`, {
      cause: err,
    });
  }
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  const token = typeof e.identitytoken === 'string' && e.identitytoken !== '' ? e.identitytoken : undefined;
  const creds = { username: text.slice(0, colon), password: text.slice(colon + 1).replace(/^\0+|\0+$/g, '') };
  if (token === undefined && creds.username === '' && creds.password === '') return undefined;
  return token === undefined ? creds : { ...creds, identityToken: token };
}

/** An `auths` map: parsed JSON (an object) or decoded Go (a `Map`). */
type AuthsMap = Readonly<Record<string, unknown>> | ReadonlyMap<string, unknown>;

function entries(auths: AuthsMap): Iterable<[string, unknown]> {
  return auths instanceof Map ? auths.entries() : Object.entries(auths);
}

function entryFor(auths: AuthsMap, key: string): { entry: unknown } | undefined {
  if (auths instanceof Map) return auths.has(key) ? { entry: auths.get(key) } : undefined;
  const o = auths as Readonly<Record<string, unknown>>;
  return Object.hasOwn(o, key) ? { entry: o[key] } : undefined;
}

/**
 * Finds credentials for `host` and repository `repo` in one auth file's `auths` map, as c/image
 * `findCredentialsInFile` does after `credHelpers`: the first key that *exists* of `host/repo`,
 * each parent namespace, `host` (only `host` in a `legacy` `.dockercfg`) decides; when none
 * exists, the first key that names the host as a URL (any key of a `legacy` file, cut to its host;
 * Docker Hub's three names are one) decides. An entry that decides but holds no credentials gives
 * none: the caller moves on to the next file.
 * @throws OcikitError `CONFIG` for an `auth` that is not base64.
 */
export function credentialsFromAuths(
  auths: AuthsMap,
  host: string,
  repo: string,
  file = 'auth file',
  legacy = false,
): Credentials | undefined {
  const keys: string[] = [];
  if (!legacy) {
    const parts = repo.split('/');
    for (let n = parts.length; n >= 1; n--) keys.push(`${host}/${parts.slice(0, n).join('/')}`);
  }
  keys.push(host);
  for (const key of keys) {
    const found = entryFor(auths, key);
    if (found) return decodeAuth(found.entry, file, key);
  }
  const registry = normaliseRegistry(host);
  for (const [key, entry] of entries(auths)) {
    if (normaliseAuthKey(key, legacy) === registry) return decodeAuth(entry, file, key);
  }
  return undefined;
}

const AUTH_ENTRY = T.struct({ auth: T.string, identitytoken: T.string });
/** c/image `dockerConfigFile`. */
const AUTH_FILE = T.struct({ auths: T.map(AUTH_ENTRY), credHelpers: T.map(T.string) });
/** A legacy `.dockercfg`: the `auths` map alone. */
const LEGACY_FILE = T.map(AUTH_ENTRY);

/** One auth file as c/image `readJSONFile` reads it (Go's `encoding/json`), or undefined when it is missing. */
async function readAuthFile(
  f: AuthFilePath,
): Promise<{ auths: ReadonlyMap<string, unknown>; helpers: ReadonlyMap<string, string> } | undefined> {
  let bytes: Buffer;
  try {
    // Never blocks on a FIFO; anything but a regular file is refused.
    bytes = await readNamedFile(f.path, 'auth file');
  } catch (err) {
    if (isOcikitError(err, 'NOT_FOUND')) return undefined;
    const code = ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code;
    const message = code ? `auth file ${f.path} cannot be read: ${code}` : (err as Error).message;
    throw new OcikitError('CONFIG', message, { cause: err });
  }
  let doc: unknown;
  try {
    doc = decodeGo(parseGoJSON(bytes), f.legacy ? LEGACY_FILE : AUTH_FILE);
  } catch (err) {
    throw new OcikitError('CONFIG', `auth file ${f.path} is not valid: ${(err as Error).message}`, { cause: err });
  }
  const empty = new Map<string, never>();
  if (f.legacy) return { auths: (doc as Map<string, unknown> | undefined) ?? empty, helpers: empty };
  const d = (doc ?? {}) as GoStruct;
  return {
    auths: (d.auths as Map<string, unknown> | undefined) ?? empty,
    helpers: (d.credHelpers as Map<string, string> | undefined) ?? empty,
  };
}

/**
 * The auth-file lookup (c/image `getCredentialsFromAuthFiles`): the files of {@link authFilePaths}
 * in order, a missing one skipped; in each, a `credHelpers` entry for `host` (the registry only,
 * never a namespace) asks that helper instead of reading the file's `auths`; the first file that
 * yields credentials wins. A file that cannot be read or parsed, or a helper that fails, ends the
 * lookup with its error.
 */
async function fromAuthFiles(
  host: string,
  repo: string,
  opts: AuthLookupOptions,
  run: LookupRun,
): Promise<Credentials | undefined> {
  for (const f of authFilePaths(opts)) {
    const file = await readAuthFile(f);
    if (!file) continue;
    const helper = file.helpers.get(host);
    const c =
      helper !== undefined
        ? await credentialsFromHelper(helper, host, {
            host: opts,
            timeoutMs: opts.credentialHelperTimeoutMs,
            cache: run.cache,
            signal: run.signal,
            origin: `credHelpers of ${JSON.stringify(host)} in ${f.path}`,
          })
        : credentialsFromAuths(file.auths, host, repo, f.path, f.legacy);
    if (c) return c;
  }
  return undefined;
}

/**
 * Looks up credentials for repository `repo` on registry `host` (the domain as written in the
 * reference, e.g. `docker.io`, `quay.io`, `127.0.0.1:5000`), as c/image `getCredentialsWithHomeDir`:
 * the `credentialHelpers` in order, `containers-auth.json` being the auth files (see
 * {@link fromAuthFiles}) and any other name `docker-credential-<name>` asked for `host`. The first
 * that yields credentials wins; one that fails is remembered and the next is tried; when none
 * yields any, the failures are the error (none: anonymous access).
 * @returns the credentials, or undefined for anonymous access.
 * @throws OcikitError `CONFIG` naming the file (and entry) or the helper: a file that is not valid
 *   JSON of the auth-file shape, an `auth` that is not base64, a helper that is missing, fails or
 *   hangs; `INTERRUPTED`. No message holds a secret.
 */
export async function lookupCredentials(
  host: string,
  repo: string,
  opts: AuthLookupOptions = {},
  run: LookupRun = {},
): Promise<Credentials | undefined> {
  const helpers = opts.credentialHelpers?.length ? opts.credentialHelpers : [AUTH_FILE_HELPER];
  const failures: OcikitError[] = [];
  for (const helper of helpers) {
    try {
      const c =
        helper === AUTH_FILE_HELPER
          ? await fromAuthFiles(host, repo, opts, run)
          : await credentialsFromHelper(helper, host, {
              host: opts,
              timeoutMs: opts.credentialHelperTimeoutMs,
              cache: run.cache,
              signal: run.signal,
              origin: 'registries.conf credential-helpers',
            });
      if (c) return c;
    } catch (err) {
      if (!isOcikitError(err, 'CONFIG')) throw err;
      failures.push(err);
    }
  }
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) {
    throw new OcikitError('CONFIG', `no credentials for ${host}: ${failures.map((e) => e.message).join('; ')}`, {
      values: failures.map((e) => e.message),
    });
  }
  return undefined;
}

/** The `Authorization` value for Basic credentials. */
export function basicAuthorization(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;
}

/**
 * One place the credential lookup consults, as a dry run reports it: never a secret.
 * `file`: an auth-file entry that holds credentials (the lookup stops there); `helper`: a
 * credential helper that would be asked (a dry run does not run it; when it has nothing, the
 * lookup goes on).
 */
export type CredentialSource =
  | {
      readonly kind: 'file';
      /** The auth file. */
      readonly path: string;
      /** Whether the entry is an identity token (exchanged at the token realm) rather than a password. */
      readonly identityToken: boolean;
    }
  | {
      readonly kind: 'helper';
      /** The helper program, `docker-credential-<name>`. */
      readonly helper: string;
      /** Where it is named: registries.conf `credential-helpers`, or `credHelpers` of a file. */
      readonly origin: string;
    };

/**
 * The sources {@link lookupCredentials} would consult for `repo` on `host`, in order, up to and
 * including the first auth-file entry that holds credentials; empty when none would yield any
 * (anonymous). Helpers are listed, not run, so the answer is a dry run with no side effects.
 * @throws OcikitError `CONFIG` as {@link lookupCredentials} for a file that cannot be read or parsed.
 */
export async function credentialSources(
  host: string,
  repo: string,
  opts: AuthLookupOptions = {},
): Promise<CredentialSource[]> {
  const helpers = opts.credentialHelpers?.length ? opts.credentialHelpers : [AUTH_FILE_HELPER];
  const out: CredentialSource[] = [];
  for (const helper of helpers) {
    if (helper !== AUTH_FILE_HELPER) {
      out.push({ kind: 'helper', helper: `docker-credential-${helper}`, origin: 'registries.conf credential-helpers' });
      continue;
    }
    for (const f of authFilePaths(opts)) {
      const file = await readAuthFile(f);
      if (!file) continue;
      const named = file.helpers.get(host);
      if (named !== undefined) {
        const origin = `credHelpers of ${JSON.stringify(host)} in ${f.path}`;
        out.push({ kind: 'helper', helper: `docker-credential-${named}`, origin });
        continue;
      }
      const c = credentialsFromAuths(file.auths, host, repo, f.path, f.legacy);
      if (c) {
        out.push({
          kind: 'file',
          path: f.path,
          identityToken: c.identityToken !== undefined && c.identityToken !== '',
        });
        return out;
      }
    }
  }
  return out;
}
