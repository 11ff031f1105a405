/**
 * containers/storage's on-disk image records: `<graphroot>/<driver>-images/images.json`, one array
 * of `{id, names, digest, digests, …}` per driver directory.
 *
 * ocikit reads them only where skopeo cannot answer: telling a missing local image from a failing
 * skopeo (fetch's local items), and learning the ID containers-storage gave a Docker schema 1 image
 * (which has no config blob whose digest would be the ID). The format has been stable across
 * containers/storage releases; anything unexpected in it reads as "no record".
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { parseDockerReference } from '../../model/docker-reference.js';

/** One image record, as untrusted JSON. */
export interface StoreImageRecord {
  readonly id?: unknown;
  readonly names?: unknown;
  readonly digest?: unknown;
  readonly digests?: unknown;
}

/**
 * The image records of the store at `root`, from every `*-images/images.json` present; `[]` for a
 * store that does not exist, null when it exists but cannot be read.
 */
export async function storeImages(root: string): Promise<StoreImageRecord[] | null> {
  let entries: string[];
  try {
    entries = await fs.readdir(root);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? [] : null;
  }
  const out: StoreImageRecord[] = [];
  for (const e of entries.filter((n) => n.endsWith('-images'))) {
    try {
      const doc = JSON.parse(await fs.readFile(path.join(root, e, 'images.json'), 'utf8')) as unknown;
      if (Array.isArray(doc)) out.push(...(doc as StoreImageRecord[]));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      return null;
    }
  }
  return out;
}

/** The names of a record (strings only). */
export function recordNames(r: StoreImageRecord): string[] {
  return Array.isArray(r.names) ? (r.names as unknown[]).filter((n): n is string => typeof n === 'string') : [];
}

/** The repository part of a containers-storage name (`localhost/x:latest` → `localhost/x`). */
export function repoOf(name: string): string {
  const at = name.indexOf('@');
  const base = at >= 0 ? name.slice(0, at) : name;
  const colon = base.lastIndexOf(':');
  return colon > base.lastIndexOf('/') ? base.slice(0, colon) : base;
}

/**
 * The name containers-storage records for image `name`: the normalised docker reference
 * (`docker.io/library/` for short names), with `:latest` when no tag or digest is given; `name`
 * itself when it does not parse.
 */
export function storedName(name: string): string {
  try {
    const r = parseDockerReference(name);
    const base = `${r.domain}/${r.path}`;
    return r.tag !== undefined ? `${base}:${r.tag}` : r.digest !== undefined ? base : `${base}:latest`;
  } catch {
    return name;
  }
}

/** The ID of the image the store at `root` records under `name`, if there is exactly one. */
export async function storedImageId(root: string, name: string): Promise<string | undefined> {
  const records = (await storeImages(root)) ?? [];
  const want = storedName(name);
  const ids = new Set(
    records.filter((r) => recordNames(r).includes(want) && typeof r.id === 'string').map((r) => r.id as string),
  );
  return ids.size === 1 ? [...ids][0] : undefined;
}
