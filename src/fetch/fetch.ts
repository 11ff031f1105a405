/**
 * `fetch`: pulls the items of osbuild's container sources into a verified, content-addressed cache.
 *
 * Sources (osbuild-usage.md §1.3–1.4) are the shapes of `org.osbuild.skopeo` (images by manifest
 * digest, keyed by image ID), `org.osbuild.skopeo-index` (manifest lists by digest) and
 * `org.osbuild.containers-storage` (images in the host store, keyed by image ID). The cache layout
 * is osbuild's:
 *
 * - `<cache>/org.osbuild.containers/<image id>/image/`: a skopeo `dir:` image (`version`,
 *   `manifest.json` with the registry's exact bytes, blobs named by bare hex);
 * - `<cache>/org.osbuild.files/<list digest>`: the list's exact bytes.
 *
 * Verification, in order: the manifest's digest (schema 1 signatures stripped) equals the requested
 * digest; the config descriptor's digest equals the image ID; every blob matches its descriptor's
 * digest and size while streaming. A list item must be a manifest list with the requested digest.
 * Nothing unverified reaches the cache: a run downloads into `<cache>/.tmp-fetch-*` and renames
 * complete `image` directories (and list files) into place. When another process got there first
 * (the rename meets a non-empty directory) its entry is kept: it was made the same way.
 *
 * Blobs of all images download in parallel, at most `jobs` at once; a blob shared by several
 * images is downloaded once per run and hard-linked into each entry. Items already in the cache are
 * not contacted and are reported as `cached`.
 *
 * Local items (`containers-transport: containers-storage`, or the `org.osbuild.containers-storage`
 * source) are not copied: skopeo reads the config out of the host store and its sha256 must equal
 * the ID. See {@link checkLocalImage} for how "not found" is told apart from other failures.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { digestHex, parseDigest, sha256, type Digest } from '../model/digest.js';
import { OcikitError, fromSystemError, isOcikitError } from '../errors.js';
import { trackTemp, untrackTemp } from '../internal/cleanup.js';
import { exists } from '../internal/fs.js';
import {
  isManifestList,
  manifestDigest,
  parseManifest,
  type Descriptor,
  type ImageManifest,
} from '../model/manifest.js';
import { containersStorageRef, type StoreSpec } from '../transports/containers-storage/reference.js';
import type { SkopeoOptions } from '../tools/skopeo.js';
import { chooseInstance, hostPlatform } from '../model/platform.js';
import { DIR_VERSION, dirBlobPath } from '../transports/dir/read.js';
import {
  closeRegistryClient,
  createRegistryClient,
  downloadBlob,
  getManifest,
  type RegistryClient,
  type RepositoryLocation,
  type RetryPolicy,
} from '../registry/client.js';
import {
  formatDockerReference,
  parseDockerReference,
  registryApiHost,
  type DockerReference,
} from '../model/docker-reference.js';
import { isRecord } from '../internal/guards.js';
import {
  recordNames,
  repoOf,
  storeImages,
  storedName,
  type StoreImageRecord,
} from '../transports/containers-storage/image-records.js';

/** The source names ocikit fetches. */
export const SKOPEO_SOURCE = 'org.osbuild.skopeo';
export const SKOPEO_INDEX_SOURCE = 'org.osbuild.skopeo-index';
export const CONTAINERS_STORAGE_SOURCE = 'org.osbuild.containers-storage';

/** The cache's subdirectories (osbuild's source cache names). */
export const IMAGES_CACHE = 'org.osbuild.containers';
export const FILES_CACHE = 'org.osbuild.files';

/** A registry image to fetch (an `org.osbuild.skopeo` item). */
export interface ImageItem {
  readonly kind: 'image';
  /** The image ID: digest of the config. */
  readonly id: Digest;
  /** The name as given. */
  readonly name: string;
  readonly ref: DockerReference;
  /** The manifest digest to fetch. */
  readonly digest: Digest;
  readonly tlsVerify: boolean;
}

/** A manifest list to fetch (an `org.osbuild.skopeo-index` item). */
export interface ListItem {
  readonly kind: 'list';
  /** The list digest. */
  readonly id: Digest;
  readonly name: string;
  readonly ref: DockerReference;
  readonly tlsVerify: boolean;
}

