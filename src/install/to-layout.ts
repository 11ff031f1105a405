/**
 * The native destinations of an install: images from `ImageReader`s (the inputs opened by
 * `open-readers.ts`) into an `oci` layout, an `oci-archive` or a `dir`, without skopeo. Planned by
 * `layout-plan.ts`, written by the transports' writers (`transports/{oci,oci-archive,dir}/
 * write.ts`), every blob copied and verified by `copy-blob.ts`.
 *
 * Guarantees: every blob verified while copied; the destination complete or absent. The full
 * contract is in the TSDoc of {@link installNative} and in docs/transports.md.
 */
import type { FileHandle } from 'node:fs/promises';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { OcikitError, throwIfInterrupted } from '../errors.js';
import type { Digest } from '../model/digest.js';
import { trackTemp, untrackTemp } from '../internal/cleanup.js';
import { type HeldDir, withDirInside } from '../internal/dir-handle.js';
import { warmHashPool } from '../internal/hash-pool.js';
import { runPool } from '../internal/pool.js';
import { assertAbsent, publishDir, publishFile } from '../internal/publish.js';
import { makeTempDir, writeAll } from '../internal/fs.js';
import { dirBlobPath } from '../transports/dir/read.js';
import { createDirImage, finishDirImage, writeDirBlob } from '../transports/dir/write.js';
import { ociBlobPath } from '../transports/oci/read.js';
import { createOciLayout, finishOciLayout, writeOciBlob } from '../transports/oci/write.js';
import { writeOciArchive } from '../transports/oci-archive/write.js';
import type { ResolvedImage } from '../osbuild/inputs.js';
import type { PathDestination } from '../osbuild/stage-options.js';
import type { InstallContext, InstallProgress, InstalledImageSummary } from './context.js';
import { copyBlob } from './copy-blob.js';
import { placeBlobFile } from './place-blob.js';
import { withReaders } from './open-readers.js';
import {
  type InstallItem,
  type LayoutPlan,
  type LayoutType,
  type PlannedBlob,
  planLayout,
  signaturesFor,
} from './layout-plan.js';

export type { InstallItem } from './layout-plan.js';

/** A blob this large starts the hashing threads (copy-blob.ts and place-blob.ts use them). */
const WARM_HASHING_FROM = 16 * 1024 * 1024;

/**
 * Where to install: an absolute path already validated to lie inside the tree.
 * @category Install
 */
export interface NativeDestination {
  /** The format to write: an OCI layout directory, an OCI archive file, or a `dir:` image. */
  readonly type: LayoutType;
  /**
   * Absolute path of the destination; it must not exist yet. Missing parents are created, and
   * removed again on failure if this call created them and they are still empty.
   */
  readonly path: string;
}

/**
 * What was installed, per image.
 * @category Install
 */
export interface InstalledImage {
  /** The image name given in its {@link InstallItem} (the ref name in an OCI layout). */
  readonly name: string;
  /** The config digest as written (the image ID). */
  readonly imageId: Digest;
  /** The manifest digest as written. */
  readonly manifestDigest: Digest;
  /** The destination reference, e.g. `oci:/tree/x:localhost/foo:latest` or `dir:/tree/d`. */
  readonly reference: string;
}

/** How {@link writeLayout} runs. */
export interface LayoutOptions {
  /** Aborts the install (`INTERRUPTED`); what was written so far is removed. */
  readonly signal?: AbortSignal | undefined;
  /** Receives `start` for every item, then `progress` as its blobs are copied, then `done`. */
  readonly onProgress?: ((event: InstallProgress) => void) | undefined;
  /** Blobs copied at the same time (default 4). */
  readonly concurrency?: number | undefined;
  /**
   * Drop the images' signatures. Without it, a `dir` destination keeps them (`signature-N`), and
   * an oci or oci-archive destination refuses a signed image, as skopeo does: an OCI layout
   * cannot store signatures.
   */
  readonly removeSignatures?: boolean | undefined;
  /**
   * oci and dir: hard-link each blob file of a `dir` or `oci` input into the destination where
   * the system allows it, instead of copying it (verified all the same). The input must then stay
   * unchanged: a change to one file is a change to both. Default false.
   */
  readonly linkInputs?: boolean | undefined;
}

