/**
 * Installing the images of container inputs into an OS tree: the job of osbuild's
 * `org.osbuild.skopeo` stage (`stages/org.osbuild.skopeo`).
 *
 * This module validates the request (options, tree, inputs), places the destination inside the
 * tree, builds the one {@link InstallContext} the install runs with, and hands over to
 * `to-storage.ts` (containers-storage: skopeo copies, one per image, a few at a time) or `to-layout.ts` (oci,
 * oci-archive and dir: written natively, all images into the one destination). The behaviour
 * users rely on is in the TSDoc of {@link install} and in docs/install.md.
 */
import type { Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { OcikitError, fromSystemError, throwIfInterrupted } from '../errors.js';
import { STORAGE_DEFAULTS } from '../config/storage-conf.js';
import { resolveInside } from '../internal/dir-handle.js';
import { resolveContainersInput } from '../osbuild/inputs.js';
import { type Destination, parseInstallOptions } from '../osbuild/stage-options.js';
import type { SkopeoOptions } from '../tools/skopeo.js';
import type { InstallContext, InstallProgress, InstalledImageSummary } from './context.js';
import { installToLayout } from './to-layout.js';
import { installToStorage } from './to-storage.js';

export type { InstallProgress, InstalledImageSummary } from './context.js';

/**
 * What {@link install} needs.
 * @category Install
 */
export interface InstallRequest {
  /** The stage's `inputs` object (`images`, optional `manifest-lists`), paths absolute. */
  readonly inputs: unknown;
  /** The stage's options (validated by {@link parseInstallOptions}). */
  readonly options: unknown;
  /** The tree the images go into; must exist. */
  readonly tree: string;
  /** Run root of the destination store (default `/run/containers/storage`). */
  readonly runroot?: string | undefined;
  /** Where temporary directories go (default: the OS temp dir; oci-archive extraction: /var/tmp). */
  readonly tmpdir?: string | undefined;
  /** Aborts the install; it then rejects with `INTERRUPTED` after cleaning up. */
  readonly signal?: AbortSignal | undefined;
  /** Receives progress per image. */
  readonly onProgress?: ((event: InstallProgress) => void) | undefined;
  /**
   * How to run skopeo: its `binary` (default `$OCIKIT_SKOPEO`, else `skopeo` on PATH). skopeo's
   * output reaches {@link InstallRequest.onProgress}; {@link InstallRequest.signal} stops it.
   */
  readonly skopeo?: SkopeoOptions | undefined;
  /**
   * containers-storage: how many images are copied at once, one skopeo process each (default 2;
   * 1 copies them one after another, in input order). Progress stays
   * per image and the summary in input order; after a failure no further copy starts.
   */
  readonly jobs?: number | undefined;
  /**
   * oci and dir destinations: hard-link the blob files of `dir` and `oci` inputs into the
   * destination where the system allows it (same file system and mount) instead of copying them;
   * each is verified all the same. The inputs must then never change: a change to one file is a
   * change to both. Refused with the other destinations. Default false.
   */
  readonly linkInputs?: boolean | undefined;
}

/** The default of {@link InstallRequest.jobs}: two concurrent skopeo copies into one store. */
const DEFAULT_STORE_JOBS = 2;

/**
 * What {@link install} did.
 * @category Install
 */
export interface InstallSummary {
  /** The tree (absolute). */
  readonly tree: string;
  /** The validated destination and where it lies on disk. */
  readonly destination: Destination & {
    /** The destination's absolute path on disk, inside the tree (the store directory for containers-storage). */
    readonly location: string;
  };
  /** Whether signatures were dropped (the stage's `remove-signatures`). */
  readonly removeSignatures: boolean;
  /** One entry per installed image, in input order. */
  readonly images: readonly InstalledImageSummary[];
}

/**
 * Installs every image of `inputs` into the destination that `options` name inside `tree`.
 *
 * Every destination path is resolved inside the tree (no `..` component, no symlink out; a name
 * such as `..data` is a name) and written through directory descriptors walked from the tree, so
 * a concurrent symlink swap cannot redirect it; an install never succeeds with its files outside
 * the tree. The run root defaults to `/run/containers/storage`, the reference's value. On failure
 * or interruption an install removes only what it created: its temporary files, what it had
 * published, and the directories it created that are still empty; what skopeo wrote into a store
 * stays, since a store is shared with any concurrent install (docs/install.md).
 * @throws OcikitError `INVALID_INPUT` (options, inputs), `UNSAFE_PATH` (a destination leaving the
 *   tree or moved while written, a path a store reference cannot carry, a hostile archive),
 *   `NOT_FOUND` (tree, images, blobs, skopeo), `DIGEST_MISMATCH` (blob content), `LIST_MISMATCH`,
 *   `UNSUPPORTED`, `TOOL_FAILED` (skopeo), `INTERRUPTED`, `EXISTS`, `IO`; and what the input
 *   readers throw.
 * @example
 * ```ts
 * import { readFile } from 'node:fs/promises';
 * import { install } from 'ocikit';
 *
 * // What osbuild's org.osbuild.skopeo stage does: every input image into an OCI layout in the tree.
 * const summary = await install({
 *   inputs: JSON.parse(await readFile('inputs.json', 'utf8')),
 *   options: { destination: { type: 'oci', path: '/usr/share/containers/layout' } },
 *   tree: '/var/tmp/tree',
 *   signal: AbortSignal.timeout(600_000),
 * });
 * for (const image of summary.images) console.log(image.name, image.imageId, image.destination);
 * ```
 * @category Install
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
  const jobs = req.jobs ?? DEFAULT_STORE_JOBS;
  if (!Number.isInteger(jobs) || jobs < 1)
    throw new OcikitError('INVALID_INPUT', `jobs ${JSON.stringify(jobs)} is not a positive integer`);
  const images = await resolveContainersInput(req.inputs);
  throwIfInterrupted(req.signal, 'install');
  const ctx: InstallContext = {
    signal: req.signal,
    tmpdir: req.tmpdir,
    runroot: path.resolve(req.runroot ?? STORAGE_DEFAULTS.runroot),
    removeSignatures: options.removeSignatures,
    skopeo: { tmpdir: req.tmpdir, ...req.skopeo, signal: req.signal ?? req.skopeo?.signal },
    onProgress: req.onProgress,
    jobs,
    linkInputs: req.linkInputs === true,
  };
  const dest = options.destination;
  if (ctx.linkInputs && dest.type !== 'oci' && dest.type !== 'dir')
    throw new OcikitError('INVALID_INPUT', `linking inputs is for oci and dir destinations, not ${dest.type}`);
  const summary = (location: string, installed: readonly InstalledImageSummary[]): InstallSummary => ({
    tree,
    destination: { ...dest, location },
    removeSignatures: options.removeSignatures,
    images: installed,
  });
  if (dest.type === 'containers-storage') {
    const store = await resolveInside(tree, dest.storagePath, 'destination storage-path');
    return summary(store, await installToStorage(images, dest, tree, store, ctx));
  }
  const target = await resolveInside(tree, dest.path, 'destination path');
  return summary(target, await installToLayout(images, dest, tree, target, ctx));
}
