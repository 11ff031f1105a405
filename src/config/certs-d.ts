/**
 * Per-registry certificate directories (containers-certs.d(5)), found and read as containers/image
 * 5.23 does (skopeo 1.9.3): `docker/docker_client.go` `dockerCertDir` picks the directory,
 * `pkg/tlsclientconfig/tlsclientconfig.go` `SetupCertificates` reads it.
 *
 * - The directory: an explicit one (skopeo's `--cert-dir`, `SystemContext.DockerCertPath`) is used
 *   for every registry as is; otherwise the first of `$HOME/.config/containers/certs.d/<host:port>`,
 *   `/etc/containers/certs.d/<host:port>` and `/etc/docker/certs.d/<host:port>` that exists (the
 *   others are not read: no merging). Docker Hub's is `docker.io`, the name in references.
 * - Its entries, in name order: `*.crt` files are CA certificates trusted besides the system roots;
 *   `NAME.cert` with `NAME.key` is a client certificate and its key; a `.cert` without its `.key`,
 *   or a `.key` without its `.cert`, is an error. A directory that does not exist or may not be
 *   read is no directory; a `.crt` that vanished (a dangling link) is skipped.
 *
 * Errors are `CONFIG` and name the file; key contents never appear in them.
 */
import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { OcikitError, isOcikitError } from '../errors.js';
import { readNamedFile } from '../internal/fs.js';
import { type HostEnv, hostHome, hostPath } from '../internal/host-env.js';
import { certificatePem, certificatesFromPem, loadKeyPair } from './pem.js';

/**
 * One registry's TLS material from its certs.d directory: extra CA certificates trusted besides
 * the host's system roots, and a client certificate with its key.
 * @category Registry
 */
export interface TlsMaterial {
  /** Extra CA certificates (PEM, one certificate each), added to the host's system roots. */
  readonly ca?: readonly Buffer[] | undefined;
  /** The client certificate (PEM, the leaf first). */
  readonly cert?: Buffer | undefined;
  /** The client certificate's key (PEM). */
  readonly key?: Buffer | undefined;
}

/**
 * The certificate directory used for a registry and the files taken from it (for plans and
 * `ocikit registries`; never their contents).
 * @category Registry
 */
export interface CertDirFiles {
  /** The directory. */
  readonly dir: string;
  /** The `.crt`, `.cert` and `.key` files used, in name order. */
  readonly files: readonly string[];
}

/** Where certificate directories are looked up. */
export interface CertDirOptions extends HostEnv {
  /** A directory used for every registry instead of certs.d (skopeo's `--cert-dir`). */
  readonly certDir?: string | undefined;
}

/** The system certs.d roots after the per-user one, in order (containers/image `perHostCertDirs`). */
export const SYSTEM_CERTS_D: readonly string[] = ['/etc/containers/certs.d', '/etc/docker/certs.d'];

function configError(message: string, cause?: unknown): OcikitError {
  return new OcikitError('CONFIG', message, cause === undefined ? {} : { cause });
}

function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * The certificate directory for `hostPort` (`registry.example:5000`), or undefined when none of
 * the candidates exists. `systemRoots` replaces {@link SYSTEM_CERTS_D} (tests).
 * @throws OcikitError `CONFIG` when a candidate cannot be examined for another reason than not
 * existing or permissions (as containers/image fails then).
 */
export async function certDirFor(
  hostPort: string,
  opts: CertDirOptions = {},
  systemRoots: readonly string[] = SYSTEM_CERTS_D,
): Promise<string | undefined> {
  if (opts.certDir !== undefined && opts.certDir !== '') return hostPath(opts, opts.certDir);
  const home = hostHome(opts);
  const roots = [...(home === undefined ? [] : [path.join(home, '.config/containers/certs.d')]), ...systemRoots];
  for (const root of roots) {
    const dir = path.join(root, hostPort);
    try {
      await stat(dir);
      return dir;
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT' || code === 'EACCES' || code === 'EPERM') continue;
      throw configError(`certificate directory ${dir} cannot be examined: ${code ?? String(err)}`, err);
    }
  }
  return undefined;
}

