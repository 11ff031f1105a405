/**
 * `embed`: from image names to an installed tree in one process — resolve (`resolve/resolve.ts`,
 * or a lock file), fetch into the verified cache (`fetch/fetch.ts`, with the manifest-form sources
 * of the specs), install (`install/install.ts`, with the runtime form of the manifest-form inputs
 * pointing into the cache, `runtime-inputs.ts`). List digests are kept and a list instance for
 * another architecture is installed as itself (install's override flags), as install does.
 *
 * Local entries (`local`, blueprint `local-storage`) are images of the host store storage.conf
 * names, handled as osbuild handles `org.osbuild.containers-storage` sources: nothing is
 * downloaded (fetch only checks that the store still has the image, so a spec from a lock fails
 * with `NOT_FOUND` before the tree is touched), and they are installed in the same install call
 * as the remote ones, from a `containers-storage` input over the host store. Their list digest is
 * reported as resolve reports it, but not installed (osbuild/images gives local images no list).
 *
 * Guarantee: the resolve and fetch phases write nothing into the tree (fetch publishes cache
 * entries atomically, so the cache is sound whatever fails); a failing install phase is undone
 * (`rollback.ts`), so a failed embed leaves the tree as it was. docs/embed.md has the details.
 */
import * as path from 'node:path';
import { OcikitError, fromSystemError, throwIfInterrupted } from '../errors.js';
import { exists, withTempDir } from '../internal/fs.js';
import { type HostEnv, hostHome, hostUid, hostVar } from '../internal/host-env.js';
import type { Digest } from '../model/digest.js';
import { cachedImagePath, cachedListPath } from '../osbuild/cache.js';
import { manifestInputs, manifestSources } from '../osbuild/manifest-form.js';
import { type FetchItemSummary, type FetchOptions, type FetchProgress, fetch } from '../fetch/fetch.js';
import { type InstallProgress, install } from '../install/install.js';
import { platformOfChoice, rpmArch } from '../resolve/arch.js';
import { type ResolveEntry, readEntriesFile } from '../resolve/entries.js';
import { type LockFile, lockOf, readLockFile, writeLockFile } from '../resolve/lock.js';
import { type ResolveOptions, type ResolvedSpec, resolve } from '../resolve/resolve.js';
import { type BoundImage, readBoundImages } from './bound-images.js';
import { rollback, snapshot } from './rollback.js';
import { readHostStore, withRuntimeInputs } from '../osbuild/runtime-inputs.js';

/**
 * Where `embed` installs: osbuild's skopeo stage destinations.
 * @category Embed
 */
export type EmbedDestinationType = 'containers-storage' | 'oci' | 'oci-archive' | 'dir';

/**
 * What {@link embed} needs.
 * @category Embed
 */
export interface EmbedRequest
  extends Omit<ResolveOptions, 'signal' | 'jobs' | 'allowPlatformMismatch' | 'env' | 'skopeo'>,
    Pick<FetchOptions, 'policy' | 'insecurePolicy' | 'registriesD' | 'lowSpeed'> {
  /** The tree the images go into; must exist. */
  readonly tree: string;
  /** References or entries to embed. */
  readonly entries?: readonly (string | ResolveEntry)[] | undefined;
  /** An entries file (blueprint `[[containers]]` or osbuild-mpp `images`) whose entries are added. */
  readonly from?: string | undefined;
  /** Add the tree's bootc bound images (`usr/lib/bootc/bound-images.d`). */
  readonly boundImages?: boolean | undefined;
  /** The cache directory (default {@link defaultCacheDir}). */
  readonly cache?: string | undefined;
  /** A lock file: entries found in it are not resolved again; written back with the new ones (unless frozen). */
  readonly lock?: string | undefined;
  /** With {@link EmbedRequest.lock}: resolve nothing, refuse entries missing from the lock, write no lock. */
  readonly frozen?: boolean | undefined;
  /** The destination type (default `containers-storage`). */
  readonly destination?: EmbedDestinationType | undefined;
  /** containers-storage: the store inside the tree (default `/var/lib/containers/storage`). */
  readonly storagePath?: string | undefined;
  /** containers-storage: the driver (default `overlay`). */
  readonly storageDriver?: string | undefined;
  /** oci, oci-archive, dir: the path inside the tree (required for those). */
  readonly destPath?: string | undefined;
  /** containers-storage: the run root (default: a temporary directory of this run). */
  readonly runroot?: string | undefined;
  /** Resolve and plan only: fetch nothing, write nothing. */
  readonly dryRun?: boolean | undefined;
  /** Where temporary directories go. */
  readonly tmpdir?: string | undefined;
  /**
   * Parallel downloads and resolves (default 4); also the skopeo copies into a store at once
   * (install's `jobs`, default 2).
   */
  readonly jobs?: number | undefined;
  /** The host: environment (cache, configuration lookups), uid. */
  readonly host?: HostEnv | undefined;
  /** Aborts the embed (`INTERRUPTED`; what the install wrote is removed). */
  readonly signal?: AbortSignal | undefined;
  /** Progress of the three phases. */
  readonly onProgress?: ((event: EmbedProgress) => void) | undefined;
}

