/**
 * Deploying an image's root filesystem into a tree natively: the job of osbuild's
 * `org.osbuild.container-deploy` stage (`stages/org.osbuild.container-deploy`), without a store,
 * a mount or a second copy. The inputs hold exactly one image (R1), opened as install's native
 * path opens them (`install/open-readers.ts`); its layers are checked (R3, R7:
 * ./layer-stream.ts), streamed one after another into the tree (R2; the tree and the applier:
 * ./tree.ts), all or nothing (R40: ./staging.ts), then the excludes are removed (R45). Rule
 * numbers are docs/deploy.md's.
 */
import * as path from 'node:path';
import { OcikitError, throwIfInterrupted } from '../errors.js';
import { STORAGE_DEFAULTS } from '../config/storage-conf.js';
import { note } from '../internal/notes.js';
import { resolveContainersInput } from '../osbuild/inputs.js';
import { withReaders } from '../install/open-readers.js';
import type { InstallContext } from '../install/context.js';
import type { SkopeoOptions } from '../tools/skopeo.js';
import type { ImageReader } from '../transports/reader.js';
import { planLayers, streamLayer } from './layer-stream.js';
import { checkExclude } from './options.js';
import { prepareTarget } from './staging.js';
import { openDeployTree } from './tree.js';
import type { DeploySummary, DeployWarning } from './types.js';

export type { DeploySummary, DeployWarning } from './types.js';

/**
 * How {@link deploy} writes the tree.
 * @category Deploy
 */
export interface DeployOptions {
  /** R45: paths removed after the last layer (relative to the tree; `..` refused). */
  readonly exclude?: readonly string[] | undefined;
  /**
   * R38: write as an unprivileged user, recording owners and modes it cannot apply in
   * `user.rootlesscontainers`. Default: true when the process is not root (with a note).
   */
  readonly rootless?: boolean | undefined;
}

/**
 * Progress of a deploy, per layer.
 * @category Deploy
 */
export interface DeployProgress {
  /** Zero-based layer index. */
  readonly layer: number;
  /** How many layers the image has. */
  readonly layers: number;
  /** The layer's blob digest. */
  readonly digest: string;
  /** `start` once, `progress` any number of times, `done` once per layer. */
  readonly phase: 'start' | 'progress' | 'done';
  /** Compressed bytes of this layer read so far. */
  readonly bytes: number;
  /** The layer blob's size. */
  readonly total: number;
  /** Entries of this layer read so far. */
  readonly entries: number;
}

/**
 * How {@link deploy} runs.
 * @category Deploy
 */
export interface DeployContext {
  /** Aborts the deploy: it rejects with `INTERRUPTED` and a staged tree is left empty. */
  readonly signal?: AbortSignal | undefined;
  /** Receives progress per layer. */
  readonly onProgress?: ((event: DeployProgress) => void) | undefined;
  /** Where temporary directories go (oci-archive extraction; containers-storage copies). */
  readonly tmpdir?: string | undefined;
  /** How to run skopeo, for containers-storage inputs (copied into a temporary `dir:` first). */
  readonly skopeo?: SkopeoOptions | undefined;
  /** The zstd decoder (default: the `zstd` binary, else Node's, else fzstd). */
  readonly zstd?: 'binary' | 'node' | 'fzstd' | undefined;
}

/**
 * Deploys the one image of `inputs` (the stage's `inputs` object, paths absolute) into `tree`:
 * its layers applied in order, every blob digest and DiffID verified in the same pass, the
 * excludes removed at the end. `tree` is created when missing. An empty tree is filled all or
 * nothing: on any failure (a DiffID mismatch found at a layer's end, a hostile entry, an
 * interrupt, a kill) it is left empty. A tree with content is written in place, its content
 * acting as the lowest layer; the summary then warns (`non-empty-tree`) that a failure leaves it
 * partly written.
 * @throws OcikitError `INVALID_INPUT` (inputs, not exactly one image, options, malformed layers),
 *   `UNSAFE_PATH` (an exclude or a layer entry leaving the tree), `DIGEST_MISMATCH` (blob, DiffID),
 *   `INVALID_MANIFEST` (diff_ids), `NOT_FOUND` (blobs, a foreign layer's blob), `UNSUPPORTED`
 *   (media types), `EXISTS` (another deploy is staging into the tree), `INTERRUPTED`, `IO`.
 * @example
 * ```ts
 * import { deploy } from 'ocikit';
 * const summary = await deploy(inputs, '/var/tmp/tree', { exclude: ['/var/cache'] });
 * console.log(summary.layers.length, summary.warnings);
 * ```
 * @category Deploy
 */
