/**
 * The containers-storage destination of an install: skopeo stays the engine. Per image,
 * `skopeo [--override-arch A --override-os O --override-variant V] copy [--remove-signatures]
 * SOURCE containers-storage:[DRIVER@TREE/STORAGE_PATH+RUNROOT]NAME`. Where SOURCE and the image
 * ID come from, and the overlay clean-up, are in the TSDoc of {@link installToStorage} and in
 * docs/install.md.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { OcikitError, fromSystemError, throwIfInterrupted } from '../errors.js';
import { withDirInside } from '../internal/dir-handle.js';
import { runPool } from '../internal/pool.js';
import { sha256 } from '../model/digest.js';
import { guessMediaType, manifestDigest } from '../model/manifest.js';
import { chooseInstance, platformString } from '../model/platform.js';
import { DOCKER_V2S1, DOCKER_V2S1_SIGNED } from '../model/media-types.js';
import { type ContainerSource, withContainerSource } from '../osbuild/container-source.js';
import type { ResolvedImage } from '../osbuild/inputs.js';
import { type StorageDestination, isOverlayDriver } from '../osbuild/stage-options.js';
import { unmountIfMounted } from '../tools/mounts.js';
import { type PlatformOverride, skopeoCopy, skopeoInspectRaw } from '../tools/skopeo.js';
import { storedImageId, storedName } from '../transports/containers-storage/image-records.js';
import { resolveDirManifest } from '../transports/dir/read.js';
import { withOciArchive } from '../transports/oci-archive/read.js';
import { formatImageReference } from '../transports/reference.js';
import type { InstallContext, InstalledImageSummary } from './context.js';

/** What an image is called at the destination. */
interface Identity {
  readonly imageId: string;
  readonly manifestDigest: string;
  readonly listDigest: string | null;
}

/**
 * Installs every image into the store `store` (inside `tree`) of `dest`, one skopeo copy per
 * image, at most `ctx.jobs` at a time ({@link storeJobs}). containers/storage serializes the
 * writers of one store with its lock files (layers, images), and a layer or image another copy
 * created meanwhile is taken as it is (`ErrDuplicateID`), so images sharing layers end up the
 * same as copied one after another. After a failure no further copy starts, the running ones
 * finish, then the first failure is thrown; the summaries are in input order.
 * - `dir` images and containers-storage inputs: SOURCE is lent by `withContainerSource`. A dir
 *   image that came with a manifest list is copied from the merged view (so the list digest lands
 *   in the image's RepoDigests), and the override flags carry the platform of the image's own
 *   list entry, so skopeo picks this image and not the build host's.
 * - `oci-archive` inputs are extracted and verified once, natively (which also refuses hostile
 *   archives before skopeo sees them); skopeo then copies from that layout, `oci:<dir>`, instead
 *   of extracting the archive a second time.
 *
 * The image ID reported is the config digest: from the manifest the input resolution parsed (dir
 * images), from the native reader (oci-archives), or, for containers-storage inputs (whose
 * manifest skopeo rewrites store to store) and schema 1 images, read back from the destination.
 * After an overlay install `overlay/backingFsBlockDev` is removed and a mount skopeo left on
 * `overlay/` is lazily undone.
 *
 * The store is walked by descriptor from the tree (created as needed) and held open; skopeo is
 * given it as `/proc/<pid>/fd/<n>`, so no swap of a parent can redirect skopeo's writes, and the
 * store's path is verified to still lead to it afterwards. A store is shared by design (another
 * install may copy into it at the same time), so a failed install removes nothing skopeo wrote:
 * only the directories this install created that are still empty (docs/install.md).
 * @throws OcikitError `TOOL_FAILED` (skopeo), `NOT_FOUND`, `UNSUPPORTED` (a list entry skopeo
 *   cannot be made to pick), `UNSAFE_PATH`, `INTERRUPTED`, `IO`; and what the sources throw.
 */
