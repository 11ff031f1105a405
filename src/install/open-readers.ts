/**
 * Opening the input images of an install for reading natively (for the native destinations):
 * `dir` images with the manifest the input resolution already parsed, oci-archives extracted
 * (and verified) once, containers-storage inputs first copied by skopeo into a temporary `dir:`.
 * Every reader lives in a nested scope and is released, with what it holds, when the caller's
 * function returns or throws.
 */
import * as path from 'node:path';
import { throwIfInterrupted } from '../errors.js';
import { withTempDir } from '../internal/fs.js';
import type { ParsedManifest } from '../model/manifest.js';
import { withContainerSource } from '../osbuild/container-source.js';
import type { ResolvedImage } from '../osbuild/inputs.js';
import { skopeoCopy } from '../tools/skopeo.js';
import { openDirImage } from '../transports/dir/read.js';
import { withOciArchive } from '../transports/oci-archive/read.js';
import type { ImageReader } from '../transports/reader.js';
import { formatImageReference } from '../transports/reference.js';
import type { InstallContext } from './context.js';

/** An open reader plus the image it belongs to. */
export interface OpenItem {
  readonly image: ResolvedImage;
  readonly reader: ImageReader;
}

/**
 * Opens a native reader for every image, in order, and lends them all to `fn` (rules in the
 * module header).
 * @throws what the readers, skopeo and `fn` throw; `INTERRUPTED`.
 */
export async function withReaders<T>(
  images: readonly ResolvedImage[],
  ctx: InstallContext,
  fn: (items: readonly OpenItem[]) => Promise<T>,
): Promise<T> {
  const openFrom = async (acc: readonly OpenItem[]): Promise<T> => {
    const image = images[acc.length];
    if (image === undefined) return fn(acc);
    throwIfInterrupted(ctx.signal, 'install');
    const next = (reader: ImageReader) => openFrom([...acc, { image, reader }]);
    return openOne(image, ctx, next);
  };
  return openFrom([]);
}

/** Opens the reader of one image and lends it to `next`; releases it afterwards. */
async function openOne<T>(image: ResolvedImage, ctx: InstallContext, next: (r: ImageReader) => Promise<T>): Promise<T> {
  const withDir = async (dir: string, manifest?: ParsedManifest) => {
    const reader = await openDirImage(dir, { manifest });
    try {
      return await next(reader);
    } finally {
      await reader.close();
    }
  };
  switch (image.format) {
    case 'dir':
      // The image's own manifest.json: the instance itself, whatever list it came with.
      return withDir(image.filepath, image.manifest ?? undefined);
    case 'oci-archive':
      return withOciArchive(image.filepath, next, { tmpdir: ctx.tmpdir, signal: ctx.signal });
    case 'containers-storage':
      return withContainerSource(
        image,
        (src) =>
          withTempDir(
            'ocikit-install-',
            async (tmp) => {
              const dir = path.join(tmp, 'image');
              await skopeoCopy(src.source, formatImageReference({ transport: 'dir', path: dir }), {
                ...ctx.skopeo,
                removeSignatures: ctx.removeSignatures,
                quiet: true,
              });
              return withDir(dir);
            },
            ctx.tmpdir,
          ),
        { runroot: ctx.runroot, tmpdir: ctx.tmpdir },
      );
  }
}
