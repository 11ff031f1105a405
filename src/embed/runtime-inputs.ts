/**
 * The step from the manifest form of an `org.osbuild.skopeo` stage's inputs (what `resolve`
 * emits: `references` by image ID, list digests, `origin: org.osbuild.source`) to the runtime form
 * `install` takes (what osbuild hands a stage: a `path` and `data`), pointing into the fetch cache:
 *
 * - `images`: osbuild's `inputs/org.osbuild.containers` bind-mounts
 *   `<cache>/org.osbuild.containers/<id>/image` at `<input dir>/<id>`; ocikit makes `<id>` a
 *   symlink to that cache entry in a temporary input directory (the cache stays the only copy) and
 *   gives each `{"format": "dir", "name": …}`;
 * - `manifest-lists`: the cache's `org.osbuild.files` directory is already keyed by list digest,
 *   so `path` is that directory itself and `data.files` names the lists (install refuses list
 *   files that are symlinks leading out of `path`, so they are not linked).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fromSystemError } from '../errors.js';
import { withTempDir } from '../internal/fs.js';
import { FILES_CACHE, cachedImagePath } from '../osbuild/cache.js';
import type { SkopeoStageInputs } from '../osbuild/manifest-form.js';
import type { Digest } from '../model/digest.js';

/** The runtime-form inputs of one stage. */
export interface RuntimeInputs {
  readonly images: { readonly path: string; readonly data: { readonly archives: Record<string, unknown> } };
  readonly 'manifest-lists'?: { readonly path: string; readonly data: { readonly files: Record<string, unknown> } };
}

/** The runtime form of `inputs` (remote images only), with its image links made in `dir`. */
export async function runtimeInputs(inputs: SkopeoStageInputs, cache: string, dir: string): Promise<RuntimeInputs> {
  const archives: Record<string, unknown> = {};
  for (const [id, ref] of Object.entries(inputs.images.references)) {
    const link = path.join(dir, id);
    try {
      await fs.symlink(cachedImagePath(cache, id as Digest), link);
    } catch (err) {
      throw fromSystemError(err, 'linking the cached image', link);
    }
    Object.defineProperty(archives, id, { value: { format: 'dir', name: ref.name }, enumerable: true });
  }
  const lists = inputs['manifest-lists']?.references ?? [];
  return {
    images: { path: dir, data: { archives } },
    ...(lists.length > 0
      ? {
          'manifest-lists': {
            path: path.join(cache, FILES_CACHE),
            data: { files: Object.fromEntries(lists.map((d) => [d, {}])) },
          },
        }
      : {}),
  };
}

/** Runs `fn` with the runtime form of `inputs` in a temporary input directory, removed afterwards. */
export function withRuntimeInputs<T>(
  inputs: SkopeoStageInputs,
  cache: string,
  fn: (runtime: RuntimeInputs) => Promise<T>,
  tmpdir?: string,
): Promise<T> {
  return withTempDir('ocikit-embed-inputs-', async (dir) => fn(await runtimeInputs(inputs, cache, dir)), tmpdir);
}
