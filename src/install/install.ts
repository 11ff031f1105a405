/**
 * Installing the images of container inputs into an OS tree: the job of osbuild's
 * `org.osbuild.skopeo` stage (osbuild-usage.md §1.3, "Details of the org.osbuild.skopeo stage").
 *
 * - containers-storage destination: skopeo stays the engine. Per image,
 *   `skopeo [--override-arch A --override-os O --override-variant V] copy [--remove-signatures]
 *   SOURCE containers-storage:[DRIVER@TREE/STORAGE_PATH+RUNROOT]NAME`, SOURCE lent by
 *   {@link withContainerSource}. A dir image that came with a manifest list is copied from the
 *   merged view (so the list digest lands in the image's RepoDigests), and the override flags
 *   carry the platform of the image's own list entry, so skopeo picks this image and not the
 *   build host's (the reference fails for a foreign architecture there). After an overlay install
 *   `overlay/backingFsBlockDev` is removed and a mount skopeo left on `overlay/` is lazily undone.
 * - oci, oci-archive and dir destinations: written natively by `installNative` (no skopeo), all
 *   images of the stage into the one destination.
 *
 * Paths: every destination path is resolved inside the tree (no `..`, no symlink out). RUNROOT
 * defaults to `/run/containers/storage`, the reference's value. Failure and interruption: the
 * destination (or the store directory, when this install created it) is removed again, and every
 * temporary file with it; a store that existed before is left as skopeo left it.
 *
 * The image ID reported is the config digest: from the dir image's manifest, from the natively
 * read oci-archive (which also refuses hostile archives before skopeo sees them), or, for
 * containers-storage inputs (whose manifest skopeo rewrites store to store), read back from the
 * destination with `skopeo inspect --raw [--config]`.
 */