/**
 * The native path of `install`: every image of the input into the one destination `target` (of
 * `dest.type`, inside `tree`), its parent walked by descriptor from the tree
 * (`internal/dir-handle.ts`), created as needed before the inputs are opened, and removed again on
 * failure where this install created it.
 * @throws as {@link writeLayout}, and what the input readers and skopeo throw.
 */
export async function installToLayout(
  images: readonly ResolvedImage[],
  dest: PathDestination,
  tree: string,
  target: string,
  ctx: InstallContext,
): Promise<InstalledImageSummary[]> {
  if (images.length === 0) return [];
  return withDirInside(tree, path.dirname(target), 'destination path', (parent) =>
    withReaders(images, ctx, async (items) => {
      const installed = await writeInto(
        items.map((i) => ({ reader: i.reader, name: i.image.name })),
        dest.type,
        parent,
        target,
        {
          signal: ctx.signal,
          removeSignatures: ctx.removeSignatures,
          onProgress: ctx.onProgress,
          linkInputs: ctx.linkInputs,
        },
      );
      return installed.map((r) => ({
        name: r.name,
        imageId: r.imageId,
        manifestDigest: r.manifestDigest,
        listDigest: null,
        destination: r.reference,
      }));
    }),
  );
}

/**
 * Installs `items` into `dest` (rules at {@link installNative}), reporting {@link InstallProgress}
 * per item.
 * @throws OcikitError `EXISTS`, `INVALID_INPUT` (several images into `dir`, a name that is not a
 *   valid oci reference, one name for two images), `UNSUPPORTED` (schema 1, unconvertible media
 *   types, signatures into an OCI layout), `DIGEST_MISMATCH`, `NOT_FOUND`, `UNSAFE_PATH` (the
 *   parent moved while written), `INTERRUPTED`, `IO`.
 */
export async function writeLayout(
  items: readonly InstallItem[],
  dest: NativeDestination,
  opts: LayoutOptions = {},
): Promise<readonly InstalledImage[]> {
  if (!path.isAbsolute(dest.path))
    throw new OcikitError('INVALID_INPUT', `destination path ${JSON.stringify(dest.path)} is not absolute`);
  const target = path.resolve(dest.path);
  return withDirInside('/', path.dirname(target), 'destination', (parent) =>
    writeInto(items, dest.type, parent, target, opts),
  );
}

/**
 * Writes `items` as `type` at `target`, whose parent `parent` is held open: the temporary sibling
 * is created and published through the parent's descriptor, and the parent's path is verified to
 * still lead there afterwards (what was published is removed again when it does not).
 */
