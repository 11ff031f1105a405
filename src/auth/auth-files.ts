/**
 * Registry credentials from the containers auth files, looked up as containers/image's
 * `pkg/docker/config` does (containers-auth.json(5)); the file order is in the TSDoc of
 * {@link authFilePaths}, the key order at {@link lookupCredentials}, and docs/fetch.md sums both
 * up. Credential helpers and identity tokens are not supported.
 *
 * The `WWW-Authenticate` challenges that ask for credentials are HTTP, not credentials: they are
 * parsed in registry/transport/challenge.ts.
 */
import * as path from 'node:path';
import { OcikitError, isOcikitError } from '../errors.js';
import { readNamedFile } from '../internal/fs.js';
import { type HostEnv, hostHome, hostPath, hostUid, hostVar, userConfigDir } from '../internal/host-env.js';

/** A user name and password for HTTP Basic authentication (and token requests). */
export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/** One auth file to read, and whether it is the legacy `.dockercfg` shape. */
export interface AuthFilePath {
  readonly path: string;
  readonly legacy: boolean;
}

/**
 * Where to look for credentials: the host (see internal/host-env.ts; `uid` names the primary file
 * without `XDG_RUNTIME_DIR`, `cwd` resolves a relative explicit file) and an explicit file.
 */
export interface AuthLookupOptions extends HostEnv {
  /** An explicit auth file (like skopeo's `--authfile`); only it is read. */
  readonly authFile?: string | undefined;
}

/**
 * The auth files to read, in order: an explicit file (`authFile`, else `$REGISTRY_AUTH_FILE`) is
 * the only file read; otherwise the primary file `$XDG_RUNTIME_DIR/containers/auth.json`
 * (`/run/containers/<uid>/auth.json` without XDG_RUNTIME_DIR), then
 * `$XDG_CONFIG_HOME/containers/auth.json` (`~/.config/...`), then `$DOCKER_CONFIG/config.json` or
 * `~/.docker/config.json`, then the legacy `~/.dockercfg` (whose top level is the `auths` map).
 * A file under a home directory is left out when the host has none (and neither
 * `XDG_CONFIG_HOME` nor `DOCKER_CONFIG` says where it is).
 */
export function authFilePaths(opts: AuthLookupOptions = {}): AuthFilePath[] {
  const explicit = opts.authFile ?? hostVar(opts, 'REGISTRY_AUTH_FILE');
  if (explicit !== undefined) return [{ path: hostPath(opts, explicit), legacy: false }];
  const runtime = hostVar(opts, 'XDG_RUNTIME_DIR');
  const config = userConfigDir(opts);
  const docker = hostVar(opts, 'DOCKER_CONFIG');
  const home = hostHome(opts);
  const out: AuthFilePath[] = [
    {
      path: runtime ? path.join(runtime, 'containers', 'auth.json') : `/run/containers/${hostUid(opts)}/auth.json`,
      legacy: false,
    },
  ];
  if (config !== undefined) out.push({ path: path.join(config, 'containers', 'auth.json'), legacy: false });
  if (docker !== undefined) out.push({ path: path.join(docker, 'config.json'), legacy: false });
  else if (home !== undefined) out.push({ path: path.join(home, '.docker', 'config.json'), legacy: false });
  if (home !== undefined) out.push({ path: path.join(home, '.dockercfg'), legacy: true });
  return out;
}

/**
 * Normalises an auth-file key as c/image does before its second, looser pass: a URL-shaped key
 * (`https://host/v1/`), and every key of a legacy `.dockercfg`, is cut down to its host; a plain
 * `host/namespace` key stays as it is, so it never matches another namespace of the same host.
 * Docker Hub's other names mean `docker.io`.
 */
function normaliseAuthKey(key: string, legacy: boolean): string {
  let k = key.replace(/^https?:\/\//, '');
  if (legacy || k !== key) {
    const slash = k.indexOf('/');
    if (slash >= 0) k = k.slice(0, slash);
  }
  return k === 'index.docker.io' || k === 'registry-1.docker.io' ? 'docker.io' : k;
}

function decodeAuth(entry: unknown, file: string, key: string): Credentials | undefined {
  if (entry === null || typeof entry !== 'object') return undefined;
  const e = entry as Record<string, unknown>;
  if (typeof e.auth === 'string' && e.auth !== '') {
    const text = Buffer.from(e.auth, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon < 0)
      throw new OcikitError('CONFIG', `${file}: the "auth" of ${JSON.stringify(key)} is not base64 of user:password`);
    return { username: text.slice(0, colon), password: text.slice(colon + 1) };
  }
  return undefined;
}

/**
 * Finds credentials for `host` and repository `repo` in one parsed auth file's `auths` map.
 * Keys tried: `host/repo`, each parent namespace, `host`, then URL-shaped keys (any key of a
 * `legacy` `.dockercfg`) naming the host.
 */
export function credentialsFromAuths(
  auths: Record<string, unknown>,
  host: string,
  repo: string,
  file = 'auth file',
  legacy = false,
): Credentials | undefined {
  const parts = repo.split('/');
  for (let n = parts.length; n >= 1; n--) {
    const key = `${host}/${parts.slice(0, n).join('/')}`;
    const c = decodeAuth(auths[key], file, key);
    if (c) return c;
  }
  const direct = decodeAuth(auths[host], file, host);
  if (direct) return direct;
  for (const [key, entry] of Object.entries(auths)) {
    if (key !== host && normaliseAuthKey(key, legacy) === host) {
      const c = decodeAuth(entry, file, key);
      if (c) return c;
    }
  }
  return undefined;
}

/**
 * Looks up credentials for repository `repo` on registry `host` (the domain as written in the
 * reference, e.g. `docker.io`, `quay.io`, `127.0.0.1:5000`) in the files of {@link authFilePaths};
 * a missing file is skipped and the first file holding an entry for the image wins. In each file
 * the keys are tried most specific first: `host/ns/repo`, `host/ns`, `host`, then legacy keys
 * written as URLs (`https://host/v1/`), with `index.docker.io` meaning `docker.io`. An entry's
 * `auth` is base64 of `user:password`.
 * @returns the credentials, or undefined for anonymous access.
 * @throws OcikitError `CONFIG` when a file exists but is not valid JSON or holds a malformed entry.
 */
export async function lookupCredentials(
  host: string,
  repo: string,
  opts: AuthLookupOptions = {},
): Promise<Credentials | undefined> {
  for (const f of authFilePaths(opts)) {
    let text: string;
    try {
      // Never blocks on a FIFO; anything but a regular file is refused.
      text = (await readNamedFile(f.path, 'auth file')).toString('utf8');
    } catch (err) {
      if (isOcikitError(err, 'NOT_FOUND')) continue;
      const code = ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code;
      const message = code ? `auth file ${f.path} cannot be read: ${code}` : (err as Error).message;
      throw new OcikitError('CONFIG', message, { cause: err });
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new OcikitError('CONFIG', `auth file ${f.path} is not valid JSON: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
      throw new OcikitError('CONFIG', `auth file ${f.path} does not hold a JSON object`);
    }
    const auths = f.legacy ? doc : (doc as Record<string, unknown>).auths;
    if (auths === undefined || auths === null) continue;
    if (typeof auths !== 'object' || Array.isArray(auths)) {
      throw new OcikitError('CONFIG', `auth file ${f.path}: "auths" is not an object`);
    }
    const c = credentialsFromAuths(auths as Record<string, unknown>, host, repo, f.path, f.legacy);
    if (c) return c;
  }
  return undefined;
}

/** The `Authorization` value for Basic credentials. */
export function basicAuthorization(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;
}
