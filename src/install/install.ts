/**
 * Installing the images of container inputs into an OS tree: the job of osbuild's
 * `org.osbuild.skopeo` stage (`stages/org.osbuild.skopeo`).
 *
 * This module validates the request (options, tree, inputs), places the destination inside the
 * tree, builds the one {@link InstallContext} the install runs with, and hands over to
 * - `to-storage.ts` for a containers-storage destination (skopeo copies, one per image), or
 * - `to-layout.ts` for oci, oci-archive and dir destinations (written natively, all images of
 *   the stage into the one destination).
 *
 * Paths: every destination path is resolved inside the tree (no `..`, no symlink out). RUNROOT
 * defaults to `/run/containers/storage`, the reference's value. Failure and interruption: the
 * destination (or the store directory, when this install created it) is removed again, and every
 * temporary file with it; a store that existed before is left as skopeo left it.
 */
import type { Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { OcikitError, fromSystemError, throwIfInterrupted } from '../errors.js';
import { STORAGE_DEFAULTS } from '../config/storage-conf.js';
import { resolveInside } from '../internal/fs.js';
import { resolveContainersInput } from '../osbuild/inputs.js';
import { type Destination, parseInstallOptions } from '../osbuild/stage-options.js';
import type { SkopeoOptions } from '../tools/skopeo.js';
import type { InstallContext, InstallProgress, InstalledImageSummary } from './context.js';
import { installToLayout } from './to-layout.js';
import { installToStorage } from './to-storage.js';

export type { InstallProgress, InstalledImageSummary } from './context.js';

/** What {@link install} needs. */
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
  throwIfInterrupted(req.signal, 'install');
  const ctx: InstallContext = {
    signal: req.signal,
    tmpdir: req.tmpdir,
    runroot: path.resolve(req.runroot ?? STORAGE_DEFAULTS.runroot),
    removeSignatures: options.removeSignatures,
    skopeo: { ...req.skopeo, signal: req.signal ?? req.skopeo?.signal },
    onProgress: req.onProgress,
  };
  const dest = options.destination;
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