async function writeInto(
  items: readonly InstallItem[],
  type: LayoutType,
  parent: HeldDir,
  target: string,
  opts: LayoutOptions,
): Promise<readonly InstalledImage[]> {
  if (items.length === 0) throw new OcikitError('INVALID_INPUT', 'no image to install');
  if (type === 'dir' && items.length > 1) {
    throw new OcikitError(
      'INVALID_INPUT',
      `a dir destination holds one image; ${items.length} were given (${items.map((i) => i.name).join(', ')})`,
    );
  }
  const plan = planLayout(items, type);
  // Large blobs are copied, or hashed after a link or a reflink, on worker threads: start them
  // now (some 25 ms of CPU each, worth it only for large blobs).
  if ([...plan.blobs.values()].some((b) => b.size >= WARM_HASHING_FROM)) warmHashPool();
  const signatures = opts.removeSignatures ? [] : await signaturesFor(items, type);
  const final = parent.at(path.basename(target));
  await assertAbsent(final);

  // A hidden sibling `.<name>.ocikit-<owner>-XXXXXX/`, made through the held parent and owned by
  // this process (so a later install can tell a killed one's from a live one's and remove it),
  // holding the work under the target's name.
  const work = await makeTempDir(path.dirname(final), `.${path.basename(target)}.ocikit-`);
  trackTemp(work);
  const tmp = path.join(work, path.basename(target));
  const progress = trackProgress(items, plan, opts.onProgress);
  const copy = async (b: PlannedBlob, out: FileHandle, offset: number): Promise<void> => {
    if (b.source.kind === 'bytes') {
      await writeAll(out, b.source.bytes, offset);
      return;
    }
    await copyBlob(b.source.reader, b.source.desc, out, offset, {
      signal: opts.signal,
      onBytes: (n) => progress.bytes(b, n),
    });
    progress.copied(b);
  };
  const concurrency = opts.concurrency ?? 4;
  let published = false;
  try {
    const blobs = [...plan.blobs.values()];
    if (type === 'oci-archive') {
      await writeOciArchive(tmp, blobs, indexEntries(plan), copy, { concurrency });
    } else {
      const layout =
        type === 'oci'
          ? { create: createOciLayout, writeBlob: writeOciBlob, blobPath: ociBlobPath }
          : { create: createDirImage, writeBlob: writeDirBlob, blobPath: dirBlobPath };
      await layout.create(tmp);
      // Large blobs first, so the slowest copy starts earliest.
      blobs.sort((a, b) => b.size - a.size);
      // A blob of an input is a file of its own here: placed by a reflink or (asked for) a hard
      // link where the system allows, else copied; verified either way (place-blob.ts).
      const place = async (b: PlannedBlob): Promise<void> => {
        if (b.source.kind === 'bytes') return layout.writeBlob(tmp, b.digest, (fh) => copy(b, fh, 0));
        await placeBlobFile(b.source.reader, b.source.desc, layout.blobPath(tmp, b.digest), {
          signal: opts.signal,
          onBytes: (n) => progress.bytes(b, n),
          link: opts.linkInputs,
        });
        progress.copied(b);
      };
      await runPool(
        blobs.map((b) => () => place(b)),
        concurrency,
      );
      throwIfInterrupted(opts.signal, 'install');
      if (type === 'oci') await finishOciLayout(tmp, indexEntries(plan));
      else await finishDirImage(tmp, { manifest: plan.images[0]!.manifest, signatures });
    }
    throwIfInterrupted(opts.signal, 'install');
    if (type === 'oci-archive') await publishFile(tmp, final);
    else await publishDir(tmp, final);
    published = true;
    await parent.verify();
  } catch (err) {
    // Ours alone: what this call has just published (the temporary goes with `work` below).
    if (published) await fs.rm(final, { recursive: true, force: true });
    throw err;
  } finally {
    await fs.rm(work, { recursive: true, force: true });
    untrackTemp(work);
  }
  progress.finish();
  return plan.images.map((im) => ({
    name: im.name,
    imageId: im.configDigest,
    manifestDigest: im.manifestDigest,
    reference: type === 'dir' ? `dir:${target}` : `${type}:${target}:${im.name}`,
  }));
}

function indexEntries(plan: LayoutPlan) {
  return plan.images.map((im) => ({
    mediaType: im.manifestMediaType,
    digest: im.manifestDigest,
    size: im.manifest.length,
    refName: im.name,
  }));
}

/**
 * Progress per item: `start` for all at once, `progress` as the blobs it owns are copied, `done`
 * when the last of them is verified; an item owning none (all shared with an earlier one) is done
 * when the whole destination is.
 */
