/**
 * The container inputs of osbuild stages (`org.osbuild.containers`,
 * `org.osbuild.containers-storage`, and the optional `manifest-lists` files input): validated once
 * at the boundary and resolved to typed records.
 *
 * {@link parseContainersInput} reproduces the reference's `parse_containers_input` result shape
 * (per archive key: `filepath`, `manifest-list`, `data`, `checksum`) — that JSON is the contract
 * `ocikit inputs` prints. {@link resolveContainersInput} returns the richer typed records the
 * rest of ocikit uses. Differences from the reference, on purpose:
 * - manifest digests are computed natively (no `skopeo manifest-digest` process per image);
 * - keys are validated before they become paths (anchored digests, plain archive file names);
 * - one list may serve several images; lists that match nothing are all named in one error;
 * - `data.storage.driver` of containers-storage images is checked to be a driver name here, once;
 * - the argument is never mutated.
 */

import type { Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { type Digest, parseDigest } from '../model/digest.js';
import { OcikitError, fromSystemError } from '../errors.js';
import type { ParsedManifest } from '../model/manifest.js';
import { type ListFile, type ManifestListMap, readAllBounded, readManifestLists } from './manifest-lists.js';
import { isRecord, jsonText } from '../internal/guards.js';
import { readDirManifest } from '../transports/dir/read.js';
import { STORAGE_DEFAULTS, storageDriverName } from '../config/storage-conf.js';
import { isStorageDriverName } from '../transports/containers-storage/reference.js';

/**
 * The container formats an images input can carry.
 * @category osbuild
 */
export const CONTAINER_FORMATS = ['dir', 'oci-archive', 'containers-storage'] as const;
/**
 * One of {@link CONTAINER_FORMATS}.
 * @category osbuild
 */
export type ContainerFormat = (typeof CONTAINER_FORMATS)[number];

/**
 * An archive entry's data as osbuild passes it (`format`, `name`, and for storage `storage`).
 * @category osbuild
 */
export interface ArchiveData {
  /** How the image is stored at `filepath`: a `dir:` image, an OCI archive or a containers-storage store. */
  readonly format: ContainerFormat;
  /** The name to give the image when it is installed, e.g. `registry.example/app:1`. */
  readonly name: string;
  /** Any other key osbuild passes (`storage` for containers-storage), kept as given. */
  readonly [key: string]: unknown;
}

/**
 * One entry of the reference's result, keyed by archive key. The field names are osbuild's
 * (`parse_containers_input` in `osbuild/util/containers.py`) and part of the `ocikit inputs` contract.
 * @category osbuild
 */
export interface ContainerImage {
  /**
   * Where the image is: `<images.path>/<key>` for `dir` and `oci-archive`, `<images.path>/storage`
   * (the mounted host store) for `containers-storage`.
   */
  readonly filepath: string;
  /** Path of the list file whose entries contain this `dir` image's manifest digest; `null` when none does and for other formats. */
  readonly 'manifest-list': string | null;
  /** The archive entry's data exactly as given in the input. */
  readonly data: ArchiveData;
  /**
   * The archive key itself (a `sha256:` image ID, or the file name of an `oci-archive`). osbuild
   * calls it `checksum`; the name is kept for parity, though it is a key, not a checksum of the file.
   */
  readonly checksum: string;
}

/**
 * The typed record ocikit uses internally for one input image.
 * @category osbuild
 */
export interface ResolvedImage extends ContainerImage {
  /** The archive key (equal to `checksum`). */
  readonly key: string;
  /** `data.format`, validated. */
  readonly format: ContainerFormat;
  /** `data.name`, validated to be a non-empty string. */
  readonly name: string;
  /** For `dir` images: the parsed manifest.json (raw bytes and native digest). */
  readonly manifest: ParsedManifest | null;
  /** The matched list, for `dir` images that have one. */
  readonly list: ListFile | null;
  /**
   * For `containers-storage` images: the host store's driver, from `data.storage.driver`
   * (default `overlay`, the reference's; `overlay2` is read as `overlay`). Null for other formats.
   */
  readonly storageDriver: string | null;
}

const PLAIN_NAME_RE = /^[^/\0]+$/;

/**
 * Validates an `oci-archive` key: a plain file name (no `/`, not `.` or `..`, no NUL).
 * @throws OcikitError `INVALID_INPUT`.
 */
export function checkArchiveFileName(key: string): string {
  if (!PLAIN_NAME_RE.test(key) || key === '.' || key === '..') {
    throw new OcikitError('INVALID_INPUT', `oci-archive key ${JSON.stringify(key)} is not a plain file name`);
  }
  return key;
}

/**
 * Resolves the inputs to typed records, one per archive key, in input order.
 * @throws OcikitError `INVALID_INPUT` (shape, unknown format, bad key), `INVALID_DIGEST`,
 *   `NOT_FOUND` (a missing image or list), `UNSAFE_PATH`, `INVALID_MANIFEST`,
 *   `MANIFEST_TOO_LARGE`, `DIGEST_MISMATCH` (a list not named by its digest),
 *   `LIST_MISMATCH` (unmatched lists, all named; an image in two lists).
 * @category osbuild
 */
export async function resolveContainersInput(inputs: unknown): Promise<ResolvedImage[]> {
  if (!isRecord(inputs)) throw new OcikitError('INVALID_INPUT', 'inputs must be an object');
  const images = inputs.images;
  if (!isRecord(images)) throw new OcikitError('INVALID_INPUT', 'inputs need an "images" object');
  if (typeof images.path !== 'string' || images.path === '')
    throw new OcikitError('INVALID_INPUT', 'inputs.images needs a string "path"');
  if (!isRecord(images.data) || !isRecord(images.data.archives)) {
    throw new OcikitError('INVALID_INPUT', 'inputs.images needs an object "data.archives"');
  }
  const imagesPath = images.path;
  const archives = images.data.archives;

  const listsInput = inputs['manifest-lists'];
  const lists: ManifestListMap =
    listsInput === undefined || listsInput === null ? new Map() : await readManifestLists(listsInput);

  // Bounded: each dir image opens its manifest.json, and inputs may name tens of thousands.
  const resolved = await readAllBounded(Object.entries(archives), ([key, data]) =>
    resolveOne(imagesPath, key, data, lists),
  );

  const used = new Set(resolved.flatMap((r) => (r.list ? [r.list.digest] : [])));
  const allLists = new Set([...lists.values()].map((l) => l.digest));
  const unmatched = [...allLists].filter((d) => !used.has(d)).sort();
  if (unmatched.length > 0) {
    throw new OcikitError(
      'LIST_MISMATCH',
      `these manifest lists match none of the dir images of the input: ${unmatched.join(', ')}` +
        (resolved.some((r) => r.format !== 'dir') ? ' (lists are matched to dir images only)' : ''),
      { values: unmatched },
    );
  }
  return resolved;
}

/**
 * The reference's `parse_containers_input`: archive key → `{filepath, manifest-list, data, checksum}`.
 * @throws as {@link resolveContainersInput}.
 * @example
 * ```ts
 * import { readFile } from 'node:fs/promises';
 * import { parseContainersInput } from 'ocikit';
 *
 * // The `inputs` object of an org.osbuild.skopeo stage, as osbuild hands it over.
 * const inputs = JSON.parse(await readFile('inputs.json', 'utf8'));
 * for (const [key, image] of Object.entries(await parseContainersInput(inputs))) {
 *   console.log(key, image.data.name, image.filepath, image['manifest-list']);
 * }
 * ```
 * @category osbuild
 */
export async function parseContainersInput(inputs: unknown): Promise<Record<string, ContainerImage>> {
  // Keys are data: Object.fromEntries defines each one as an own property, so a key `__proto__`
  // is kept (an assignment `out[key] = …` would set the prototype instead and lose the image).
  return Object.fromEntries(
    (await resolveContainersInput(inputs)).map((r): [string, ContainerImage] => [
      r.key,
      { filepath: r.filepath, 'manifest-list': r['manifest-list'], data: r.data, checksum: r.checksum },
    ]),
  );
}

async function resolveOne(
  imagesPath: string,
  key: string,
  data: unknown,
  lists: ManifestListMap,
): Promise<ResolvedImage> {
  if (!isRecord(data)) throw new OcikitError('INVALID_INPUT', `archive ${JSON.stringify(key)}: data must be an object`);
  const format = data.format;
  if (typeof format !== 'string' || !(CONTAINER_FORMATS as readonly string[]).includes(format)) {
    throw new OcikitError(
      'INVALID_INPUT',
      `archive ${JSON.stringify(key)}: unknown container format ${jsonText(format)}`,
    );
  }
  if (typeof data.name !== 'string' || data.name === '') {
    throw new OcikitError('INVALID_INPUT', `archive ${JSON.stringify(key)}: "name" must be a non-empty string`);
  }
  const archive = Object.freeze({ ...data }) as ArchiveData;
  const base = {
    key,
    format: format as ContainerFormat,
    name: data.name,
    data: archive,
    checksum: key,
    storageDriver: null,
  };

  switch (format as ContainerFormat) {
    case 'dir': {
      parseDigest(key, 'dir image key');
      const filepath = path.join(imagesPath, key);
      const manifest = await readDirManifest(key, filepath);
      const list = lists.get(manifest.digest) ?? null;
      return { ...base, filepath, 'manifest-list': list ? list.path : null, manifest, list };
    }
    case 'oci-archive': {
      const filepath = path.join(imagesPath, checkArchiveFileName(key));
      await expectType(key, filepath, 'file');
      return { ...base, filepath, 'manifest-list': null, manifest: null, list: null };
    }
    case 'containers-storage': {
      parseDigest(key, 'containers-storage image key');
      const filepath = path.join(imagesPath, 'storage');
      await expectType(key, filepath, 'directory');
      const storageDriver = hostStorageDriver(key, data.storage);
      return { ...base, filepath, 'manifest-list': null, manifest: null, list: null, storageDriver };
    }
  }
}

/**
 * The driver of a containers-storage input's host store: `data.storage.driver` (an object and a
 * driver name when present), `overlay` when absent, `overlay2` read as `overlay`.
 * @throws OcikitError `INVALID_INPUT`.
 */
function hostStorageDriver(key: string, storage: unknown): string {
  if (storage === undefined) return STORAGE_DEFAULTS.driver;
  if (!isRecord(storage))
    throw new OcikitError('INVALID_INPUT', `archive ${JSON.stringify(key)}: "storage" must be an object`);
  const driver = storage.driver;
  if (driver === undefined) return STORAGE_DEFAULTS.driver;
  if (typeof driver !== 'string')
    throw new OcikitError('INVALID_INPUT', `archive ${JSON.stringify(key)}: storage.driver must be a string`);
  if (!isStorageDriverName(driver)) {
    throw new OcikitError(
      'INVALID_INPUT',
      `archive ${JSON.stringify(key)}: storage.driver ${JSON.stringify(driver)} is not a storage driver name`,
    );
  }
  return storageDriverName(driver);
}

async function expectType(key: string, p: string, kind: 'file' | 'directory'): Promise<void> {
  let st: Stats;
  try {
    st = await fs.stat(p);
  } catch (err) {
    throw fromSystemError(err, `archive ${JSON.stringify(key)}`, p);
  }
  if (kind === 'file' ? !st.isFile() : !st.isDirectory()) {
    throw new OcikitError('INVALID_INPUT', `archive ${JSON.stringify(key)}: ${p} is not a ${kind}`);
  }
}

/** Re-exported for callers that only need the digest type. */
export type { Digest };
