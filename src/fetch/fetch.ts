/**
 * `fetch`: pulls the items of osbuild's container sources (`osbuild/sources.ts`) into osbuild's
 * source cache (`osbuild/cache.ts`), verified, in one process; local items (`fetch/local.ts`) are
 * checked in the host's containers-storage, not copied.
 *
 * Guarantee: nothing unverified reaches the cache. A run writes into its staging directory, with
 * the `dir:` writer and fsync, and publishes complete entries without ever replacing one (a
 * concurrent run's entry wins: it was made the same way). The verification order and the rest of
 * the contract are in the TSDoc of {@link fetch} and in docs/fetch.md.
 */
import * as path from 'node:path';
import { OcikitError, fromSystemError, interrupted, isOcikitError, throwIfInterrupted } from '../errors.js';
import { exists, writeNewFile } from '../internal/fs.js';
import { type Limiter, createLimiter } from '../internal/pool.js';
import { syncPath } from '../internal/publish.js';
import type { Digest } from '../model/digest.js';
import { type DockerReference, formatDockerReference } from '../model/docker-reference.js';
import type { Descriptor } from '../model/descriptor.js';
import { distinctBlobs, expectDigest } from '../model/verify.js';
import {
  type CacheStaging,
  cachedItemPath,
  createStaging,
  publishImageEntry,
  publishListEntry,
  removeStaging,
} from '../osbuild/cache.js';
import { expectManifestList } from '../osbuild/manifest-lists.js';
import {
  type FetchItem,
  type ImageItem,
  type ListItem,
  type LocalItem,
  parseFetchSources,
} from '../osbuild/sources.js';
import {
  type RegistryClient,
  type RepositoryLocation,
  closeRegistryClient,
  createRegistryClient,
  downloadBlob,
  getManifest,
  lowSpeedLimit,
} from '../registry/client.js';
import { firstServing, verifiedManifest } from '../registry/pull.js';
import { type HostConfigOptions, type PlanOptions, loadHostRegistries, planEndpoints } from '../registry/endpoints.js';
import { createDirImage, finishDirImage, linkDirBlob } from '../transports/dir/write.js';
import { chooseInstance, hostPlatform } from '../model/platform.js';
import { type RunTrust, enforceRegistryPolicy, enforceStoragePolicy, openRunTrust } from './trust.js';
import { encodeSignatureBlob } from '../trust/signature-files.js';
import {
  DEFAULT_JOBS,
  type FetchItemSummary,
  type FetchOptions,
  type FetchProgress,
  type FetchResult,
} from './options.js';

// The public types live in options.ts; the package and the CLI take them from here.
export * from './options.js';

/** One run's shared state: where it writes, what it downloaded, how many at once. */
interface FetchRun {
  readonly cacheDir: string;
  readonly staging: CacheStaging;
  readonly client: RegistryClient;
  readonly limit: Limiter;
  readonly signal: AbortSignal;
  readonly onProgress: ((e: FetchProgress) => void) | undefined;
  /** Where the host configuration comes from (registries.conf, certs.d, auth files). */
  readonly hostConfig: PlanOptions;
  /** Blobs of this run: digest → the verified file in the staging directory. */
  readonly blobs: Map<Digest, Promise<string>>;
  /** The trust policy, the verifier and registries.d of this run. */
  readonly trust: RunTrust;
}

function summaryOf(item: FetchItem, status: FetchItemSummary['status'], bytes: number): FetchItemSummary {
  const digest = item.kind === 'list' ? item.id : item.digest;
  return { id: item.id, kind: item.kind, name: item.name, digest, status, bytes };
}

/**
 * Opens the manifest `digest` of `ref` at the first endpoint of its plan that serves it
 * (`registry/pull.ts`); the rest of the image comes from that endpoint. The plan is made for
 * `NAME@DIGEST`, the reference osbuild's skopeo source copies.
 */
