/**
 * Scoped container sources: the port of `container_source` in osbuild's `osbuild/util/containers.py`.
 *
 * For each resolved input image it lends a consumer (skopeo copy, bootc, ostree, podman) the image
 * name, the source reference and podman arguments where they apply, and removes everything it
 * created when the callback returns or throws, and when the CLI is interrupted. The reference per
 * format is in the TSDoc of {@link openContainerSource} and in docs/inputs.md.
 */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { digestHex, parseDigest } from '../model/digest.js';
import { OcikitError, fromSystemError } from '../errors.js';
import { STORAGE_DEFAULTS } from '../config/storage-conf.js';
import { trackTemp, untrackTemp } from '../internal/cleanup.js';
import { makeTempDir } from '../internal/fs.js';
import type { ResolvedImage } from './inputs.js';
import type { Platform } from '../model/platform.js';
import { type MergeResult, mergeManifest, mergeParsedManifest } from '../transports/dir/merge.js';
import { formatImageReference } from '../transports/reference.js';
import { unmountIfMounted } from '../tools/mounts.js';

/**
 * What a container source lends.
 * @category osbuild
 */
export interface ContainerSource {
  /** The image name from the input (`data.name`). */
  readonly name: string;
  /** The reference to hand to skopeo (`dir:…`, `oci-archive:…`, `containers-storage:[…]…`). */
  readonly source: string;
  /** podman global arguments to see the image (containers-storage only), else null. */
  readonly podmanArgs: readonly string[] | null;
  /** For a `dir` image with a list: the list digest. */
  readonly listDigest: string | null;
  /** For a `dir` image with a list: the platform of its entry in the list. */
  readonly platform: Platform | null;
  /** The image's manifest digest, where known without a tool (dir images). */
  readonly manifestDigest: string | null;
}

/**
 * Host paths and defaults for containers-storage sources.
 * @category osbuild
 */
export interface SourceOptions {
  /** The host store to read (default: the image's `filepath`, i.e. `<images path>/storage`). */
  readonly storage?: string | undefined;
  /** Run root for the store spec (default `/run/containers/storage`, the reference's value). */
  readonly runroot?: string | undefined;
  /** Overlay only: the empty graph root (default: a fresh temporary directory, removed after). */
  readonly emptyGraphroot?: string | undefined;
  /** Where temporary directories go (default: the OS temp dir). */
  readonly tmpdir?: string | undefined;
}

/**
 * An open source; call `close()` (or `await using`) to release what it holds.
 * @category osbuild
 */
export interface OpenContainerSource extends ContainerSource, AsyncDisposable {
  /**
   * Removes everything the source created (symlink, merged view, empty graph root, and an overlay
   * mount left on it). Safe to call twice.
   * @throws OcikitError `IO` when something could not be removed (the first failure is the cause).
   */
  close(): Promise<void>;
}

/**
 * The run root the reference uses inside stages (the host store's default run root).
 * @category osbuild
 */
export const DEFAULT_RUNROOT = STORAGE_DEFAULTS.runroot;

/**
 * Opens the source of `image` (a record from `resolveContainersInput`, already validated; what
 * it parsed is used, not read again). Prefer {@link withContainerSource}, which closes it for you.
 *
 * - `dir` without a list, `oci-archive`: `<format>:<tmp>/image`, a symlink to the real path, so a
 *   `:` in the real path cannot be misread as a tag separator.
 * - `dir` with a list: `dir:<tmp>/image`, the merged view of {@link mergeManifest} (links, no copy),
 *   plus the list digest and the platform of the image's list entry, so a caller can make skopeo
 *   pick this very instance on any host (`--override-arch/os/variant`).
 * - `containers-storage`: the store specifications upstream osbuild builds. Overlay: an empty graph
 *   root plus the host store as `additionalimagestore` (podman: `--root`, `--imagestore`); other
 *   drivers: the host store as graph root (podman: `--imagestore`). The image is named by its ID.
 * @throws OcikitError `UNSUPPORTED` (unknown format), and what {@link mergeManifest} throws.
 * @category osbuild
 */