/** An image to check in the host's containers-storage. */
export interface LocalItem {
  readonly kind: 'local';
  readonly id: Digest;
  /** The name as given (empty for `org.osbuild.containers-storage` items). */
  readonly name: string;
  /** The manifest digest, when the item names one (looked up as `name@digest`). */
  readonly digest: Digest | null;
  /** `storage-location`: a graph root replacing the host's. */
  readonly storageLocation: string | null;
}

/** One validated item. */
export type FetchItem = ImageItem | ListItem | LocalItem;

/** What happened to one item. */
export interface FetchItemSummary {
  readonly id: Digest;
  readonly kind: FetchItem['kind'];
  readonly name: string;
  /** The manifest digest (the list digest for lists); null for local items without one. */
  readonly digest: Digest | null;
  /** `cached`: already in the cache; `fetched`: downloaded now; `verified`: local image checked. */
  readonly status: 'cached' | 'fetched' | 'verified';
  /** Bytes this run downloaded for the item (0 when cached or local; a shared blob counts once). */
  readonly bytes: number;
}

/** The result of {@link fetch}. */
export interface FetchResult {
  /** One summary per item, in source order (images, lists, local store items). */
  readonly items: readonly FetchItemSummary[];
  /** Bytes downloaded in total. */
  readonly downloadedBytes: number;
}

/** Progress events (the library never prints; the CLI draws these on a terminal). */
export type FetchProgress =
  | { readonly type: 'start'; readonly id: Digest; readonly kind: FetchItem['kind']; readonly name: string }
  /** The item will download `bytes` more bytes (sent once its manifest is known). */
  | { readonly type: 'size'; readonly id: Digest; readonly bytes: number }
  /** `bytes` more bytes arrived for the item. */
  | { readonly type: 'bytes'; readonly id: Digest; readonly bytes: number }
  | { readonly type: 'done'; readonly item: FetchItemSummary };

/** Options of {@link fetch}. */
export interface FetchOptions {
  /** Parallel downloads (blobs and manifests), default 4. */
  readonly jobs?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (event: FetchProgress) => void;
  /** An auth file to use instead of the standard lookup (skopeo's `--authfile`). */
  readonly authFile?: string;
  /** The environment for auth-file and storage.conf lookup (default `process.env`). */
  readonly env?: NodeJS.ProcessEnv;
  /** Retry policy for registry requests. */
  readonly retry?: Partial<RetryPolicy>;
  /** The host store for local items (default: from storage.conf, `readStorageConf`). */
  readonly storage?: StoreSpec & { readonly additionalImageStores?: readonly string[] };
  /** How to run skopeo for local items. */
  readonly skopeo?: SkopeoOptions;
}

/** The default number of parallel downloads. */
export const DEFAULT_JOBS = 4;

// ---------------------------------------------------------------------------------------------
// Validation of SOURCES

function invalid(message: string): OcikitError {
  return new OcikitError('INVALID_INPUT', message);
}

function checkKeys(obj: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k))
      throw invalid(`${where}: unknown key ${JSON.stringify(k)} (allowed: ${allowed.join(', ')})`);
  }
}

function sourceItems(src: unknown, name: string): Record<string, unknown> {
  if (!isRecord(src)) throw invalid(`${name} is not an object`);
  checkKeys(src, ['items', 'digests'], name);
  if ('items' in src && 'digests' in src) throw invalid(`${name} has both "items" and "digests"`);
  const items = src.items ?? src.digests;
  if (items === undefined) throw invalid(`${name} has neither "items" nor "digests"`);
  if (!isRecord(items)) throw invalid(`${name}.${'items' in src ? 'items' : 'digests'} is not an object`);
  return items;
}

function optBool(v: unknown, where: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw invalid(`${where} ${JSON.stringify(v)} is not a boolean`);
  return v;
}

function parseImageObject(item: unknown, where: string, keys: readonly string[]): Record<string, unknown> {
  if (!isRecord(item)) throw invalid(`${where} is not an object`);
  checkKeys(item, ['image'], where);
  const image = item.image;
  if (!isRecord(image)) throw invalid(`${where}.image is missing or not an object`);
  checkKeys(image, keys, `${where}.image`);
  if (typeof image.name !== 'string') throw invalid(`${where}.image.name is missing or not a string`);
  return image;
}

