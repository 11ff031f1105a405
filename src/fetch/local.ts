/**
 * Local fetch items: images in the host's containers-storage (`containers-transport:
 * containers-storage` items of `org.osbuild.skopeo`, and `org.osbuild.containers-storage` items).
 * They are not copied: skopeo reads the config out of the store and its sha256 must equal the image
 * ID, as osbuild's `sources/org.osbuild.containers-storage` checks with `skopeo inspect --config`.
 * See {@link checkLocalImage} for how "not found" is told apart from other failures.
 */
import { OcikitError } from '../errors.js';
import { digestHex, sha256 } from '../model/digest.js';
import { expectDigest } from '../model/verify.js';
import type { LocalItem } from '../osbuild/sources.js';
import { readStorageConf } from '../config/storage-conf.js';
import { type SkopeoOptions, skopeoInspectRawResult } from '../tools/skopeo.js';
import {
  type StoreImageRecord,
  recordNames,
  repoOf,
  storeImages,
  storedName,
} from '../transports/containers-storage/image-records.js';
import type { StoreSpec } from '../transports/containers-storage/reference.js';
import { formatImageReference } from '../transports/reference.js';
import { type DockerReference, parseDockerReference } from '../model/docker-reference.js';

/** Where and how local items are looked up. */
export interface LocalStoreOptions {
  /** The environment for storage.conf lookup (default `process.env`). */
  readonly env?: NodeJS.ProcessEnv | undefined;
  /** The host store for local items (default: from storage.conf, `readStorageConf`). */
  readonly storage?:
    | (StoreSpec & {
        /** Read-only image stores searched too (storage.conf's `additionalimagestores`); default none. */
        readonly additionalImageStores?: readonly string[];
      })
    | undefined;
  /** How to run skopeo for local items. */
  readonly skopeo?: SkopeoOptions | undefined;
}

/** Phrasings skopeo/c/image have used for "no such image" (a fallback only; see checkLocalImage). */
const NOT_FOUND_PHRASES = [
  'identifier is not an image',
  'does not resolve to an image id',
  'image not known',
  'no such image',
  'not found',
];

/** The store an item is looked up in, and the additional image stores searched with it. */
async function storeOf(
  item: LocalItem,
  opts: LocalStoreOptions,
): Promise<{ spec: StoreSpec; extraStores: readonly string[] }> {
  const loc = item.storageLocation;
  if (opts.storage) {
    const driver = opts.storage.driver ? { driver: opts.storage.driver } : {};
    return loc
      ? { spec: { ...driver, graphroot: loc }, extraStores: [] }
      : { spec: opts.storage, extraStores: opts.storage.additionalImageStores ?? [] };
  }
  const conf = await readStorageConf({ missingOk: true, env: opts.env });
  return loc
    ? { spec: { driver: conf.driver, graphroot: loc }, extraStores: [] }
    : {
        spec: { driver: conf.driver, graphroot: conf.graphroot, runroot: conf.runroot },
        extraStores: conf.additionalimagestores,
      };
}

/**
 * What a local item's policy identity names, as skopeo's `containers-storage:` reference of it
 * does (see {@link checkLocalImage}): the store's driver and graph root, and `name@digest` or the
 * image ID. A store given without a driver takes storage.conf's (the driver the store opens with).
 */
export async function localPolicySubject(
  item: LocalItem,
  opts: LocalStoreOptions = {},
): Promise<{
  store: { driver: string; graphroot: string };
  image: { reference?: DockerReference; id?: string };
}> {
  const { spec } = await storeOf(item, opts);
  const driver = spec.driver ?? (await readStorageConf({ missingOk: true, env: opts.env })).driver;
  const store = { driver, graphroot: spec.graphroot! };
  if (item.digest && item.name) {
    const r = parseDockerReference(item.name, 'image name');
    return { store, image: { reference: { domain: r.domain, path: r.path, digest: item.digest } } };
  }
  return { store, image: { id: digestHex(item.id) } };
}

/**
 * Whether the store's image records say the item is missing: no record has the ID (ID lookups),
 * or none has the digest under a name of the same repository (`name@digest` lookups). Null when
 * the records cannot be read.
 */
async function missingFromRecords(item: LocalItem, roots: readonly string[]): Promise<boolean | null> {
  const records: StoreImageRecord[] = [];
  for (const r of roots) {
    const got = await storeImages(r);
    if (got === null) return null;
    records.push(...got);
  }
  const repo = item.digest && item.name ? repoOf(storedName(item.name)) : undefined;
  return !records.some((r) => {
    if (repo === undefined) return r.id === digestHex(item.id);
    const digests = [...(Array.isArray(r.digests) ? r.digests : []), r.digest];
    return digests.includes(item.digest) && recordNames(r).some((n) => repoOf(n) === repo);
  });
}

/**
 * Checks a local item: skopeo reads the image's config from the store (`containers-storage:
 * [spec]name@digest` when the item names a digest, else `[spec]<hex id>`), and its sha256 must
 * equal the ID.
 *
 * When skopeo fails, "not found" is decided from the store itself, not from skopeo's wording:
 * the store's `images.json` files (containers/storage's on-disk image records, one per driver
 * directory, plus additional image stores) are read, and the item is missing when no record has
 * the ID (ID lookups) or the digest under a name of the same repository (name@digest lookups).
 * If the record is there, skopeo's failure is a real failure (`TOOL_FAILED`, stderr attached). Only
 * when the records cannot be read at all does a list of known phrasings decide.
 * @throws OcikitError `NOT_FOUND`, `DIGEST_MISMATCH`, `TOOL_FAILED`, `CONFIG` (storage.conf).
 */
export async function checkLocalImage(item: LocalItem, opts: LocalStoreOptions = {}): Promise<void> {
  const { spec, extraStores } = await storeOf(item, opts);
  const image = item.digest && item.name ? `${item.name}@${item.digest}` : digestHex(item.id);
  const ref = formatImageReference({ transport: 'containers-storage', store: spec, image });
  const res = await skopeoInspectRawResult(ref, { config: true, ...opts.skopeo });
  if (res.exitCode === 0) {
    expectDigest(`image ID (config digest) of local container image ${image}`, item.id, sha256(res.stdout));
    return;
  }
  const details = {
    command: ['skopeo', 'inspect', '--raw', '--config', ref],
    exitCode: res.exitCode,
    stderr: res.stderr,
  };
  const missing =
    (await missingFromRecords(item, [spec.graphroot!, ...extraStores])) ??
    NOT_FOUND_PHRASES.some((p) => res.stderr.toLowerCase().includes(p));
  if (missing) {
    throw new OcikitError(
      'NOT_FOUND',
      `image ${item.id}${item.name ? ` (${image})` : ''} does not exist in local container storage ${spec.graphroot}`,
      details,
    );
  }
  const last = res.stderr.trim().split('\n').filter(Boolean).pop() ?? '';
  throw new OcikitError(
    'TOOL_FAILED',
    `skopeo could not read local image ${image} from ${spec.graphroot} (exit ${res.exitCode}): ${last}`,
    details,
  );
}