export async function openContainerSource(
  image: ResolvedImage,
  opts: SourceOptions = {},
): Promise<OpenContainerSource> {
  const { format, name } = image;
  if (format !== 'dir' && format !== 'oci-archive' && format !== 'containers-storage') {
    throw new OcikitError('UNSUPPORTED', `unknown container format ${JSON.stringify(format)}`);
  }
  const tmp = await makeTempDir(opts.tmpdir ?? os.tmpdir(), 'ocikit-source-');
  trackTemp(tmp);
  const cleanups: (() => Promise<void>)[] = [];
  const close = async () => {
    const errors: unknown[] = [];
    for (const c of cleanups.reverse()) await c().catch((e: unknown) => errors.push(e));
    cleanups.length = 0;
    await fs.rm(tmp, { recursive: true, force: true }).catch((e: unknown) => errors.push(e));
    untrackTemp(tmp);
    if (errors.length > 0)
      throw new OcikitError('IO', `cleaning up the source of ${name} failed`, { cause: errors[0] });
  };
  const open = (src: Omit<ContainerSource, 'name'>): OpenContainerSource => ({
    name,
    ...src,
    close,
    [Symbol.asyncDispose]: close,
  });
  try {
    const link = path.join(tmp, 'image');
    if (format === 'dir' && image['manifest-list']) {
      const merged = await merge(image, image['manifest-list'], link);
      return open({
        source: formatImageReference({ transport: 'dir', path: link }),
        podmanArgs: null,
        listDigest: merged.listDigest,
        platform: merged.entry.platform ?? null,
        manifestDigest: merged.imageDigest,
      });
    }
    if (format === 'dir' || format === 'oci-archive') {
      await fs.symlink(path.resolve(image.filepath), link);
      return open({
        source: formatImageReference({ transport: format, path: link }),
        podmanArgs: null,
        listDigest: null,
        platform: null,
        manifestDigest: image.manifest?.digest ?? null,
      });
    }
    // containers-storage
    const storage = path.resolve(opts.storage ?? image.filepath);
    const runroot = opts.runroot ?? DEFAULT_RUNROOT;
    const driver = image.storageDriver ?? STORAGE_DEFAULTS.driver;
    const id = digestHex(parseDigest(image.checksum, 'containers-storage image key'));
    if (driver === 'overlay') {
      let graphroot = opts.emptyGraphroot;
      if (graphroot === undefined) {
        graphroot = path.join(tmp, 'graphroot');
        await fs.mkdir(graphroot);
      }
      const root = graphroot;
      // Opening an overlay store makes c/storage bind-mount <graphroot>/overlay onto itself and
      // leave it; unmount it (lazily) when done, as the reference does, or the directory stays busy.
      cleanups.push(() => unmountIfMounted(path.join(root, 'overlay')));
      return open({
        source: formatImageReference({
          transport: 'containers-storage',
          store: { driver, graphroot: root, runroot, options: [`additionalimagestore=${storage}`] },
          image: id,
        }),
        podmanArgs: [`--root=${root}`, `--imagestore=${storage}`],
        listDigest: null,
        platform: null,
        manifestDigest: null,
      });
    }
    return open({
      source: formatImageReference({
        transport: 'containers-storage',
        store: { driver, graphroot: storage, runroot },
        image: id,
      }),
      podmanArgs: [`--imagestore=${storage}`],
      listDigest: null,
      platform: null,
      manifestDigest: null,
    });
  } catch (err) {
    await close().catch(() => undefined);
    // symlink/mkdir in the temporary directory fail with plain system errors.
    throw fromSystemError(err, `opening the source of ${name}`, (err as NodeJS.ErrnoException | null)?.path ?? tmp);
  }
}

/**
 * Lends the source of `image` to `fn` and releases it afterwards, on success and on error.
 * The source per format is described at {@link openContainerSource}.
 * @throws what {@link openContainerSource} and `fn` throw.
 * @example
 * ```ts
 * import { execFile } from 'node:child_process';
 * import { readFile } from 'node:fs/promises';
 * import { promisify } from 'node:util';
 * import { resolveContainersInput, withContainerSource } from 'ocikit';
 *
 * const run = promisify(execFile);
 * const inputs = JSON.parse(await readFile('inputs.json', 'utf8'));
 * for (const image of await resolveContainersInput(inputs)) {
 *   // The temporary symlink or merged view exists only while the callback runs.
 *   await withContainerSource(image, (src) =>
 *     run('skopeo', ['copy', src.source, `oci:/var/tmp/layout:${src.name}`]),
 *   );
 * }
 * ```
 * @category osbuild
 */
export async function withContainerSource<T>(
  image: ResolvedImage,
  fn: (source: ContainerSource) => Promise<T>,
  opts: SourceOptions = {},
): Promise<T> {
  const src = await openContainerSource(image, opts);
  let result: T;
  try {
    result = await fn(src);
  } catch (err) {
    await src.close().catch(() => undefined);
    throw err;
  }
  await src.close();
  return result;
}

/**
 * The merged view of a `dir` image and its list at `out`: from the list and manifest
 * `resolveContainersInput` parsed, or, for a record that lacks them, from the files.
 */
function merge(image: ResolvedImage, listFile: string, out: string): Promise<MergeResult> {
  if (image.list && image.manifest) {
    return mergeParsedManifest(image.list.list, image.manifest, image.filepath, out, `manifest list ${listFile}`);
  }
  return mergeManifest(listFile, image.filepath, out);
}