/**
 * A progress event of {@link embed}.
 * @category Embed
 */
export type EmbedProgress =
  | {
      /** The resolve phase. */
      readonly phase: 'resolve';
      /** How many entries are resolved now. */
      readonly resolving: number;
      /** How many were taken from the lock. */
      readonly locked: number;
    }
  | {
      /** The fetch phase. */
      readonly phase: 'fetch';
      /** fetch's own event. */
      readonly event: FetchProgress;
    }
  | {
      /** The install phase. */
      readonly phase: 'install';
      /** install's own event. */
      readonly event: InstallProgress;
    };

/**
 * One image of an {@link EmbedSummary}.
 * @category Embed
 */
export interface EmbeddedImage extends ResolvedSpec {
  /** Whether the spec came from the lock file. */
  readonly locked: boolean;
  /**
   * The image's cache state before the run: `cached` or `missing`; `host store` for a local image
   * (installed from the host's containers-storage, never cached).
   */
  readonly cache: 'cached' | 'missing' | 'host store';
  /** Where it was written (`containers-storage:[…]NAME`, `oci:PATH:REF`, …); null in a dry run. */
  readonly installed: string | null;
}

/**
 * What {@link embed} did (or, in a dry run, would do).
 * @category Embed
 */
export interface EmbedSummary {
  /** True for a dry run. */
  readonly dryRun: boolean;
  /** The tree (absolute). */
  readonly tree: string;
  /** The cache (absolute). */
  readonly cache: string;
  /** The wanted architecture (RPM form). */
  readonly arch: string;
  /** The destination: its type and path inside the tree (and the driver for a store). */
  readonly destination: {
    /** The destination type. */
    readonly type: EmbedDestinationType;
    /** The store or destination path inside the tree. */
    readonly path: string;
    /** The store's driver (containers-storage only). */
    readonly storageDriver?: string;
  };
  /** The images, in entry order. */
  readonly images: readonly EmbeddedImage[];
  /** What the fetch did per item (empty in a dry run). */
  readonly fetched: readonly FetchItemSummary[];
  /** Bytes downloaded. */
  readonly downloadedBytes: number;
  /** The lock file written, or null. */
  readonly lockWritten: string | null;
  /** Warnings: a variant that differs, a bound image not pinned by digest. */
  readonly warnings: readonly string[];
}

/**
 * The default cache: `/var/cache/ocikit` for root (a system cache, like osbuild's, which root runs
 * share; root's inherited `XDG_CACHE_HOME` under sudo would put root-owned files in a user's
 * cache); else `$XDG_CACHE_HOME/ocikit`, else `$HOME/.cache/ocikit` (XDG Base Directory).
 * @throws OcikitError `CONFIG` when a non-root user has neither.
 * @category Embed
 */
export function defaultCacheDir(host: HostEnv = {}): string {
  if (hostUid(host) === 0) return '/var/cache/ocikit';
  const xdg = hostVar(host, 'XDG_CACHE_HOME');
  if (xdg !== undefined && path.isAbsolute(xdg)) return path.join(xdg, 'ocikit');
  const home = hostHome(host);
  if (home === undefined)
    throw new OcikitError('CONFIG', 'no cache directory: set XDG_CACHE_HOME or HOME, or give --cache');
  return path.join(home, '.cache', 'ocikit');
}

/** The entry a lock spec stands for, or undefined. */
function fromLock(lock: LockFile, entry: ResolveEntry, req: EmbedRequest): ResolvedSpec | undefined {
  const want = platformOfChoice({
    arch: entry.arch ?? req.arch,
    variant: entry.variant ?? (entry.arch !== undefined ? undefined : req.variant),
    os: entry.os ?? req.os,
  });
  const local = entry.local ?? req.local ?? false;
  const s = lock.specs.find(
    (x) =>
      x.ref === entry.ref &&
      (entry.name === undefined || x.name === entry.name) &&
      x.localStorage === local &&
      x.platform.os === want.os &&
      x.platform.architecture === want.architecture,
  );
  return s && entry.list === false ? { ...s, listDigest: null } : s;
}