import type { Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { sha256 } from '../model/digest.js';
import { OcikitError, fromSystemError } from '../errors.js';
import { type ResolvedImage, resolveContainersInput } from '../osbuild/inputs.js';
import {
  type Destination,
  type PathDestination,
  type StorageDestination,
  isOverlayDriver,
  parseInstallOptions,
} from '../osbuild/stage-options.js';
import { installNative } from './to-layout.js';
import { trackTemp, untrackTemp } from '../internal/cleanup.js';
import { exists, isInside, resolveInside, withTempDir } from '../internal/fs.js';
import { guessMediaType, manifestDigest } from '../model/manifest.js';
import { DOCKER_V2S1, DOCKER_V2S1_SIGNED } from '../model/media-types.js';
import { storedImageId } from '../transports/containers-storage/image-records.js';
import { containersStorageRef } from '../transports/containers-storage/reference.js';
import {
  type ContainerSource,
  DEFAULT_RUNROOT,
  unmountIfMounted,
  withContainerSource,
} from '../osbuild/container-source.js';
import { type PlatformOverride, skopeoCopy, skopeoInspectRaw } from '../tools/skopeo.js';
import { openDirImage } from '../transports/dir/read.js';
import { chooseInstance } from '../model/platform.js';
import type { ImageReader } from '../transports/reader.js';
import { withOciArchive } from '../transports/oci-archive/read.js';

/** What {@link install} needs. */
export interface InstallRequest {
  /** The stage's `inputs` object (`images`, optional `manifest-lists`), paths absolute. */
  readonly inputs: unknown;
  /** The stage's options (validated by {@link parseInstallOptions}). */
  readonly options: unknown;
  /** The tree the images go into; must exist. */
  readonly tree: string;
  /** Run root of the destination store (default `/run/containers/storage`). */
  readonly runroot?: string;
  /** Where temporary directories go (default: the OS temp dir; oci-archive extraction: /var/tmp). */
  readonly tmpdir?: string;
  /** Aborts the install; it then rejects with `INTERRUPTED` after cleaning up. */
  readonly signal?: AbortSignal;
  /** Receives progress per image. */
  readonly onProgress?: (event: InstallProgress) => void;
}

/** Progress of one image. */
export interface InstallProgress {
  /** Zero-based position of the image in the install, and how many there are. */
  readonly index: number;
  readonly count: number;
  /** The image name from the input. */
  readonly name: string;
  /** `start` once, `progress` any number of times, `done` once. */
  readonly phase: 'start' | 'progress' | 'done';
  /** Bytes copied so far (always 0 for skopeo copies, which report no byte counts). */
  readonly bytes: number;
  /** Bytes to copy in all, or null when unknown (skopeo copies). */
  readonly total: number | null;
  /** For skopeo copies: the latest line skopeo wrote (its step report, or a warning). */
  readonly status?: string;
}

/** One installed image. */
export interface InstalledImageSummary {
  readonly name: string;
  /** The image ID: the digest of the config blob. */
  readonly imageId: string;
  /** The digest of the image manifest written. */
  readonly manifestDigest: string;
  /** The manifest list digest recorded with the image at the destination, or null. */
  readonly listDigest: string | null;
  /** The reference the image was written to (`containers-storage:[…]NAME`, `oci:PATH:REF`, …). */
  readonly destination: string;
}

/** What {@link install} did. */
export interface InstallSummary {
  /** The tree (absolute). */
  readonly tree: string;
  /** The validated destination and where it lies on disk. */
  readonly destination: Destination & { readonly location: string };
  readonly removeSignatures: boolean;
  readonly images: readonly InstalledImageSummary[];
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new OcikitError('INTERRUPTED', 'install interrupted', { cause: signal.reason });
}

/**
 * Installs every image of `inputs` into the destination that `options` name inside `tree`.
 * @throws OcikitError `INVALID_INPUT` (options, inputs), `UNSAFE_PATH` (a destination leaving the
 *   tree, a path a store reference cannot carry, a hostile archive), `NOT_FOUND` (tree, images,
 *   blobs, skopeo), `DIGEST_MISMATCH` (blob content), `LIST_MISMATCH`, `UNSUPPORTED`,
 *   `TOOL_FAILED` (skopeo), `INTERRUPTED`, `EXISTS`, `IO`; and what the input readers throw.
 */
export async function install(req: InstallRequest): Promise<InstallSummary> {
  const options = parseInstallOptions(req.options);
  const tree = path.resolve(req.tree);
  let st: Stats;
  try {
    st = await fs.stat(tree);
  } catch (err) {
    throw fromSystemError(err, 'tree', tree);
  }
  if (!st.isDirectory()) throw new OcikitError('INVALID_INPUT', `tree ${tree} is not a directory`);
  const images = await resolveContainersInput(req.inputs);
  checkAborted(req.signal);
  const dest = options.destination;
  if (dest.type === 'containers-storage') {
    const store = await resolveInside(tree, dest.storagePath, 'destination storage-path');
    const installed = await installToStorage(images, dest, store, options.removeSignatures, req);
    return {
      tree,
      destination: { ...dest, location: store },
      removeSignatures: options.removeSignatures,
      images: installed,
    };
  }
  const target = await resolveInside(tree, dest.path, 'destination path');
  const installed = await installToPath(images, dest, tree, target, options.removeSignatures, req);
  return {
    tree,
    destination: { ...dest, location: target },
    removeSignatures: options.removeSignatures,
    images: installed,
  };
}

/**
 * The highest directory on the way from `root` down to `target` that does not exist yet (what a
 * `mkdir -p target` would create first), or null when `target` exists.
 */
async function topmostMissing(root: string, target: string): Promise<string | null> {
  let missing: string | null = null;
  for (let p = target; p !== root && isInside(root, p); p = path.dirname(p)) {
    if (await exists(p)) break;
    missing = p;
  }
  return missing;
}

/**
 * Runs `fn`; when it fails and `created` is non-null, removes `created` (a directory this install
 * brought into being). `created` is also tracked for removal if the process is interrupted.
 */
async function removingOnFailure<T>(
  created: string | null,
  fn: () => Promise<T>,
  beforeRemove?: () => Promise<void>,
): Promise<T> {
  if (created) trackTemp(created);
  try {
    return await fn();
  } catch (err) {
    if (created) {
      await beforeRemove?.().catch(() => undefined);
      await fs.rm(created, { recursive: true, force: true }).catch(() => undefined);
    }
    throw err;
  } finally {
    if (created) untrackTemp(created);
  }
}

interface Identity {
  readonly imageId: string;
  readonly manifestDigest: string;
  readonly listDigest: string | null;
}

/**
 * The ID, manifest digest and list digest the image will have in containers-storage, or null
 * when only the destination can tell (containers-storage inputs).
 */
async function identify(image: ResolvedImage, src: ContainerSource, req: InstallRequest): Promise<Identity | null> {
  switch (image.format) {
    case 'dir': {
      const m = image.manifest;
      if (m?.kind === 'image') {
        // With a list, the merged view keeps this very manifest as the chosen instance.
        return { imageId: m.config.digest, manifestDigest: m.digest, listDigest: src.listDigest };
      }
      if (m?.kind === 'list') {
        // A dir: holding a list itself: skopeo picks the host's instance, and records the list.
        const reader = await openDirImage(image.filepath);
        try {
          return {
            imageId: reader.manifest.config.digest,
            manifestDigest: reader.manifest.digest,
            listDigest: m.digest,
          };
        } finally {
          await reader.close();
        }
      }
      // Docker schema 1: no config blob; containers-storage derives the ID itself (after the copy).
      return null;
    }
    case 'oci-archive':
      // Read natively: gives the IDs and refuses a hostile archive before skopeo extracts it.
      return withOciArchive(
        image.filepath,
        async (reader) => ({
          imageId: reader.manifest.config.digest,
          manifestDigest: reader.manifest.digest,
          listDigest: null,
        }),
        { ...(req.tmpdir ? { tmpdir: req.tmpdir } : {}), ...(req.signal ? { signal: req.signal } : {}) },
      );
    case 'containers-storage':
      // Known only after the copy: store to store, skopeo rewrites the manifest.
      return null;
  }
}

/**
 * What the destination store holds for `ref` (store-to-store copies, schema 1 images): the
 * manifest and config through skopeo. A schema 1 image has no config blob; its ID is the one
 * containers-storage derived, read from the store's image records.
 * @throws OcikitError `TOOL_FAILED`, `NOT_FOUND` (no record for a schema 1 image).
 */
async function identifyWithSkopeo(
  ref: string,
  req: InstallRequest,
  stored: { store: string; name: string },
): Promise<Identity> {
  const o = req.signal ? { signal: req.signal } : {};
  const raw = await skopeoInspectRaw(ref, o);
  const digest = manifestDigest(raw);
  if (guessMediaType(raw) === DOCKER_V2S1 || guessMediaType(raw) === DOCKER_V2S1_SIGNED) {
    const id = await storedImageId(stored.store, stored.name);
    if (id === undefined)
      throw new OcikitError(
        'NOT_FOUND',
        `the store ${stored.store} has no single record of ${stored.name} after the copy`,
      );
    return { imageId: `sha256:${id}`, manifestDigest: digest, listDigest: null };
  }
  const config = await skopeoInspectRaw(ref, { ...o, config: true });
  return { imageId: sha256(config), manifestDigest: digest, listDigest: null };
}

/**
 * The platform flags that make skopeo pick the image's own instance of its merged list. Refuses
 * a list in which an earlier entry has the same platform (skopeo would pick that one).
 */
function platformOverride(image: ResolvedImage, src: ContainerSource): PlatformOverride | undefined {
  if (!src.listDigest) return undefined;
  const p = src.platform;
  if (!p) {
    throw new OcikitError(
      'UNSUPPORTED',
      `image ${image.name}: its entry in manifest list ${src.listDigest} has no platform, so skopeo cannot be made to pick it`,
    );
  }
  const list = image.list?.list;
  if (list && src.manifestDigest) {
    const first = chooseInstance(list, { platform: p }, `manifest list ${src.listDigest}`);
    if (first.digest !== src.manifestDigest) {
      throw new OcikitError(
        'UNSUPPORTED',
        `image ${image.name} (${src.manifestDigest}): manifest list ${src.listDigest} names ${first.digest} first for platform ` +
          `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}, so skopeo would install that instance instead`,
      );
    }
  }
  return { architecture: p.architecture, os: p.os, ...(p.variant ? { variant: p.variant } : {}) };
}

async function installToStorage(
  images: readonly ResolvedImage[],
  dest: StorageDestination,
  store: string,
  removeSignatures: boolean,
  req: InstallRequest,
): Promise<InstalledImageSummary[]> {
  const runroot = path.resolve(req.runroot ?? DEFAULT_RUNROOT);
  const overlay = isOverlayDriver(dest.storageDriver);
  const overlayDir = path.join(store, 'overlay');
  const created = await topmostMissing(path.resolve(req.tree), store);
  const sourceOpts = { runroot, ...(req.tmpdir ? { tmpdir: req.tmpdir } : {}) };
  const results: InstalledImageSummary[] = [];
  const count = images.length;
  await removingOnFailure(
    created,
    async () => {
      try {
        for (const [index, image] of images.entries()) {
          checkAborted(req.signal);
          const destRef = containersStorageRef({ driver: dest.storageDriver, graphroot: store, runroot }, image.name);
          const summary = await withContainerSource(
            image,
            async (src) => {
              const id = await identify(image, src, req);
              const platform = platformOverride(image, src);
              const base = { index, count, name: image.name, bytes: 0, total: null };
              req.onProgress?.({ ...base, phase: 'start' });
              // skopeo reports its steps ("Copying blob …") on stdout and problems on stderr.
              const status = (chunk: string) => {
                const line = chunk
                  .split('\n')
                  .map((l) => l.trim())
                  .filter(Boolean)
                  .pop();
                if (line) req.onProgress?.({ ...base, phase: 'progress', status: line });
              };
              await skopeoCopy(src.source, destRef, {
                removeSignatures,
                ...(platform ? { platform } : {}),
                ...(req.signal ? { signal: req.signal } : {}),
                onStderr: status,
                onStdout: status,
              });
              // Store to store, skopeo rewrites the manifest (the source store hands out
              // uncompressed layers): then report what the destination holds.
              const written = id ?? (await identifyWithSkopeo(destRef, req, { store, name: image.name }));
              req.onProgress?.({ ...base, phase: 'done' });
              return { name: image.name, ...written, destination: destRef };
            },
            sourceOpts,
          );
          results.push(summary);
        }
      } finally {
        if (overlay) await unmountIfMounted(overlayDir);
      }
      if (overlay) {
        // overlay creates this block device on xfs; it breaks ostree commits of the tree.
        await fs.rm(path.join(overlayDir, 'backingFsBlockDev'), { force: true }).catch((err: unknown) => {
          throw fromSystemError(err, 'removing', path.join(overlayDir, 'backingFsBlockDev'));
        });
      }
    },
    overlay ? () => unmountIfMounted(overlayDir) : undefined,
  );
  return results;
}

/** An open reader plus the image it belongs to. */
interface OpenItem {
  readonly image: ResolvedImage;
  readonly reader: ImageReader;
}

/**
 * Opens a native reader for every image (nested scopes: each is released when `fn` returns or
 * throws). containers-storage inputs are first copied by skopeo into a temporary `dir:`.
 */
async function withReaders<T>(
  images: readonly ResolvedImage[],
  removeSignatures: boolean,
  req: InstallRequest,
  fn: (items: readonly OpenItem[]) => Promise<T>,
  acc: readonly OpenItem[] = [],
): Promise<T> {
  const image = images[acc.length];
  if (image === undefined) return fn(acc);
  checkAborted(req.signal);
  const next = (reader: ImageReader) => withReaders(images, removeSignatures, req, fn, [...acc, { image, reader }]);
  const withDir = async (dir: string) => {
    const reader = await openDirImage(dir);
    try {
      return await next(reader);
    } finally {
      await reader.close();
    }
  };
  switch (image.format) {
    case 'dir':
      // The image's own manifest.json: the instance itself, whatever list it came with.
      return withDir(image.filepath);
    case 'oci-archive':
      return withOciArchive(image.filepath, next, {
        ...(req.tmpdir ? { tmpdir: req.tmpdir } : {}),
        ...(req.signal ? { signal: req.signal } : {}),
      });
    case 'containers-storage':
      return withContainerSource(
        image,
        (src) =>
          withTempDir(
            'ocikit-install-',
            async (tmp) => {
              const dir = path.join(tmp, 'image');
              await skopeoCopy(src.source, `dir:${dir}`, {
                removeSignatures,
                quiet: true,
                ...(req.signal ? { signal: req.signal } : {}),
              });
              return withDir(dir);
            },
            req.tmpdir,
          ),
        {
          ...(req.runroot ? { runroot: path.resolve(req.runroot) } : {}),
          ...(req.tmpdir ? { tmpdir: req.tmpdir } : {}),
        },
      );
  }
}

async function installToPath(
  images: readonly ResolvedImage[],
  dest: PathDestination,
  tree: string,
  target: string,
  removeSignatures: boolean,
  req: InstallRequest,
): Promise<InstalledImageSummary[]> {
  if (images.length === 0) return [];
  const created = await topmostMissing(tree, path.dirname(target));
  return removingOnFailure(created, async () => {
    await fs.mkdir(path.dirname(target), { recursive: true }).catch((err: unknown) => {
      throw fromSystemError(err, 'creating the parent of', target);
    });
    return withReaders(images, removeSignatures, req, async (items) => {
      const count = items.length;
      const finished = new Set<number>();
      const report = (index: number, bytes: number, total: number, phase: InstallProgress['phase']) => {
        if (finished.has(index)) return;
        if (phase === 'done') finished.add(index);
        req.onProgress?.({ index, count, name: items[index]?.image.name ?? '', phase, bytes, total });
      };
      const totals = items.map((i) =>
        i.reader.manifest.layers.reduce((n, l) => n + l.size, i.reader.manifest.config.size),
      );
      for (const [i, t] of totals.entries()) report(i, 0, t, 'start');
      const installed = await installNative(
        items.map((i) => ({ reader: i.reader, name: i.image.name })),
        { type: dest.type, path: target },
        {
          ...(req.signal ? { signal: req.signal } : {}),
          removeSignatures,
          onProgress: (p) => {
            report(p.index, p.done, p.total, p.done >= p.total ? 'done' : 'progress');
          },
        },
      );
      for (const [i, t] of totals.entries()) report(i, t, t, 'done');
      return installed.map((r) => ({
        name: r.name,
        imageId: r.imageId,
        manifestDigest: r.manifestDigest,
        listDigest: null,
        destination: r.reference,
      }));
    });
  });
}
