/**
 * One blob as a file of its own in a layout (an `oci` blob, a `dir` blob), placed the cheapest
 * way that keeps the destination independent of the input, and verified either way:
 *
 * - **reflink** (FICLONE, through `fs.copyFile` with `COPYFILE_FICLONE_FORCE`), where source and
 *   destination share a file system that shares extents (XFS, Btrfs): no byte is copied, and a
 *   later change to either file leaves the other as it was, as with a copy. The new file is then
 *   read back and hashed (internal/hash-pool.ts, on spare cores).
 * - **hard link**, only when the caller asks (`link`: the input is immutable from then on, since
 *   a change to one is a change to both); the linked file is hashed in the same way. A link that
 *   the system refuses (another file system or mount, a read-only or protected one) falls back.
 * - otherwise the verified **copy** of copy-blob.ts (read, hash, write).
 *
 * Only a source of exactly the declared size is reflinked or linked (any other is refused by the
 * copy as it always was), and only when `/proc/self/fd` names this process's open files, so the
 * reflink clones the very file that was opened and checked. What is verified is the destination
 * file itself.
 *
 * Sources: ioctl_ficlone(2); libuv `uv_fs_copyfile` (src/unix/fs.c: `UV_FS_COPYFILE_FICLONE_FORCE`
 * fails instead of copying, the destination is removed on failure); link(2) (EXDEV across mounts,
 * EPERM under fs.protected_hardlinks); proc(5) `/proc/self/fd`.
 */
import { existsSync, constants as fsc } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fromSystemError, throwIfInterrupted } from '../errors.js';
import { openRegularFile, writeNewFile } from '../internal/fs.js';
import { FileHashJob, type HashResult, settleJob, warmHashPool } from '../internal/hash-pool.js';
import type { Descriptor } from '../model/descriptor.js';
import { Verifier } from '../model/verify.js';
import type { ImageReader } from '../transports/reader.js';
import { type CopyBlobOptions, copyBlob } from './copy-blob.js';

/** Blobs smaller than this are copied: one read and one write cost less than a clone and a hash. */
export const PLACE_MIN = 256 * 1024;

/** How {@link placeBlobFile} placed a blob. */
export type Placement = 'copied' | 'reflinked' | 'linked';

/** Options of {@link placeBlobFile}. */
export interface PlaceBlobOptions extends CopyBlobOptions {
  /** Hard-link the input's blob file where the system allows it (the input must stay unchanged). */
  readonly link?: boolean | undefined;
}

/** Source device and destination directory pairs where a reflink was refused once already. */
const noClone = new Set<string>();
let procFd: boolean | undefined;

/**
 * Creates the file `dest` (which must not exist) holding the blob `desc` of `reader`, verified
 * (size and digest) in the destination itself.
 * @returns how the blob was placed.
 * @throws OcikitError `DIGEST_MISMATCH`, `NOT_FOUND`, `INVALID_INPUT` (not a regular file),
 *   `INTERRUPTED`, `NO_SPACE`, `IO`.
 */
export async function placeBlobFile(
  reader: ImageReader,
  desc: Descriptor,
  dest: string,
  opts: PlaceBlobOptions = {},
): Promise<Placement> {
  const file = reader.blobPath?.(desc);
  procFd ??= process.platform === 'linux' && existsSync('/proc/self/fd');
  if (file !== undefined && desc.size >= PLACE_MIN && procFd) {
    const what = `${reader.source} blob`;
    const src = await openRegularFile(file, what);
    try {
      const st = await src.stat();
      if (st.size === desc.size) {
        const verifier = new Verifier({ digest: desc.digest, size: desc.size }, `${what} ${desc.digest}`);
        if (opts.link === true && (await tryLink(file, st, dest, verifier, opts))) return 'linked';
        const key = `${st.dev}\0${path.dirname(dest)}`;
        if (!noClone.has(key) && (await tryClone(src, dest, verifier, opts, key))) return 'reflinked';
      }
    } finally {
      await src.close();
    }
  }
  await writeNewFile(dest, (fh) => copyBlob(reader, desc, fh, 0, opts));
  return 'copied';
}

async function tryLink(
  file: string,
  st: { dev: number; ino: number },
  dest: string,
  verifier: Verifier,
  opts: CopyBlobOptions,
): Promise<boolean> {
  try {
    await fs.link(file, dest);
  } catch {
    // EXDEV (another file system or mount), EPERM (fs.protected_hardlinks, a file system without
    // links), EMLINK, EROFS…: the copy then runs, and reports what is really wrong, if anything.
    return false;
  }
  const fh = await openPlaced(dest);
  try {
    const got = await fh.stat();
    if (got.dev !== st.dev || got.ino !== st.ino) {
      // The input's path led elsewhere by the time of the link: copy from what was checked.
      await fh.close();
      await fs.rm(dest, { force: true });
      return false;
    }
    await verifyPlaced(fh, dest, verifier, opts);
    return true;
  } finally {
    await fh.close().catch(() => undefined);
  }
}

async function tryClone(
  src: fs.FileHandle,
  dest: string,
  verifier: Verifier,
  opts: CopyBlobOptions,
  key: string,
): Promise<boolean> {
  // Created first, as a copy would be (its mode under the umask); the clone replaces its content
  // and sets the source's mode, which is put back.
  await writeNewFile(dest, async () => {});
  const { mode } = await fs.stat(dest);
  try {
    await fs.copyFile(`/proc/self/fd/${src.fd}`, dest, fsc.COPYFILE_FICLONE_FORCE);
  } catch {
    // EOPNOTSUPP (no shared extents: ext4, tmpfs), EXDEV (another file system), EINVAL…: not for
    // these places; the copy then runs, and reports what is really wrong, if anything.
    await fs.rm(dest, { force: true });
    noClone.add(key);
    return false;
  }
  const fh = await openPlaced(dest);
  try {
    await fh.chmod(mode & 0o7777);
    await verifyPlaced(fh, dest, verifier, opts);
    return true;
  } finally {
    await fh.close();
  }
}

async function openPlaced(dest: string): Promise<fs.FileHandle> {
  try {
    return await fs.open(dest, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  } catch (err) {
    throw fromSystemError(err, 'reading back', dest);
  }
}

/** Hashes the placed file (on a spare core when there is one) and checks it against `verifier`. */
async function verifyPlaced(fh: fs.FileHandle, dest: string, verifier: Verifier, opts: CopyBlobOptions): Promise<void> {
  throwIfInterrupted(opts.signal, 'install');
  warmHashPool();
  let hashed: HashResult;
  try {
    // One byte past the declared size, so that a longer file is noticed.
    hashed = await settleJob(new FileHashJob(fh.fd, verifier.expectedSize + 1, opts.onBytes), opts.signal);
  } catch (err) {
    throw fromSystemError(err, 'reading back', dest);
  }
  verifier.finishWith(hashed.hex, hashed.bytes);
}