/** The entries of the request: references, the entries file, the bound images. */
async function gatherEntries(req: EmbedRequest, tree: string, warnings: string[]): Promise<ResolveEntry[]> {
  const entries = (req.entries ?? []).map((e) => (typeof e === 'string' ? { ref: e } : e));
  if (req.from !== undefined) entries.push(...(await readEntriesFile(req.from)));
  if (req.boundImages) {
    const bound: BoundImage[] = await readBoundImages(tree);
    for (const b of bound) {
      if (!b.pinned)
        warnings.push(
          `bound image ${b.ref} (${b.entry} -> /${b.file}) is not pinned by digest: the tree gets what the tag names today`,
        );
      entries.push({ ref: b.ref });
    }
  }
  if (entries.length === 0)
    throw new OcikitError('INVALID_INPUT', 'embed: no images (give references, an entries file or bound images)');
  return entries;
}

/** Specs for every entry: the lock's where it has them, resolved otherwise (never with `frozen`). */
async function specsOf(
  req: EmbedRequest,
  entries: readonly ResolveEntry[],
  arch: string,
  warnings: string[],
): Promise<{ specs: ResolvedSpec[]; locked: boolean[]; lock: LockFile | undefined; resolved: number }> {
  let lock: LockFile | undefined;
  if (req.lock !== undefined) {
    if (req.frozen || (await exists(req.lock))) lock = await readLockFile(req.lock);
    if (lock && lock.arch !== arch) {
      if (req.frozen)
        throw new OcikitError(
          'INVALID_INPUT',
          `lock file ${req.lock} was resolved for ${lock.arch}, not ${arch} (--frozen)`,
        );
      lock = undefined;
    }
  } else if (req.frozen) throw new OcikitError('INVALID_INPUT', 'embed: frozen needs a lock file');
  const found = entries.map((e) => (lock ? fromLock(lock, e, req) : undefined));
  const missing = entries.filter((_, i) => found[i] === undefined);
  if (req.frozen && missing.length > 0)
    throw new OcikitError(
      'INVALID_INPUT',
      `lock file ${req.lock} has no spec for ${missing.map((e) => JSON.stringify(e.ref)).join(', ')} (--frozen resolves nothing)`,
    );
  req.onProgress?.({ phase: 'resolve', resolving: missing.length, locked: entries.length - missing.length });
  const fresh =
    missing.length === 0
      ? []
      : (
          await resolve(missing, {
            ...req,
            env: req.host?.env,
            signal: req.signal,
            jobs: req.jobs,
          }).then((r) => {
            warnings.push(...r.warnings);
            return r;
          })
        ).specs;
  let k = 0;
  const specs = found.map((s) => s ?? fresh[k++]!);
  return { specs, locked: found.map((s) => s !== undefined), lock, resolved: missing.length };
}

/**
 * Embeds images into `tree`: resolve (or take from the lock), fetch into the cache, install.
 * Local entries ({@link EmbedRequest.local}, an entry's `local`) come from the host store that
 * storage.conf names: they are checked there instead of fetched, and installed in the same
 * install phase (and rollback) as the others; their cache state is `host store`.
 * @throws OcikitError what {@link resolve}, {@link fetch} and {@link install} throw;
 *   `INVALID_INPUT` (a lock that is not one, `frozen` with entries missing from the lock, no
 *   images), `NOT_FOUND` (a local image missing from the host store), `CONFIG` (no cache
 *   directory, storage.conf).
 * @example
 * ```ts
 * import { embed } from 'ocikit';
 *
 * const s = await embed({ tree: '/var/tmp/tree', entries: ['quay.io/fedora/fedora:41'], arch: 'aarch64' });
 * for (const i of s.images) console.log(i.name, i.imageId, i.listDigest, i.installed);
 * ```
 * @category Embed
 */