function trackProgress(
  items: readonly InstallItem[],
  plan: LayoutPlan,
  cb: ((event: InstallProgress) => void) | undefined,
) {
  const count = items.length;
  const state = items.map((item) => ({ name: item.name, total: 0, bytes: 0, pending: 0, done: false }));
  for (const im of plan.images) state[im.item]!.total = im.total;
  for (const b of plan.blobs.values()) if (b.source.kind === 'reader') state[b.source.owner]!.pending++;
  const emit = (index: number, phase: InstallProgress['phase']) => {
    const s = state[index]!;
    if (phase === 'done') s.done = true;
    cb?.({ index, count, name: s.name, phase, bytes: s.bytes, total: s.total });
  };
  for (const i of state.keys()) emit(i, 'start');
  const ownerOf = (b: PlannedBlob) => (b.source.kind === 'reader' ? b.source.owner : undefined);
  return {
    bytes(b: PlannedBlob, n: number): void {
      const i = ownerOf(b);
      if (i === undefined) return;
      state[i]!.bytes += n;
      emit(i, 'progress');
    },
    copied(b: PlannedBlob): void {
      const i = ownerOf(b);
      if (i !== undefined && --state[i]!.pending === 0) emit(i, 'done');
    },
    finish(): void {
      for (const [i, s] of state.entries()) if (!s.done) emit(i, 'done');
    },
  };
}

/**
 * A progress report of {@link installNative}: bytes of one image's blobs copied so far.
 * @category Install
 */
export interface InstallNativeProgress {
  /** The position of the image in the `items` given to {@link installNative}. */
  readonly index: number;
  /** The image's name, from its {@link InstallItem}. */
  readonly name: string;
  /** Bytes of the image's layer blobs copied so far. */
  readonly done: number;
  /** Bytes of layer blobs this image brings in all (a blob shared with an earlier image counts there). */
  readonly total: number;
}

/**
 * Options for {@link installNative}.
 * @category Install
 */
export interface InstallNativeOptions extends Omit<LayoutOptions, 'onProgress'> {
  /** Receives the bytes copied so far of an image, as each chunk of its blobs is written. */
  readonly onProgress?: ((ev: InstallNativeProgress) => void) | undefined;
}

/**
 * Installs `items` into `dest`, natively (no skopeo), reporting only the bytes copied:
 * - every blob is streamed (never held whole) and its size and sha256 are verified in the same
 *   pass that copies it; a wrong, short, long or missing blob fails the install
 *   (`DIGEST_MISMATCH` / `NOT_FOUND`) and nothing appears at the destination;
 * - the destination appears complete or not at all: everything is written under a hidden
 *   temporary sibling (registered for removal, so the CLI removes it on SIGINT), then
 *   published without replacing anything; a SIGKILL can leave only that hidden sibling, which
 *   names its owner, and the next install into the same destination removes it once its
 *   owner is gone. An existing destination is `EXISTS` (nothing is merged into a layout);
 * - the path checked is the path written: the parent is walked by descriptor and held open, the
 *   sibling created and published through it, and the parent's path checked to still lead there
 *   afterwards (`UNSAFE_PATH` otherwise, the result removed again); on failure only the parent
 *   directories this call created are removed, and only while empty;
 * - `oci` / `oci-archive`: an OCI image keeps its exact manifest and config bytes, a Docker v2s2
 *   image is converted as skopeo converts it; each image is named by its full name
 *   (`localhost/foo:latest`), so several images share one layout, each reachable as
 *   `oci:PATH:NAME`, and shared blobs are written once;
 * - `dir`: one image only (`INVALID_INPUT` otherwise); the source manifest bytes are kept exactly,
 *   with the signatures unless they are removed;
 * - destination blobs are new files (never hard links to the inputs).
 * @throws OcikitError `EXISTS`, `INVALID_INPUT` (several images into `dir`, a name that is not a
 *   valid oci reference, one name for two images), `UNSUPPORTED` (schema 1, unconvertible media
 *   types, signatures into an OCI layout), `DIGEST_MISMATCH`, `NOT_FOUND`, `UNSAFE_PATH` (the
 *   parent moved while written), `INTERRUPTED`, `IO`.
 * @category Install
 */
export async function installNative(
  items: readonly InstallItem[],
  dest: NativeDestination,
  opts: InstallNativeOptions = {},
): Promise<readonly InstalledImage[]> {
  const cb = opts.onProgress;
  return writeLayout(items, dest, {
    ...opts,
    onProgress:
      cb &&
      ((e) => {
        if (e.phase === 'progress') cb({ index: e.index, name: e.name, done: e.bytes, total: e.total ?? 0 });
      }),
  });
}
