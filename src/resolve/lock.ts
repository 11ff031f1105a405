/**
 * The lock file: resolved specs pinned by digest, versioned, so that a later run (`embed --lock`)
 * uses the same images without resolving the names again. The format:
 *
 * ```json
 * {"version": 1, "arch": "aarch64", "resolved": "2026-09-20T12:00:00.000Z", "specs": [ResolvedSpec…]}
 * ```
 */
import { rm } from 'node:fs/promises';
import * as path from 'node:path';
import { writeNewFile } from '../internal/fs.js';
import { replaceFile, tempSibling } from '../internal/publish.js';
import type { ResolveResult, ResolvedSpec } from './resolve.js';

/** The lock format's version. */
export const LOCK_VERSION = 1;

/**
 * A lock file's content.
 * @category Resolve
 */
export interface LockFile {
  /** The format version: 1. */
  readonly version: typeof LOCK_VERSION;
  /** The architecture the specs were resolved for (RPM form). */
  readonly arch: string;
  /** When they were resolved (ISO 8601, UTC). */
  readonly resolved: string;
  /** The specs, as {@link resolve} returned them. */
  readonly specs: readonly ResolvedSpec[];
}

/**
 * The lock of a resolve result.
 * @category Resolve
 */
export function lockOf(result: Pick<ResolveResult, 'arch' | 'specs'>, now: Date = new Date()): LockFile {
  return { version: LOCK_VERSION, arch: result.arch, resolved: now.toISOString(), specs: result.specs };
}

/**
 * Writes `lock` to `file` atomically: a temporary sibling, synced, renamed over the old file.
 * @throws OcikitError `NOT_FOUND` (no such directory), `IO`, `NO_SPACE`.
 * @category Resolve
 */
export async function writeLockFile(file: string, lock: LockFile): Promise<void> {
  const target = path.resolve(file);
  const tmp = tempSibling(target);
  try {
    await writeNewFile(tmp, async (fh) => {
      await fh.writeFile(`${JSON.stringify(lock, null, 2)}\n`);
      await fh.sync();
    });
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {});
    throw err;
  }
  await replaceFile(tmp, target);
}