/**
 * Validates a SOURCES document and returns its items: skopeo items (registry or local), then
 * index items, then containers-storage items.
 * @throws OcikitError `INVALID_INPUT` (wrong shape, unknown key, bad name, conflicting fields,
 *   naming the key), `INVALID_DIGEST` (a key or digest that is not `sha256:<64 hex>`),
 *   `UNSUPPORTED` (a manifest list from containers-storage).
 */
export function parseFetchSources(doc: unknown): FetchItem[] {
  if (!isRecord(doc)) throw invalid('sources: not a JSON object');
  checkKeys(doc, [SKOPEO_SOURCE, SKOPEO_INDEX_SOURCE, CONTAINERS_STORAGE_SOURCE], 'sources');
  const out: FetchItem[] = [];
  if (doc[SKOPEO_SOURCE] !== undefined) {
    for (const [key, item] of Object.entries(sourceItems(doc[SKOPEO_SOURCE], SKOPEO_SOURCE))) {
      const where = `${SKOPEO_SOURCE} item ${JSON.stringify(key)}`;
      const id = parseDigest(key, `${SKOPEO_SOURCE} item key`);
      const image = parseImageObject(item, where, [
        'name',
        'digest',
        'tls-verify',
        'containers-transport',
        'storage-location',
      ]);
      const name = image.name as string;
      const ref = parseDockerReference(name, `${where}: image.name`);
      const digest = parseDigest(image.digest, `${where}: image.digest`);
      if (ref.digest !== undefined && ref.digest !== digest) {
        throw invalid(
          `${where}: image.name ${JSON.stringify(name)} names digest ${ref.digest}, but image.digest is ${digest}`,
        );
      }
      const tlsVerify = optBool(image['tls-verify'], `${where}: image.tls-verify`) ?? true;
      const transport = image['containers-transport'] ?? 'docker';
      if (transport !== 'docker' && transport !== 'containers-storage') {
        throw invalid(
          `${where}: image.containers-transport ${JSON.stringify(transport)} is not "docker" or "containers-storage"`,
        );
      }
      const loc = image['storage-location'];
      if (loc !== undefined && (typeof loc !== 'string' || !path.isAbsolute(loc))) {
        throw invalid(`${where}: image.storage-location ${JSON.stringify(loc)} is not an absolute path`);
      }
      if (transport === 'docker') {
        if (loc !== undefined)
          throw invalid(`${where}: image.storage-location applies only to containers-transport "containers-storage"`);
        out.push({ kind: 'image', id, name, ref, digest, tlsVerify });
      } else {
        out.push({ kind: 'local', id, name, digest, storageLocation: (loc as string | undefined) ?? null });
      }
    }
  }
  if (doc[SKOPEO_INDEX_SOURCE] !== undefined) {
    for (const [key, item] of Object.entries(sourceItems(doc[SKOPEO_INDEX_SOURCE], SKOPEO_INDEX_SOURCE))) {
      const where = `${SKOPEO_INDEX_SOURCE} item ${JSON.stringify(key)}`;
      const id = parseDigest(key, `${SKOPEO_INDEX_SOURCE} item key`);
      const image = parseImageObject(item, where, ['name', 'tls-verify', 'containers-transport', 'storage-location']);
      const name = image.name as string;
      const ref = parseDockerReference(name, `${where}: image.name`);
      if (ref.digest !== undefined && ref.digest !== id) {
        throw invalid(`${where}: image.name ${JSON.stringify(name)} names digest ${ref.digest}, not the key`);
      }
      const tlsVerify = optBool(image['tls-verify'], `${where}: image.tls-verify`) ?? true;
      const transport = image['containers-transport'] ?? 'docker';
      if (transport === 'containers-storage' || image['storage-location'] !== undefined) {
        throw new OcikitError(
          'UNSUPPORTED',
          `${where}: manifest lists are fetched from registries only, not from containers-storage`,
        );
      }
      if (transport !== 'docker')
        throw invalid(`${where}: image.containers-transport ${JSON.stringify(transport)} is not "docker"`);
      out.push({ kind: 'list', id, name, ref, tlsVerify });
    }
  }
  if (doc[CONTAINERS_STORAGE_SOURCE] !== undefined) {
    for (const [key, item] of Object.entries(sourceItems(doc[CONTAINERS_STORAGE_SOURCE], CONTAINERS_STORAGE_SOURCE))) {
      const where = `${CONTAINERS_STORAGE_SOURCE} item ${JSON.stringify(key)}`;
      const id = parseDigest(key, `${CONTAINERS_STORAGE_SOURCE} item key`);
      if (!isRecord(item)) throw invalid(`${where} is not an object`);
      checkKeys(item, [], where);
      out.push({ kind: 'local', id, name: '', digest: null, storageLocation: null });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Cache paths

/** The cache entry directory of image `id` (`<cache>/org.osbuild.containers/<id>/image`). */
export function cachedImagePath(cacheDir: string, id: Digest): string {
  return path.join(cacheDir, IMAGES_CACHE, parseDigest(id, 'image ID'), 'image');
}

/** The cache file of list `digest` (`<cache>/org.osbuild.files/<digest>`). */
export function cachedListPath(cacheDir: string, digest: Digest): string {
  return path.join(cacheDir, FILES_CACHE, parseDigest(digest, 'list digest'));
}

// ---------------------------------------------------------------------------------------------
// The run

/** A counting semaphore. */
function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((res) => queue.push(res));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      queue.shift()?.();
    }
  };
}

