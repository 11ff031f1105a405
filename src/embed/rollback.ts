/**
 * What `embed` removes from the tree when its install phase fails, so that a failed embed leaves
 * the tree as it was. `install` itself removes what it created at an oci, oci-archive or dir
 * destination, but leaves what skopeo wrote into a store (a store may be shared with another
 * install at the same time). `embed` knows more: it records, before installing,
 *
 * - the first component of the destination path that does not exist yet: on failure that whole
 *   subtree is this run's and is removed;
 * - for a store that exists already, the image IDs it holds: on failure, the images of this run
 *   that were not there before are deleted (`skopeo delete containers-storage:[…]@ID`, which also
 *   removes the layers no other image uses). Images this run did not name are never touched.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { type SkopeoOptions, skopeoDelete } from '../tools/skopeo.js';
import { storeImages } from '../transports/containers-storage/image-records.js';
import { containersStorageRef } from '../transports/reference.js';
import { digestHex, type Digest } from '../model/digest.js';

/** What was there before the install. */
export interface TreeSnapshot {
  /** The first missing component of the destination (absolute), or undefined when it existed. */
  readonly created: string | undefined;
  /** For an existing store: the image IDs it held (bare hex). */
  readonly storeIds: ReadonlySet<string> | undefined;
}

/** The destination `rel` inside `tree` (lexically; install resolves it safely itself). */
async function firstMissing(tree: string, rel: string): Promise<string | undefined> {
  let at = tree;
  for (const c of rel.split('/').filter((x) => x !== '' && x !== '.')) {
    at = path.join(at, c);
    try {
      await fs.lstat(at);
    } catch {
      return at;
    }
  }
  return undefined;
}

/** Records what the destination holds before the install. */
export async function snapshot(tree: string, rel: string, store: boolean): Promise<TreeSnapshot> {
  const created = await firstMissing(tree, rel);
  if (created !== undefined || !store) return { created, storeIds: undefined };
  const records = (await storeImages(path.join(tree, rel))) ?? [];
  return { created, storeIds: new Set(records.flatMap((r) => (typeof r.id === 'string' ? [r.id] : []))) };
}

/**
 * Undoes the install after a failure (best effort: the install's own error is what is reported).
 */
export async function rollback(
  snap: TreeSnapshot,
  store: { readonly root: string; readonly driver: string; readonly runroot: string } | undefined,
  ids: readonly Digest[],
  skopeo: SkopeoOptions,
): Promise<void> {
  if (snap.created !== undefined) {
    await fs.rm(snap.created, { recursive: true, force: true }).catch(() => undefined);
    return;
  }
  if (!store || !snap.storeIds) return;
  const now = (await storeImages(store.root)) ?? [];
  const present = new Set(now.flatMap((r) => (typeof r.id === 'string' ? [r.id] : [])));
  const spec = { driver: store.driver, graphroot: store.root, runroot: store.runroot };
  for (const id of ids.map(digestHex)) {
    if (snap.storeIds.has(id) || !present.has(id)) continue;
    await skopeoDelete(containersStorageRef(spec, `@${id}`), { ...skopeo, signal: undefined }).catch(() => undefined);
  }
}
