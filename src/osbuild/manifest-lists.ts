/**
 * The `manifest-lists` input of osbuild's container stages (an `org.osbuild.files` input): list
 * files named by their list digest, read into an immutable map from instance digest to list.
 *
 * Compared with the reference (`parse_manifest_list`), every key is validated before it becomes a
 * path, every file is checked to be a manifest list whose digest equals its name, and an instance
 * that appears in two different lists is an error naming both instead of "last one wins".
 */
import * as path from 'node:path';
import { type Digest, parseDigest } from '../model/digest.js';
import { OcikitError } from '../errors.js';
import { expectDigest } from '../model/verify.js';
import { type ManifestList, type ParsedManifest, isManifestList, parseManifest } from '../model/manifest.js';
import { isRecord } from '../internal/guards.js';
import { runPool } from '../internal/pool.js';
import { readManifestFile } from '../transports/reader.js';

/**
 * How many input files (list files, `manifest.json`s) are read at once: enough to keep the disk
 * busy, few enough that tens of thousands of inputs fit a 1024-descriptor limit.
 */
export const INPUT_READ_CONCURRENCY = 32;

/**
 * `read(item)` for every item, at most {@link INPUT_READ_CONCURRENCY} at a time, results in item
 * order; after the first failure no new read starts, and that failure is thrown.
 */
export async function readAllBounded<I, R>(items: readonly I[], read: (item: I) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  await runPool(
    items.map((item, i) => async () => {
      out[i] = await read(item);
    }),
    INPUT_READ_CONCURRENCY,
  );
  return out;
}

/**
 * One list file of the input.
 * @category osbuild
 */
export interface ListFile {
  /** The input key: the list's digest. */
  readonly digest: Digest;
  /** Absolute path of the file (`<input path>/<digest>`). */
  readonly path: string;
  /** The parsed list, raw bytes kept. */
  readonly list: ManifestList;
}

/**
 * Instance manifest digest → the list that contains it. Frozen.
 * @category osbuild
 */
export type ManifestListMap = ReadonlyMap<Digest, ListFile>;

/**
 * The osbuild `manifest-lists` input shape (`org.osbuild.files`).
 * @category osbuild
 */
export interface ManifestListsInput {
  /** The directory osbuild put the list files in (e.g. `/run/osbuild/inputs/manifest-lists`). */
  readonly path: string;
  /** What the files input says about its contents. */
  readonly data: {
    /** One entry per list file, keyed by the list's digest (the file name); the values are not read. */
    readonly files: Readonly<Record<string, unknown>>;
  };
}

/**
 * Checks the shape of a `manifest-lists` input (an object with a string `path` and an object
 * `data.files`).
 * @throws OcikitError `INVALID_INPUT` naming what is wrong.
 */
export function validateManifestListsInput(input: unknown): ManifestListsInput {
  if (!isRecord(input)) throw new OcikitError('INVALID_INPUT', 'manifest-lists input must be an object');
  if (typeof input.path !== 'string' || input.path === '')
    throw new OcikitError('INVALID_INPUT', 'manifest-lists input needs a string "path"');
  if (!isRecord(input.data) || !isRecord(input.data.files)) {
    throw new OcikitError('INVALID_INPUT', 'manifest-lists input needs an object "data.files"');
  }
  return input as unknown as ManifestListsInput;
}

/**
 * Reads every list file of the input and maps each instance digest to its list.
 * @throws OcikitError `INVALID_INPUT` (shape), `INVALID_DIGEST` (a key), `NOT_FOUND`,
 *   `UNSAFE_PATH`, `INVALID_MANIFEST` (not a list, unreadable JSON), `MANIFEST_TOO_LARGE`,
 *   `DIGEST_MISMATCH` (a file whose digest is not its name), `LIST_MISMATCH` (an instance in two lists).
 * @category osbuild
 */
export async function readManifestLists(input: unknown): Promise<ManifestListMap> {
  const lists = validateManifestListsInput(input);
  const map = new Map<Digest, ListFile>();
  const files = await readAllBounded(Object.keys(lists.data.files), (key) => readListFile(lists.path, key));
  for (const file of files) {
    for (const d of file.list.manifests) {
      const other = map.get(d.digest);
      if (other && other.digest !== file.digest) {
        throw new OcikitError(
          'LIST_MISMATCH',
          `image ${d.digest} is in two manifest lists: ${other.digest} and ${file.digest}`,
          { values: [other.digest, file.digest] },
        );
      }
      map.set(d.digest, file);
    }
  }
  return new ReadOnlyMap(map);
}

/** Options of {@link expectManifestList}. */
export interface ListCheckOptions {
  /** The parse of the bytes, when the caller has it already (they are not parsed again). */
  readonly parsed?: ParsedManifest | undefined;
  /**
   * The error code for a manifest that is not a list: `INVALID_MANIFEST` (default; list files)
   * or `LIST_MISMATCH` (a fetched list item).
   */
  readonly notAList?: 'INVALID_MANIFEST' | 'LIST_MISMATCH' | undefined;
}

/**
 * The one check that bytes are a manifest list, for list files and fetched lists alike: osbuild's
 * `is_manifest_list` (util/containers.py) on the parsed JSON and containers/image's typed parse
 * (`parseManifest`, the media type guessed from the bytes) must both say so.
 * @returns the typed list.
 * @throws OcikitError `opts.notAList`; and what {@link parseManifest} throws
 *   (`INVALID_MANIFEST`, `MANIFEST_TOO_LARGE`, `INVALID_DIGEST`).
 */
export function expectManifestList(bytes: Uint8Array, what: string, opts: ListCheckOptions = {}): ManifestList {
  const parsed = opts.parsed ?? parseManifest(bytes, what);
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    doc = undefined; // parseManifest accepted it, JSON.parse did not: not osbuild's list either
  }
  if (parsed.kind !== 'list' || !isManifestList(doc)) {
    throw new OcikitError(
      opts.notAList ?? 'INVALID_MANIFEST',
      `${what} is not a manifest list (it is ${parsed.mediaType})`,
    );
  }
  return parsed;
}

/**
 * Reads and validates one list file `<dir>/<key>`.
 * @throws as {@link readManifestLists}.
 * @category osbuild
 */
export async function readListFile(dir: string, key: string): Promise<ListFile> {
  const digest = parseDigest(key, 'manifest-lists key');
  const file = path.join(dir, digest);
  const what = `manifest list ${digest}`;
  const bytes = await readManifestFile(dir, file, what);
  const parsed = expectManifestList(bytes, `${what} at ${file}`);
  expectDigest(`${what} at ${file} (named by its digest)`, digest, parsed.digest);
  return Object.freeze({ digest, path: file, list: parsed });
}

/** A Map whose mutators throw: what {@link readManifestLists} returns. */
class ReadOnlyMap<K, V> extends Map<K, V> {
  #sealed = false;
  constructor(entries: Map<K, V>) {
    super();
    for (const [k, v] of entries) super.set(k, v);
    this.#sealed = true;
  }
  override set(key: K, value: V): this {
    if (this.#sealed) throw new TypeError('ManifestListMap is read-only');
    return super.set(key, value);
  }
  override delete(): boolean {
    throw new TypeError('ManifestListMap is read-only');
  }
  override clear(): void {
    throw new TypeError('ManifestListMap is read-only');
  }
}