export async function embed(req: EmbedRequest): Promise<EmbedSummary> {
  const tree = path.resolve(req.tree);
  if (!(await exists(tree))) throw fromSystemError(Object.assign(new Error(), { code: 'ENOENT' }), 'tree', tree);
  const cache = path.resolve(req.cache ?? defaultCacheDir(req.host));
  const type = req.destination ?? 'containers-storage';
  const storage = type === 'containers-storage';
  if (!storage && !req.destPath)
    throw new OcikitError('INVALID_INPUT', `embed: a ${type} destination needs a path inside the tree`);
  const rel = storage ? (req.storagePath ?? '/var/lib/containers/storage') : req.destPath!;
  const driver = req.storageDriver ?? 'overlay';
  const warnings: string[] = [];
  const wanted = platformOfChoice(req);
  const arch = rpmArch(wanted.architecture);
  const entries = await gatherEntries(req, tree, warnings);
  const { specs, locked, resolved } = await specsOf(req, entries, arch, warnings);
  const cachedBefore = await Promise.all(
    specs.map(async (s): Promise<EmbeddedImage['cache']> => {
      if (s.localStorage) return 'host store';
      const hit =
        (await exists(cachedImagePath(cache, s.imageId))) &&
        (s.listDigest === null || (await exists(cachedListPath(cache, s.listDigest))));
      return hit ? 'cached' : 'missing';
    }),
  );
  const destination = { type, path: rel, ...(storage ? { storageDriver: driver } : {}) };
  const image = (s: ResolvedSpec, i: number, installed: string | null): EmbeddedImage => ({
    ...s,
    locked: locked[i]!,
    cache: cachedBefore[i]!,
    installed,
  });
  const base = { tree, cache, arch, destination, warnings };
  if (req.dryRun) {
    const images = specs.map((s, i) => image(s, i, null));
    return { dryRun: true, ...base, images, fetched: [], downloadedBytes: 0, lockWritten: null };
  }
  throwIfInterrupted(req.signal, 'embed');
  const fetched = await fetch(manifestSources(specs), cache, {
    jobs: req.jobs,
    signal: req.signal,
    env: req.host?.env,
    authFile: req.authFile,
    registriesConf: req.registriesConf,
    certDir: req.certDir,
    retry: req.retry,
    lowSpeed: req.lowSpeed,
    policy: req.policy,
    insecurePolicy: req.insecurePolicy,
    registriesD: req.registriesD,
    onProgress: (event) => req.onProgress?.({ phase: 'fetch', event }),
  });
  const installed = await installPhase(req, tree, specs, cache, { type, rel, driver });
  const byId = new Map(installed.map((i) => [i.imageId, i.destination]));
  let lockWritten: string | null = null;
  if (req.lock !== undefined && !req.frozen && resolved > 0) {
    await writeLockFile(req.lock, lockOf({ arch, specs }));
    lockWritten = path.resolve(req.lock);
  }
  return {
    dryRun: false,
    ...base,
    images: specs.map((s, i) => image(s, i, byId.get(s.imageId) ?? null)),
    fetched: fetched.items,
    downloadedBytes: fetched.downloadedBytes,
    lockWritten,
  };
}

/** The install phase, undone when it fails. */
async function installPhase(
  req: EmbedRequest,
  tree: string,
  specs: readonly ResolvedSpec[],
  cache: string,
  dest: { type: EmbedDestinationType; rel: string; driver: string },
): Promise<readonly { imageId: string; destination: string }[]> {
  const storage = dest.type === 'containers-storage';
  const options = {
    destination: storage
      ? { type: dest.type, 'storage-path': dest.rel, 'storage-driver': dest.driver }
      : { type: dest.type, path: dest.rel },
  };
  // One install for remote and local images: one input directory, one rollback.
  const groups = manifestInputs(specs);
  const host = () => readHostStore(req.host?.env);
  const run = async (runroot: string) => {
    const snap = await snapshot(tree, dest.rel, storage);
    try {
      return await withRuntimeInputs(
        groups,
        cache,
        host,
        async (runtime) =>
          (
            await install({
              inputs: runtime,
              options,
              tree,
              runroot,
              tmpdir: req.tmpdir,
              signal: req.signal,
              jobs: req.jobs,
              onProgress: (event) => req.onProgress?.({ phase: 'install', event }),
            })
          ).images,
        req.tmpdir,
      );
    } catch (err) {
      const root = path.join(tree, dest.rel);
      await rollback(
        snap,
        storage ? { root, driver: dest.driver, runroot } : undefined,
        specs.map((s) => s.imageId as Digest),
        {
          tmpdir: req.tmpdir,
        },
      );
      throw err;
    }
  };
  if (req.runroot !== undefined || !storage) return run(path.resolve(req.runroot ?? '/run/containers/storage'));
  return withTempDir('ocikit-embed-runroot-', run, req.tmpdir);
}