interface Run {
  readonly cacheDir: string;
  readonly tmp: string;
  readonly client: RegistryClient;
  readonly limit: <T>(fn: () => Promise<T>) => Promise<T>;
  readonly signal: AbortSignal;
  readonly opts: FetchOptions;
  /** Blobs of this run: digest → the verified file in the run's blob directory. */
  readonly blobs: Map<Digest, Promise<string>>;
  downloaded: number;
}

function location(ref: DockerReference, tlsVerify: boolean): RepositoryLocation {
  return { host: registryApiHost(ref.domain), authDomain: ref.domain, path: ref.path, tlsVerify };
}

function progress(run: Run, e: FetchProgress): void {
  run.opts.onProgress?.(e);
}

/** Renames `from` onto `to`; an existing complete `to` (made by a concurrent run) wins. */
async function renameIntoPlace(from: string, to: string): Promise<void> {
  await fs.mkdir(path.dirname(to), { recursive: true });
  try {
    await fs.rename(from, to);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTEMPTY') return;
    throw new OcikitError('IO', `moving ${from} into the cache at ${to}: ${code ?? String(err)}`, { cause: err });
  }
}

async function fetchManifestVerified(run: Run, loc: RepositoryLocation, ref: DockerReference, digest: Digest) {
  const what = `${formatDockerReference({ domain: ref.domain, path: ref.path })}@${digest}`;
  const got = await run.limit(() => getManifest(run.client, loc, digest, run.signal));
  const actual = manifestDigest(got.bytes);
  if (actual !== digest) {
    throw new OcikitError('DIGEST_MISMATCH', `manifest of ${what}: expected digest ${digest}, got ${actual}`, {
      expected: digest,
      actual,
    });
  }
  return { bytes: got.bytes, parsed: parseManifest(got.bytes, `manifest of ${what}`), what };
}

/** Downloads `desc` once per run into the run's blob directory and returns the verified file. */
function runBlob(
  run: Run,
  loc: RepositoryLocation,
  desc: Descriptor,
  id: Digest,
  counted: { bytes: number },
): Promise<string> {
  let p = run.blobs.get(desc.digest);
  if (!p) {
    const file = path.join(run.tmp, 'blobs', digestHex(desc.digest));
    p = run.limit(async () => {
      await downloadBlob(run.client, loc, { digest: desc.digest, size: desc.size }, file, {
        signal: run.signal,
        onBytes: (n) => {
          counted.bytes += n;
          run.downloaded += n;
          progress(run, { type: 'bytes', id, bytes: n });
        },
      });
      await syncPath(file);
      return file;
    });
    run.blobs.set(desc.digest, p);
    p.catch(() => undefined);
  }
  return p;
}