async function openImage(run: FetchRun, ref: DockerReference, tlsVerify: boolean, digest: Digest) {
  const plan = await planEndpoints(
    { domain: ref.domain, path: ref.path, ...(ref.tag !== undefined ? { tag: ref.tag } : {}), digest },
    { ...run.hostConfig, tlsVerify: tlsVerify ? undefined : false },
  );
  const { value, endpoint } = await firstServing(plan, run.signal, (e) =>
    fetchManifest(run, e.location, e.ref, digest),
  );
  return { ...value, loc: endpoint.location, endpoint };
}

/** Fetches manifest `digest` (in the run's limit) and verifies it. */
async function fetchManifest(run: FetchRun, loc: RepositoryLocation, ref: DockerReference, digest: Digest) {
  const what = `${formatDockerReference({ domain: ref.domain, path: ref.path })}@${digest}`;
  const got = await run.limit(() => getManifest(run.client, loc, digest, run.signal));
  return { parsed: verifiedManifest(got.bytes, digest, `manifest of ${what}`), what };
}

/** Downloads `desc` once per run into the staging directory and returns the verified, synced file. */
function runBlob(
  run: FetchRun,
  loc: RepositoryLocation,
  desc: Descriptor,
  id: Digest,
  counted: { bytes: number },
): Promise<string> {
  let p = run.blobs.get(desc.digest);
  if (!p) {
    const file = run.staging.blobFile(desc.digest);
    // The fsync runs outside the download slot: the next blob downloads while this one reaches
    // the disk (the entry is still published only once every blob is synced).
    p = run
      .limit(() =>
        downloadBlob(run.client, loc, { digest: desc.digest, size: desc.size }, file, {
          signal: run.signal,
          onBytes: (n) => {
            counted.bytes += n;
            run.onProgress?.({ type: 'bytes', id, bytes: n });
          },
        }),
      )
      .then(() => syncPath(file))
      .then(() => file);
    run.blobs.set(desc.digest, p);
    p.catch(() => undefined);
  }
  return p;
}

async function fetchImage(run: FetchRun, item: ImageItem): Promise<FetchItemSummary> {
  const opened = await openImage(run, item.ref, item.tlsVerify, item.digest);
  const { loc, endpoint } = opened;
  let { parsed, what } = opened;
  if (parsed.kind === 'list') {
    // As `skopeo copy` does for a list digest: take the host platform's instance, from the same endpoint.
    const entry = chooseInstance(parsed, { platform: hostPlatform() }, what);
    ({ parsed, what } = await fetchManifest(run, loc, endpoint.ref, entry.digest));
    if (parsed.kind === 'list') throw new OcikitError('UNSUPPORTED', `${what}: a nested manifest list is not an image`);
  }
  // The policy decides before anything else of the image is read (containers/image copyOneImage).
  const signatures = await enforceRegistryPolicy(
    run.trust,
    run.client,
    item.ref,
    item.digest,
    parsed.digest,
    endpoint,
    run.signal,
  );
  if (parsed.kind === 'schema1') {
    throw new OcikitError(
      'UNSUPPORTED',
      `${what}: Docker schema 1 images have no config blob, so the image ID cannot be verified`,
    );
  }
  if (parsed.kind !== 'image') throw new OcikitError('UNSUPPORTED', `${what}: a nested manifest list is not an image`);
  expectDigest(`image ID (config digest) of ${what}`, item.id, parsed.config.digest);
  // One digest, one size: a manifest that contradicts itself is refused before any blob is fetched.
  const unique = distinctBlobs([parsed.config, ...parsed.layers], `manifest of ${what}`);
  run.onProgress?.({
    type: 'size',
    id: item.id,
    bytes: unique.filter((d) => !run.blobs.has(d.digest)).reduce((a, d) => a + d.size, 0),
  });
  const counted = { bytes: 0 };
  const files = await Promise.all(unique.map((d) => runBlob(run, loc, d, item.id, counted)));
  const stage = run.staging.imageDir(item.id);
  await createDirImage(stage);
  for (const [i, d] of unique.entries()) await linkDirBlob(stage, d.digest, files[i]!);
  await finishDirImage(
    stage,
    { manifest: parsed.raw, signatures: signatures.map(encodeSignatureBlob) },
    { sync: true },
  );
  await publishImageEntry(run.cacheDir, item.id, stage);
  return summaryOf(item, 'fetched', counted.bytes);
}