export async function installToStorage(
  images: readonly ResolvedImage[],
  dest: StorageDestination,
  tree: string,
  store: string,
  ctx: InstallContext,
): Promise<InstalledImageSummary[]> {
  const overlay = isOverlayDriver(dest.storageDriver);
  const overlayDir = path.join(store, 'overlay');
  return withDirInside(tree, store, 'destination storage-path', async (held) => {
    const results: InstalledImageSummary[] = [];
    // The store as reported (its path) and as skopeo writes to it (through this process's descriptor).
    const spec = (graphroot: string) => ({ driver: dest.storageDriver, graphroot, runroot: ctx.runroot });
    const one = async (image: ResolvedImage, index: number): Promise<InstalledImageSummary> => {
      throwIfInterrupted(ctx.signal, 'install');
      // Reported when the image takes its place among the copies (in input order), before its
      // source is prepared.
      ctx.onProgress?.({ index, count: images.length, name: image.name, bytes: 0, total: null, phase: 'start' });
      const ref = (graphroot: string) =>
        formatImageReference({ transport: 'containers-storage', store: spec(graphroot), image: image.name });
      const refs = { shown: ref(store), written: ref(held.procForChild), store: held.proc };
      const copy = (source: string, id: Identity | null, platform?: PlatformOverride) =>
        copyToStore(source, refs, { index, count: images.length, image, id, platform }, ctx);
      if (image.format === 'oci-archive') {
        return withOciArchive(
          image.filepath,
          (reader, layout) =>
            copy(formatImageReference({ transport: 'oci', path: layout }), {
              imageId: reader.manifest.config.digest,
              manifestDigest: reader.manifest.digest,
              listDigest: null,
            }),
          { tmpdir: ctx.tmpdir, signal: ctx.signal },
        );
      }
      return withContainerSource(
        image,
        async (src) => {
          const id = await identify(image, src);
          return copy(src.source, id, platformOverride(image, src));
        },
        { runroot: ctx.runroot, tmpdir: ctx.tmpdir },
      );
    };
    try {
      // Summaries land by input position, whatever order the copies finish in.
      const tasks = images.map((image, index) => async () => {
        results[index] = await one(image, index);
      });
      await runPool(tasks, storeJobs(images, ctx.jobs));
    } finally {
      if (overlay) await unmountIfMounted(overlayDir);
    }
    if (overlay) {
      // overlay creates this block device on xfs; it breaks ostree commits of the tree.
      const dev = held.at('overlay/backingFsBlockDev');
      await fs.rm(dev, { force: true }).catch((err: unknown) => {
        throw fromSystemError(err, 'removing', dev);
      });
    }
    await held.verify();
    return results;
  });
}

/**
 * How many skopeo copies run at once: `jobs`, or 1 when two images carry the same name as the
 * store records it (`foo` and `docker.io/library/foo:latest` are one name): the later one must
 * end up holding it, as when they are copied in input order.
 */
export function storeJobs(images: readonly ResolvedImage[], jobs = 1): number {
  const names = new Set(images.map((i) => storedName(i.name)));
  return names.size < images.length ? 1 : Math.max(1, Math.min(jobs, images.length));
}

/** The destination of one copy: as reported, as given to skopeo, and the store for this process. */
interface StoreRefs {
  /** The reference reported (the store's path in the tree). */
  readonly shown: string;
  /** The reference skopeo writes to (the store through this process's descriptor). */
  readonly written: string;
  /** The store directory as this process reaches it (`/proc/self/fd/N`). */
  readonly store: string;
}

/** One copy into the store: which image, where it stands, what it is known to be. */
interface CopyJob {
  readonly index: number;
  readonly count: number;
  readonly image: ResolvedImage;
  /** The identity when known before the copy, else null (read back afterwards). */
  readonly id: Identity | null;
  readonly platform: PlatformOverride | undefined;
}