async function fetchImage(run: Run, item: ImageItem): Promise<FetchItemSummary> {
  const final = cachedImagePath(run.cacheDir, item.id);
  const base = { id: item.id, kind: item.kind, name: item.name, digest: item.digest } as const;
  if (await exists(final)) return { ...base, status: 'cached', bytes: 0 };
  const loc = location(item.ref, item.tlsVerify);
  let { bytes, parsed, what } = await fetchManifestVerified(run, loc, item.ref, item.digest);
  if (parsed.kind === 'list') {
    // As `skopeo copy` does for a list digest: take the host platform's instance.
    const entry = chooseInstance(parsed, { platform: hostPlatform() }, what);
    ({ bytes, parsed, what } = await fetchManifestVerified(run, loc, item.ref, entry.digest));
  }
  if (parsed.kind === 'schema1') {
    throw new OcikitError(
      'UNSUPPORTED',
      `${what}: Docker schema 1 images have no config blob, so the image ID cannot be verified`,
    );
  }
  if (parsed.kind !== 'image') throw new OcikitError('UNSUPPORTED', `${what}: a nested manifest list is not an image`);
  const manifest: ImageManifest = parsed;
  if (manifest.config.digest !== item.id) {
    throw new OcikitError(
      'DIGEST_MISMATCH',
      `${what}: image ID (config digest) is ${manifest.config.digest}, expected ${item.id}`,
      {
        expected: item.id,
        actual: manifest.config.digest,
      },
    );
  }
  const descs = [manifest.config, ...manifest.layers];
  const unique = [...new Map(descs.map((d) => [d.digest, d])).values()];
  progress(run, {
    type: 'size',
    id: item.id,
    bytes: unique.filter((d) => !run.blobs.has(d.digest)).reduce((a, d) => a + d.size, 0),
  });
  const counted = { bytes: 0 };
  const files = await Promise.all(
    unique.map((d) => runBlob(run, loc, d, item.id, counted).then((f) => [d, f] as const)),
  );
  const stage = path.join(run.tmp, `image-${digestHex(item.id)}`, 'image');
  await fs.mkdir(stage, { recursive: true });
  await fs.writeFile(path.join(stage, 'version'), DIR_VERSION);
  await fs.writeFile(path.join(stage, 'manifest.json'), bytes);
  await syncPath(path.join(stage, 'manifest.json'));
  for (const [d, f] of files) {
    const dest = dirBlobPath(stage, d.digest);
    try {
      await fs.link(f, dest);
    } catch {
      await fs.copyFile(f, dest);
    }
  }
  await syncPath(stage);
  await renameIntoPlace(stage, final);
  return { ...base, status: 'fetched', bytes: counted.bytes };
}