async function fetchList(run: FetchRun, item: ListItem): Promise<FetchItemSummary> {
  const { parsed, what } = await openImage(run, item.ref, item.tlsVerify, item.id);
  expectManifestList(parsed.raw, what, { parsed, notAList: 'LIST_MISMATCH' });
  // No policy here, as in skopeo's `copy --multi-arch=index-only` (osbuild's skopeo-index source):
  // containers/image's `copyMultipleImages` evaluates only the instances it copies, and an
  // index-only copy copies none. Each image of the list is an image item of its own, evaluated
  // when it is fetched (docs/trust.md).
  const file = run.staging.listFile(item.id);
  await writeNewFile(file, async (fh) => {
    await fh.writeFile(parsed.raw);
    await fh.sync();
  });
  await publishListEntry(run.cacheDir, item.id, file);
  return summaryOf(item, 'fetched', parsed.raw.length);
}

/**
 * Fetches `items` in parallel; the first failure stops the others (through `controller`) and is
 * thrown once they have settled, as `INTERRUPTED` when `signal` (the caller's) was aborted.
 */
async function fetchAll(
  run: FetchRun,
  items: readonly (ImageItem | ListItem)[],
  results: Map<FetchItem, FetchItemSummary>,
  controller: AbortController,
  signal: AbortSignal | undefined,
): Promise<void> {
  const one = async (item: ImageItem | ListItem) => {
    run.onProgress?.({ type: 'start', id: item.id, kind: item.kind, name: item.name });
    let s: FetchItemSummary;
    try {
      s = item.kind === 'image' ? await fetchImage(run, item) : await fetchList(run, item);
    } catch (err) {
      // Writing the cache entry can fail with plain system errors (a write, an fsync).
      throw fromSystemError(
        err,
        `fetching ${item.name} (${item.id}) into the cache`,
        (err as NodeJS.ErrnoException | null)?.path ?? run.cacheDir,
      );
    }
    results.set(item, s);
    run.onProgress?.({ type: 'done', item: s });
  };
  const settled = await Promise.allSettled(
    items.map((item) =>
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
  if (failed) throw signal?.aborted ? interrupted('fetch', signal) : failed.reason;
}

/**
 * Fetches every item of `sources` (a SOURCES document, validated here) into `cacheDir`.
 * Fails on the first item that fails, after the others have been stopped and the run's
 * temporary directory removed; entries completed before stay in the cache (they are verified).
 *
 * Verification, in order: the manifest's digest (schema 1 signatures stripped) equals the requested
 * digest; the config descriptor's digest equals the image ID; every blob matches its descriptor's
 * digest and size while streaming. A list item must be a manifest list with the requested digest.
 * Items already in the cache are not contacted and are reported as `cached`. Blobs of all images
 * download in parallel, at most `jobs` at once; a blob shared by several images is downloaded once
 * per run and hard-linked into each entry.
 *
 * A manifest that gives one blob digest two sizes is `INVALID_MANIFEST`, before any blob is
 * fetched. A request whose transfer stays under the low-speed limit ({@link FetchOptions.lowSpeed})
 * is aborted and retried; when the retries run out the fetch fails with `REGISTRY`.
 * @throws OcikitError `INVALID_INPUT`, `INVALID_DIGEST`, `UNSUPPORTED` (bad sources or options),
 *   `INVALID_MANIFEST` (a manifest that contradicts itself),
 *   `DIGEST_MISMATCH` (wrong manifest digest, image ID, blob), `LIST_MISMATCH` (a list item that is
 *   not a list), `NOT_FOUND` (missing image, blob or local image), `REGISTRY`, `TOOL_FAILED`,
 *   `CONFIG` (auth file, storage.conf, registries.conf; a registry registries.conf blocks),
 *   `INTERRUPTED`, `IO`.
 * @example
 * ```ts
 * import { fetch } from 'ocikit';
 *
 * // An org.osbuild.skopeo source: the item key is the image ID, `digest` the manifest to fetch.
 * const sources = {
 *   'org.osbuild.skopeo': {
 *     items: {
 *       'sha256:<image id>': { image: { name: 'quay.io/fedora/fedora', digest: 'sha256:<manifest digest>' } },
 *     },
 *   },
 * };
 * const result = await fetch(sources, '/var/cache/osbuild/sources', { jobs: 8 });
 * for (const item of result.items) console.log(item.id, item.status, item.bytes);
 * ```
 * @category Fetch
 */
export async function fetch(sources: unknown, cacheDir: string, opts: FetchOptions = {}): Promise<FetchResult> {
  const items = parseFetchSources(sources);
  const jobs = opts.jobs ?? DEFAULT_JOBS;
  if (!Number.isInteger(jobs) || jobs < 1)
    throw new OcikitError('INVALID_INPUT', `jobs ${JSON.stringify(jobs)} is not a positive integer`);
  const lowSpeed = lowSpeedLimit(opts.lowSpeed);
  const cache = path.resolve(cacheDir);
  throwIfInterrupted(opts.signal, 'fetch');
  const controller = new AbortController();
  const onAbort = () => controller.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  let staging: CacheStaging | undefined;
  let client: RegistryClient | undefined;
  let trust: RunTrust | undefined;
  try {
    const results = new Map<FetchItem, FetchItemSummary>();
    // The one "cached" decision: an entry exists only once complete. Two runs that both miss it
    // both fetch; publishing keeps whichever entry came first.
    const toFetch: (ImageItem | ListItem)[] = [];
    for (const item of items) {
      if (item.kind === 'local') continue;
      if (await exists(cachedItemPath(cache, item))) results.set(item, summaryOf(item, 'cached', 0));
      else toFetch.push(item);
    }
    if (toFetch.length > 0) {
      const hostConfig: HostConfigOptions = {
        authFile: opts.authFile,
        env: opts.env,
        registriesConf: opts.registriesConf,
        certDir: opts.certDir,
      };
      // registries.conf, the policy and registries.d are read once per run (as skopeo reads them once per
      // process); a broken one fails the fetch before anything is contacted.
      const registries = await loadHostRegistries(hostConfig);
      trust ??= await openRunTrust(opts, { env: opts.env });
      // registries.d is read for every registry pull, as containers/image computes the lookaside
      // of every docker source it opens: a broken one fails the pull even when no signature is
      // needed.
      await trust.registriesD();
      staging = await createStaging(cache);
      client = createRegistryClient({
        authFile: opts.authFile,
        env: opts.env,
        credentialHelpers: registries.credentialHelpers,
        retry: opts.retry,
        lowSpeed,
      });
      const run: FetchRun = {
        cacheDir: cache,
        staging,
        client,
        limit: createLimiter(jobs),
        signal: controller.signal,
        onProgress: opts.onProgress,
        hostConfig: { ...hostConfig, registries },
        blobs: new Map(),
        trust,
      };
      await fetchAll(run, toFetch, results, controller, opts.signal);
    }
    const localItems = items.filter((i): i is LocalItem => i.kind === 'local');
    if (localItems.length > 0) {
      // Loaded only for local items: it brings storage.conf parsing (smol-toml) and skopeo, which
      // registry-only runs never use (10-20 ms of `ocikit fetch` start-up).
      const { checkLocalImage, localPolicySubject } = await import('./local.js');
      trust ??= await openRunTrust(opts, { env: opts.env });
      for (const item of localItems) {
        throwIfInterrupted(controller.signal, 'fetch');
        const subject = await localPolicySubject(item, opts);
        await enforceStoragePolicy(trust, subject.store, subject.image, item.digest ?? item.id);
        await checkLocalImage(item, opts);
        const s = summaryOf(item, 'verified', 0);
        results.set(item, s);
        opts.onProgress?.({ type: 'done', item: s });
      }
    }
    const summaries = items.map((i) => results.get(i)!);
    return { items: summaries, downloadedBytes: summaries.reduce((a, s) => a + s.bytes, 0) };
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    if (client) await closeRegistryClient(client).catch(() => undefined);
    if (staging) await removeStaging(staging);
  }
}