/** Runs skopeo from `source` to `refs.written`, reporting progress, and returns the image's summary. */
async function copyToStore(
  source: string,
  refs: StoreRefs,
  job: CopyJob,
  ctx: InstallContext,
): Promise<InstalledImageSummary> {
  const base = { index: job.index, count: job.count, name: job.image.name, bytes: 0, total: null };
  // skopeo reports its steps ("Copying blob …") on stdout and problems on stderr.
  const status = (chunk: string) => {
    const line = chunk
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .pop();
    if (line) ctx.onProgress?.({ ...base, phase: 'progress', status: line });
  };
  await skopeoCopy(source, refs.written, {
    ...ctx.skopeo,
    removeSignatures: ctx.removeSignatures,
    platform: job.platform,
    onStderr: status,
    onStdout: status,
  });
  // Store to store, skopeo rewrites the manifest (the source store hands out uncompressed
  // layers): then report what the destination holds.
  const written = job.id ?? (await identifyWithSkopeo(refs.written, ctx, refs.store, job.image.name));
  ctx.onProgress?.({ ...base, phase: 'done' });
  return { name: job.image.name, ...written, destination: refs.shown };
}

/**
 * The ID, manifest digest and list digest a `dir` image will have in containers-storage, from
 * what the input resolution parsed; null when only the destination can tell (containers-storage
 * inputs, Docker schema 1).
 */
async function identify(image: ResolvedImage, src: ContainerSource): Promise<Identity | null> {
  const m = image.format === 'dir' ? image.manifest : null;
  if (m?.kind === 'image') {
    // With a list, the merged view keeps this very manifest as the chosen instance.
    return { imageId: m.config.digest, manifestDigest: m.digest, listDigest: src.listDigest };
  }
  if (m?.kind === 'list') {
    // A dir: holding a list itself: skopeo picks the host's instance, and records the list.
    const instance = await resolveDirManifest(image.filepath, m);
    return { imageId: instance.config.digest, manifestDigest: instance.digest, listDigest: m.digest };
  }
  // Docker schema 1: no config blob; containers-storage derives the ID itself (after the copy).
  // containers-storage inputs: known only after the copy, skopeo rewrites the manifest.
  return null;
}

/**
 * What the destination store holds for `ref` (store-to-store copies, schema 1 images): the
 * manifest and config through skopeo. A schema 1 image has no config blob; its ID is the one
 * containers-storage derived, read from the store's image records.
 * @throws OcikitError `TOOL_FAILED`, `NOT_FOUND` (no record for a schema 1 image).
 */
async function identifyWithSkopeo(ref: string, ctx: InstallContext, store: string, name: string): Promise<Identity> {
  const raw = await skopeoInspectRaw(ref, ctx.skopeo);
  const digest = manifestDigest(raw);
  const type = guessMediaType(raw);
  if (type === DOCKER_V2S1 || type === DOCKER_V2S1_SIGNED) {
    const id = await storedImageId(store, name);
    if (id === undefined)
      throw new OcikitError('NOT_FOUND', `the store ${store} has no single record of ${name} after the copy`);
    return { imageId: `sha256:${id}`, manifestDigest: digest, listDigest: null };
  }
  const config = await skopeoInspectRaw(ref, { ...ctx.skopeo, config: true });
  return { imageId: sha256(config), manifestDigest: digest, listDigest: null };
}

/**
 * The platform flags that make skopeo pick the image's own instance of its merged list. Refuses
 * a list in which skopeo, given them, picks another instance (`chooseInstance` is its rule), e.g.
 * an earlier entry with the same platform.
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
        `image ${image.name} (${src.manifestDigest}): for platform ${platformString(p)} skopeo picks ${first.digest} ` +
          `of manifest list ${src.listDigest}, so it would install that instance instead`,
      );
    }
  }
  return { architecture: p.architecture, os: p.os, variant: p.variant };
}