/** fsync(2) a file or directory, so a cache entry survives a crash complete (as skopeo's dir: writer does). */
async function syncPath(p: string): Promise<void> {
  const fh = await fs.open(p, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function fetchList(run: Run, item: ListItem): Promise<FetchItemSummary> {
  const final = cachedListPath(run.cacheDir, item.id);
  const base = { id: item.id, kind: item.kind, name: item.name, digest: item.id } as const;
  if (await exists(final)) return { ...base, status: 'cached', bytes: 0 };
  const loc = location(item.ref, item.tlsVerify);
  const { bytes, parsed, what } = await fetchManifestVerified(run, loc, item.ref, item.id);
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    doc = undefined;
  }
  if (!isManifestList(doc) || parsed.kind !== 'list') {
    throw new OcikitError(
      'LIST_MISMATCH',
      `${what} is not a manifest list (it is ${parsed.mediaType || 'of unknown type'})`,
    );
  }
  run.downloaded += bytes.length;
  const tmpFile = path.join(run.tmp, `list-${digestHex(item.id)}`);
  await fs.writeFile(tmpFile, bytes, { mode: 0o644 });
  await syncPath(tmpFile);
  await fs.mkdir(path.dirname(final), { recursive: true });
  try {
    // link(2) never replaces: a concurrent run's identical file stays as it is.
    await fs.link(tmpFile, final);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') await renameIntoPlace(tmpFile, final);
  }
  return { ...base, status: 'fetched', bytes: bytes.length };
}

/**
 * Fetches every item of `sources` (a SOURCES document, validated here) into `cacheDir`.
 * Fails on the first item that fails, after the others have been stopped and the run's
 * temporary directory removed; entries completed before stay in the cache (they are verified).
 * @throws OcikitError `INVALID_INPUT`, `INVALID_DIGEST`, `UNSUPPORTED` (bad sources),
 *   `DIGEST_MISMATCH` (wrong manifest digest, image ID, blob), `LIST_MISMATCH` (a list item that is
 *   not a list), `NOT_FOUND` (missing image, blob or local image), `REGISTRY`, `TOOL_FAILED`,
 *   `CONFIG` (auth file, storage.conf), `INTERRUPTED`, `IO`.
 */
export async function fetch(sources: unknown, cacheDir: string, opts: FetchOptions = {}): Promise<FetchResult> {
  const items = parseFetchSources(sources);
  const jobs = opts.jobs ?? DEFAULT_JOBS;
  if (!Number.isInteger(jobs) || jobs < 1)
    throw new OcikitError('INVALID_INPUT', `jobs ${JSON.stringify(jobs)} is not a positive integer`);
  const cache = path.resolve(cacheDir);
  const controller = new AbortController();
  const onAbort = () => controller.abort(opts.signal?.reason);
  if (opts.signal?.aborted) throw new OcikitError('INTERRUPTED', 'fetch: interrupted before it started');
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const remote = items.filter((i) => i.kind !== 'local');
  let tmp: string | undefined;
  let client: RegistryClient | undefined;
  try {
    const results = new Map<FetchItem, FetchItemSummary>();
    const needsNetwork: FetchItem[] = [];
    for (const item of remote) {
      const p = item.kind === 'image' ? cachedImagePath(cache, item.id) : cachedListPath(cache, item.id);
      if (await exists(p)) {
        const s: FetchItemSummary = {
          id: item.id,
          kind: item.kind,
          name: item.name,
          digest: item.kind === 'image' ? item.digest : item.id,
          status: 'cached',
          bytes: 0,
        };
        results.set(item, s);
      } else needsNetwork.push(item);
    }
    if (needsNetwork.length > 0) {
      try {
        await fs.mkdir(cache, { recursive: true });
        tmp = await fs.mkdtemp(path.join(cache, '.tmp-fetch-'));
        trackTemp(tmp);
        await fs.mkdir(path.join(tmp, 'blobs'));
      } catch (err) {
        throw new OcikitError(
          'IO',
          `creating a temporary directory in the cache ${cache}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
          { cause: err },
        );
      }
      client = createRegistryClient({
        ...(opts.authFile !== undefined ? { authFile: opts.authFile } : {}),
        ...(opts.env ? { env: opts.env } : {}),
        ...(opts.retry ? { retry: opts.retry } : {}),
      });
      const run: Run = {
        cacheDir: cache,
        tmp,
        client,
        limit: limiter(jobs),
        signal: controller.signal,
        opts,
        blobs: new Map(),
        downloaded: 0,
      };
      const one = async (item: FetchItem) => {
        progress(run, { type: 'start', id: item.id, kind: item.kind, name: item.name });
        let s: FetchItemSummary;
        try {
          s = item.kind === 'image' ? await fetchImage(run, item) : await fetchList(run, item as ListItem);
        } catch (err) {
          // Writing the cache entry (mkdir, write, fsync, link, rename) fails with plain system errors.
          throw fromSystemError(
            err,
            `fetching ${item.name} (${item.id}) into the cache`,
            (err as NodeJS.ErrnoException | null)?.path ?? cache,
          );
        }
        results.set(item, s);
        progress(run, { type: 'done', item: s });
      };
      const settled = await Promise.allSettled(
        needsNetwork.map((item) =>
          one(item).catch((err: unknown) => {
            controller.abort(err);
            throw err;
          }),
        ),
      );
      const failed =
        settled.find(
          (s): s is PromiseRejectedResult => s.status === 'rejected' && !isOcikitError(s.reason, 'INTERRUPTED'),
        ) ?? settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed)
        throw opts.signal?.aborted
          ? new OcikitError('INTERRUPTED', 'fetch: interrupted', { cause: failed.reason })
          : failed.reason;
    }
    for (const item of items) {
      if (item.kind !== 'local') continue;
      if (controller.signal.aborted) throw new OcikitError('INTERRUPTED', 'fetch: interrupted');
      const s = await checkLocalImage(item, opts);
      results.set(item, s);
      opts.onProgress?.({ type: 'done', item: s });
    }
    const summaries = items.map((i) => results.get(i)!);
    return { items: summaries, downloadedBytes: summaries.reduce((a, s) => a + s.bytes, 0) };
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    if (client) await closeRegistryClient(client).catch(() => undefined);
    if (tmp) {
      await fs.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
      untrackTemp(tmp);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Local host storage

/** Phrasings skopeo/c/image have used for "no such image" (a fallback only; see checkLocalImage). */
const NOT_FOUND_PHRASES = [
  'identifier is not an image',
  'does not resolve to an image id',
  'image not known',
  'no such image',
  'not found',
];

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
export async function checkLocalImage(item: LocalItem, opts: FetchOptions = {}): Promise<FetchItemSummary> {
  let spec: StoreSpec;
  let extraStores: readonly string[] = [];
  if (opts.storage) {
    spec = item.storageLocation
      ? { ...(opts.storage.driver ? { driver: opts.storage.driver } : {}), graphroot: item.storageLocation }
      : opts.storage;
    if (!item.storageLocation) extraStores = opts.storage.additionalImageStores ?? [];
  } else {
    const { readStorageConf } = await import('../config/storage-conf.js');
    const conf = await readStorageConf({ missingOk: true, ...(opts.env ? { env: opts.env } : {}) });
    spec = item.storageLocation
      ? { driver: conf.driver, graphroot: item.storageLocation }
      : { driver: conf.driver, graphroot: conf.graphroot, runroot: conf.runroot };
    if (!item.storageLocation) extraStores = conf.additionalimagestores;
  }
  const image = item.digest && item.name ? `${item.name}@${item.digest}` : digestHex(item.id);
  const ref = containersStorageRef(spec, image);
  const { skopeoInspectRawResult } = await import('../tools/skopeo.js');
  const res = await skopeoInspectRawResult(ref, { config: true, ...opts.skopeo });
  const base = { id: item.id, kind: 'local' as const, name: item.name, digest: item.digest, bytes: 0 };
  if (res.exitCode === 0) {
    const actual = sha256(res.stdout);
    if (actual !== item.id) {
      throw new OcikitError(
        'DIGEST_MISMATCH',
        `local container image ${image}: image ID (config digest) is ${actual}, expected ${item.id}`,
        {
          expected: item.id,
          actual,
        },
      );
    }
    return { ...base, status: 'verified' };
  }
  const command = ['skopeo', 'inspect', '--raw', '--config', ref];
  const roots = [spec.graphroot!, ...extraStores];
  let records: StoreImageRecord[] | null = [];
  for (const r of roots) {
    const got = await storeImages(r);
    if (got === null) {
      records = null;
      break;
    }
    records.push(...got);
  }
  let missing: boolean;
  if (records !== null) {
    const repo = item.digest && item.name ? repoOf(storedName(item.name)) : undefined;
    missing = !records.some((r) => {
      if (repo === undefined) return r.id === digestHex(item.id);
      const digests = [...(Array.isArray(r.digests) ? r.digests : []), r.digest];
      const names = recordNames(r);
      return digests.includes(item.digest) && names.some((n) => repoOf(n) === repo);
    });
  } else {
    const text = res.stderr.toLowerCase();
    missing = NOT_FOUND_PHRASES.some((p) => text.includes(p));
  }
  if (missing) {
    throw new OcikitError(
      'NOT_FOUND',
      `image ${item.id}${item.name ? ` (${image})` : ''} does not exist in local container storage ${spec.graphroot}`,
      {
        command,
        exitCode: res.exitCode,
        stderr: res.stderr,
      },
    );
  }
  const last = res.stderr.trim().split('\n').filter(Boolean).pop() ?? '';
  throw new OcikitError(
    'TOOL_FAILED',
    `skopeo could not read local image ${image} from ${spec.graphroot} (exit ${res.exitCode}): ${last}`,
    {
      command,
      exitCode: res.exitCode,
      stderr: res.stderr,
    },
  );
}
