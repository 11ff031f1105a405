/**
 * The host's system trust store, found as Go's crypto/x509 finds it on Linux (golang/go
 * `src/crypto/x509/root_unix.go` `loadSystemRoots` and `root_linux.go`, as of Go 1.19, which
 * skopeo 1.9.3 on Debian 12 is built with):
 *
 * - bundle files: `$SSL_CERT_FILE` alone when set, else the distribution bundles in order
 *   ({@link CERT_FILES}); the first one that can be read is used, the rest are not looked at;
 * - directories: `$SSL_CERT_DIR` (colon-separated) when set, else {@link CERT_DIRECTORIES}; every
 *   entry of each is read, except symbolic links whose target has no `/` (OpenSSL's `c_rehash`
 *   hash links to a file beside them, Go's `readUniqueDirectoryEntries`); entries that cannot be
 *   read (subdirectories, dangling links) are skipped;
 * - from every file, the certificates `AppendCertsFromPEM` takes (`pem.ts`), each once.
 *
 * The store is read synchronously when the first verified https connection of a process is
 * built (as Go reads it once, on first use), once per distinct `SSL_CERT_FILE`/`SSL_CERT_DIR`.
 * Where ocikit differs: a non-regular file (a FIFO, a device) is skipped, where Go's read would
 * block or read it; when nothing at all is found ocikit, like Go, trusts no system CA (see
 * docs/tls.md). On other platforms than Linux, Node's bundled roots stand in for the system store.
 */
import { constants as fsc, closeSync, fstatSync, openSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import * as path from 'node:path';
import { type HostEnv, hostVar } from '../internal/host-env.js';
import { certificatePem, certificatesFromPem } from './pem.js';
import { createHash } from 'node:crypto';

/** The bundle files Go 1.19 tries on Linux, in order (`root_linux.go` `certFiles`). */
export const CERT_FILES: readonly string[] = [
  '/etc/ssl/certs/ca-certificates.crt', // Debian, Ubuntu, Gentoo
  '/etc/pki/tls/certs/ca-bundle.crt', // Fedora, RHEL 6
  '/etc/ssl/ca-bundle.pem', // openSUSE
  '/etc/pki/tls/cacert.pem', // OpenELEC
  '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem', // CentOS, RHEL 7
  '/etc/ssl/cert.pem', // Alpine
];

/** The directories Go 1.19 reads on Linux (`root_linux.go` `certDirectories`). */
export const CERT_DIRECTORIES: readonly string[] = [
  '/etc/ssl/certs',
  '/etc/pki/tls/certs',
  '/system/etc/security/cacerts',
];

/** The system trust store as found. */
export interface SystemRoots {
  /** The certificates, PEM, each once (by DER), in the order found. */
  readonly pems: readonly string[];
  /** The files that contributed at least one certificate. */
  readonly files: readonly string[];
  /** The bundle files and directories that were looked at. */
  readonly searched: readonly string[];
}

/** The bundle files and directories the store of `h` is read from. */
export function systemRootSources(h: HostEnv): { files: readonly string[]; dirs: readonly string[] } {
  const file = hostVar(h, 'SSL_CERT_FILE');
  const dir = hostVar(h, 'SSL_CERT_DIR');
  return {
    files: file !== undefined ? [file] : CERT_FILES,
    dirs: dir !== undefined ? dir.split(':') : CERT_DIRECTORIES,
  };
}

/** The contents of regular file `file`, or undefined when it cannot be read (opened without blocking on a FIFO). */
function readRegular(file: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(file, fsc.O_RDONLY | fsc.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    return fstatSync(fd).isFile() ? readFileSync(fd) : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** The entries of `dir` Go reads: all but symbolic links whose target has no slash. */
function uniqueEntries(dir: string): string[] {
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter((e) => {
      if (!e.isSymbolicLink()) return true;
      try {
        return readlinkSync(path.join(dir, e.name)).includes('/');
      } catch {
        return true;
      }
    })
    .map((e) => e.name)
    .sort();
}

/** Reads the store of `h` (uncached; see {@link systemRoots}). */
export function loadSystemRoots(h: HostEnv = {}): SystemRoots {
  const { files, dirs } = systemRootSources(h);
  const pems: string[] = [];
  const used: string[] = [];
  const seen = new Set<string>();
  const add = (file: string, data: Buffer) => {
    const seenBefore = (der: Buffer) => {
      const sum = createHash('sha256').update(der).digest('hex');
      if (seen.has(sum)) return true;
      seen.add(sum);
      return false;
    };
    const found = certificatesFromPem(data, seenBefore);
    for (const der of found) pems.push(certificatePem(der));
    if (found.length > 0) used.push(file);
  };
  for (const file of files) {
    const data = readRegular(file);
    if (data === undefined) continue;
    add(file, data);
    break;
  }
  for (const dir of dirs) {
    for (const name of uniqueEntries(dir)) {
      const file = `${dir}/${name}`;
      const data = readRegular(file);
      if (data !== undefined) add(file, data);
    }
  }
  return { pems, files: used, searched: [...files, ...dirs] };
}

const cache = new Map<string, SystemRoots>();

/**
 * The system trust store of `h`, read on the first call for its `SSL_CERT_FILE` and
 * `SSL_CERT_DIR` and kept for the life of the process (Go reads it once per process too), or
 * undefined on platforms other than Linux, where Node's bundled roots are used.
 */
export function systemRoots(h: HostEnv = {}): SystemRoots | undefined {
  if (process.platform !== 'linux') return undefined;
  const key = JSON.stringify([hostVar(h, 'SSL_CERT_FILE') ?? null, hostVar(h, 'SSL_CERT_DIR') ?? null]);
  let roots = cache.get(key);
  if (roots === undefined) {
    roots = loadSystemRoots(h);
    cache.set(key, roots);
  }
  return roots;
}