/** Reads entry `file`; undefined for a missing one when `missingOk` (a dangling link, a race). */
async function readEntry(file: string, what: string, missingOk = false): Promise<Buffer | undefined> {
  try {
    return await readNamedFile(file, what);
  } catch (err) {
    if (missingOk && isOcikitError(err, 'NOT_FOUND')) return undefined;
    throw configError(isOcikitError(err) ? err.message : `${what}: ${file}: ${String(err)}`, err);
  }
}

/**
 * Reads certificate directory `dir` as `SetupCertificates` does. Undefined when it does not exist
 * or may not be read.
 * @throws OcikitError `CONFIG` naming the file: an unpaired `.cert` or `.key`, a client certificate
 * and key that do not load or do not match, a file that cannot be read.
 */
export async function readCertDir(dir: string): Promise<{ files: CertDirFiles; tls: TlsMaterial } | undefined> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EPERM') return undefined;
    throw configError(`certificate directory ${dir} cannot be read: ${code ?? String(err)}`, err);
  }
  const has = new Set(names);
  const files: string[] = [];
  const ca: Buffer[] = [];
  let client: { cert: Buffer; key: Buffer } | undefined;
  for (const name of names) {
    const file = path.join(dir, name);
    if (name.endsWith('.crt')) {
      const data = await readEntry(file, 'certs.d CA certificate', true);
      if (data === undefined) continue; // vanished, or a dangling link
      for (const der of certificatesFromPem(data)) ca.push(Buffer.from(certificatePem(der)));
      files.push(file);
    }
    if (name.endsWith('.cert')) {
      const keyName = `${name.slice(0, -5)}.key`;
      if (!has.has(keyName)) {
        throw configError(
          `client certificate ${file} has no key ${keyName} beside it (CA certificates take the extension .crt)`,
        );
      }
      const keyFile = path.join(dir, keyName);
      const certData = (await readEntry(file, 'certs.d client certificate'))!;
      const keyData = (await readEntry(keyFile, 'certs.d client key'))!;
      let pair: { cert: Buffer; key: Buffer };
      try {
        pair = loadKeyPair(certData, keyData);
      } catch (err) {
        throw configError(`client certificate ${file} with key ${keyFile}: ${(err as Error).message}`);
      }
      // containers/image loads every pair; Go then offers the first the server accepts. ocikit
      // offers the first pair in name order (docs/tls.md).
      client ??= pair;
      files.push(file, keyFile);
    }
    if (name.endsWith('.key')) {
      const certName = `${name.slice(0, -4)}.cert`;
      if (!has.has(certName)) throw configError(`client key ${file} has no certificate ${certName} beside it`);
    }
  }
  const tls: TlsMaterial = {
    ...(ca.length > 0 ? { ca } : {}),
    ...(client !== undefined ? { cert: client.cert, key: client.key } : {}),
  };
  return { files: { dir, files }, tls };
}

/**
 * The certs.d material of registry `hostPort`: the directory {@link certDirFor} picks, read by
 * {@link readCertDir}. Undefined when there is no directory.
 * @throws OcikitError `CONFIG` (see both).
 */
export async function registryCerts(
  hostPort: string,
  opts: CertDirOptions = {},
): Promise<{ files: CertDirFiles; tls: TlsMaterial | undefined } | undefined> {
  const dir = await certDirFor(hostPort, opts);
  if (dir === undefined) return undefined;
  const got = await readCertDir(dir);
  if (got === undefined) return undefined;
  const empty = got.tls.ca === undefined && got.tls.cert === undefined;
  return { files: got.files, tls: empty ? undefined : intern(got.tls) };
}

/** Material by a digest of its contents: the same directory read again yields the same object. */
const interned = new Map<string, TlsMaterial>();

/**
 * `tls`, or the equal object returned before. Connections are shared by material identity
 * (`registry/transport/dispatcher.ts` `connectionKey`), and each image of a run plans its pull
 * anew: without this, every image would get its own connection pool and TLS context.
 */
function intern(tls: TlsMaterial): TlsMaterial {
  const h = createHash('sha256');
  for (const part of [
    ...(tls.ca ?? []),
    Buffer.from('\0cert'),
    tls.cert ?? Buffer.alloc(0),
    Buffer.from('\0key'),
    tls.key ?? Buffer.alloc(0),
  ]) {
    h.update(`${part.length}:`).update(part);
  }
  const key = h.digest('hex');
  const had = interned.get(key);
  if (had !== undefined) return had;
  interned.set(key, tls);
  return tls;
}