export async function deploy(
  inputs: unknown,
  tree: string,
  options: DeployOptions = {},
  ctx: DeployContext = {},
): Promise<DeploySummary> {
  const exclude = [...(options.exclude ?? [])];
  for (const [i, p] of exclude.entries()) checkExclude(p, `exclude[${i}]`);
  const root = path.resolve(tree);
  const images = await resolveContainersInput(inputs);
  if (images.length !== 1) {
    throw new OcikitError(
      'INVALID_INPUT',
      `deploy needs exactly one image in its inputs, not ${images.length} (as org.osbuild.container-deploy)`,
    );
  }
  let rootless = options.rootless;
  if (rootless === undefined) {
    rootless = process.getuid?.() !== 0;
    if (rootless)
      note('not running as root: deploying rootless (owners and modes recorded in user.rootlesscontainers)');
  }
  throwIfInterrupted(ctx.signal, 'deploy');
  const ictx: InstallContext = {
    signal: ctx.signal,
    tmpdir: ctx.tmpdir,
    runroot: STORAGE_DEFAULTS.runroot,
    removeSignatures: true,
    skopeo: { tmpdir: ctx.tmpdir, ...ctx.skopeo, signal: ctx.signal ?? ctx.skopeo?.signal },
    onProgress: undefined,
  };
  return withReaders(images, ictx, ([item]) =>
    deployImage(item!.reader, item!.image.data.name, root, { exclude, rootless: rootless === true }, ctx),
  );
}

/** Applies the image of `reader` (see {@link deploy}). */
async function deployImage(
  reader: ImageReader,
  name: string,
  tree: string,
  options: { exclude: readonly string[]; rootless: boolean },
  ctx: DeployContext,
): Promise<DeploySummary> {
  const plans = planLayers(reader);
  const warnings: DeployWarning[] = [];
  const warn = (w: DeployWarning) => warnings.push(w);
  const target = await prepareTarget(tree);
  if (!target.staged) {
    warn({
      code: 'non-empty-tree',
      path: '.',
      detail: `${tree} was not empty: its content was treated as the lowest layer, and a failure would have left it partly written (R40)`,
    });
  }
  try {
    const dt = await openDeployTree(target.root, { rootless: options.rootless, warn });
    const layers: DeploySummary['layers'][number][] = [];
    for (const plan of plans) {
      throwIfInterrupted(ctx.signal, 'deploy');
      const d = plan.descriptor;
      let bytes = 0;
      let entries = 0;
      const report = (phase: DeployProgress['phase']) =>
        ctx.onProgress?.({
          layer: plan.index,
          layers: plans.length,
          digest: d.digest,
          phase,
          bytes,
          total: d.size,
          entries,
        });
      report('start');
      const applier = dt.layer(plan.index);
      const streamed = await streamLayer(reader, plan, applier, {
        zstd: ctx.zstd,
        signal: ctx.signal,
        warn,
        onBytes: (n) => {
          bytes += n;
          report('progress');
        },
        onEntry: () => {
          if (++entries % 256 === 0) report('progress');
        },
      });
      await applier.finish();
      report('done');
      layers.push({
        digest: d.digest,
        diffId: streamed.diffId,
        mediaType: d.mediaType,
        compression: streamed.compression,
        entries: streamed.entries,
        bytes: streamed.bytes,
      });
    }
    throwIfInterrupted(ctx.signal, 'deploy');
    const excluded: string[] = [];
    for (const p of options.exclude) if (await dt.remove(p)) excluded.push(p);
    await dt.finish();
    throwIfInterrupted(ctx.signal, 'deploy');
    await target.commit();
    return {
      tree,
      image: { name, imageId: reader.manifest.config.digest, manifestDigest: reader.manifest.digest },
      layers,
      excluded,
      rootless: options.rootless,
      warnings,
    };
  } catch (err) {
    await target.abort();
    throw err;
  }
}
