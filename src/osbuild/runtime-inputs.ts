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
 *   files that are symlinks leading out of `path`, so they are not linked);
 * - local images (the `org.osbuild.containers-storage` group): osbuild's
 *   `inputs/org.osbuild.containers-storage` bind-mounts the host store's graph root at
 *   `<input dir>/storage` and gives each image `{"format": "containers-storage", "name": …,
 *   "storage": <storage.conf's [storage] table>}`; ocikit makes `storage` a symlink to the host
 *   store in the same input directory (image keys are digests, so it cannot collide with one) and
 *   passes the driver, graph root and run root as `storage`. Install opens the host store read
 *   only from there (`osbuild/container-source.ts`). They never have `manifest-lists`: osbuild/images
 *   drops the list digest of local images.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { OcikitError, fromSystemError } from '../errors.js';
import { describeValue, isRecord } from '../internal/guards.js';
import { isDigest } from '../model/digest.js';
import { readStorageConf } from '../config/storage-conf.js';
import { withTempDir } from '../internal/fs.js';
import { FILES_CACHE, cachedImagePath } from './cache.js';
import type { SkopeoStageInputs } from './manifest-form.js';
import type { Digest } from '../model/digest.js';

/** The host store local images are installed from (storage.conf's, as `fetch` verified them in). */
export interface HostStore {
  readonly driver: string;
  readonly graphroot: string;
  readonly runroot: string;
}

/** The host store storage.conf names (the store `fetch` checks local items in). */
export async function readHostStore(env: NodeJS.ProcessEnv | undefined): Promise<HostStore> {
  const conf = await readStorageConf({ missingOk: true, env });
  return { driver: conf.driver, graphroot: conf.graphroot, runroot: conf.runroot };
}

/** The runtime-form inputs of one stage. */
export interface RuntimeInputs {
  readonly images: { readonly path: string; readonly data: { readonly archives: Record<string, unknown> } };
  readonly 'manifest-lists'?: { readonly path: string; readonly data: { readonly files: Record<string, unknown> } };
}

async function link(target: string, at: string, what: string): Promise<void> {
  try {
    await fs.symlink(target, at);
  } catch (err) {
    throw fromSystemError(err, what, at);
  }
}

/**
 * The runtime form of the stage inputs `groups` (a remote group, a local one, or both, as
 * `manifestInputs` makes them) as one `images` input, with its links made in `dir`.
 */
export async function runtimeInputs(
  groups: readonly SkopeoStageInputs[],
  cache: string,
  dir: string,
  host: () => Promise<HostStore>,
): Promise<RuntimeInputs> {
  const archives: Record<string, unknown> = {};
  const add = (id: string, value: unknown) => Object.defineProperty(archives, id, { value, enumerable: true });
  for (const g of groups) {
    if (g.images.type === 'org.osbuild.containers-storage') {
      const store = await host();
      await link(store.graphroot, path.join(dir, 'storage'), 'linking the host store');
      for (const [id, ref] of Object.entries(g.images.references))
        add(id, { format: 'containers-storage', name: ref.name, storage: { ...store } });
      continue;
    }
    for (const [id, ref] of Object.entries(g.images.references)) {
      await link(cachedImagePath(cache, id as Digest), path.join(dir, id), 'linking the cached image');
      add(id, { format: 'dir', name: ref.name });
    }
  }
  const lists = groups.flatMap((g) => g['manifest-lists']?.references ?? []);
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

/** Runs `fn` with the runtime form of `groups` in a temporary input directory, removed afterwards. */
export function withRuntimeInputs<T>(
  groups: readonly SkopeoStageInputs[],
  cache: string,
  host: () => Promise<HostStore>,
  fn: (runtime: RuntimeInputs) => Promise<T>,
  tmpdir?: string,
): Promise<T> {
  return withTempDir('ocikit-embed-inputs-', async (dir) => fn(await runtimeInputs(groups, cache, dir, host)), tmpdir);
}

function formError(file: string, message: string): OcikitError {
  return new OcikitError('INVALID_INPUT', `${file}: manifest-form inputs: ${message}`);
}

function parseGroup(g: unknown, at: string, file: string): SkopeoStageInputs {
  if (!isRecord(g)) throw formError(file, `${at} must be an object, not ${describeValue(g)}`);
  const images = g.images;
  if (!isRecord(images)) throw formError(file, `${at}.images must be an object, not ${describeValue(images)}`);
  if (images.type !== 'org.osbuild.containers' && images.type !== 'org.osbuild.containers-storage')
    throw formError(file, `${at}.images.type must be org.osbuild.containers or org.osbuild.containers-storage`);
  if (images.origin !== 'org.osbuild.source') throw formError(file, `${at}.images.origin must be org.osbuild.source`);
  const refs = images.references;
  if (!isRecord(refs)) throw formError(file, `${at}.images.references must be an object`);
  for (const [id, ref] of Object.entries(refs)) {
    if (!isDigest(id)) throw formError(file, `${at}.images.references key ${JSON.stringify(id)} is not an image ID`);
    if (!isRecord(ref) || typeof ref.name !== 'string' || ref.name === '' || Object.keys(ref).length !== 1)
      throw formError(file, `${at}.images.references[${id}] must be {"name": NAME}`);
  }
  const lists = g['manifest-lists'];
  if (lists !== undefined) {
    if (!isRecord(lists) || lists.type !== 'org.osbuild.files' || lists.origin !== 'org.osbuild.source')
      throw formError(file, `${at}.manifest-lists must be an org.osbuild.files input from org.osbuild.source`);
    if (!Array.isArray(lists.references) || !lists.references.every((d) => typeof d === 'string' && isDigest(d)))
      throw formError(file, `${at}.manifest-lists.references must be an array of list digests`);
  }
  for (const k of Object.keys(g))
    if (k !== 'images' && k !== 'manifest-lists') throw formError(file, `${at}: unknown input ${JSON.stringify(k)}`);
  return g as unknown as SkopeoStageInputs;
}

/**
 * The stage inputs of a document in osbuild's manifest form — one `org.osbuild.skopeo` stage's
 * `inputs` (`{"images": {"type", "origin": "org.osbuild.source", "references"}, "manifest-lists"?}`)
 * or the array `ocikit resolve --json` prints as `inputs` — or undefined when `doc` is in the
 * runtime form (a `path` and `data`) that `install` takes directly.
 * @param file names the document in messages.
 * @throws OcikitError `INVALID_INPUT` for a manifest-form document that is malformed.
 * @category osbuild
 */
export function manifestFormInputs(doc: unknown, file: string): SkopeoStageInputs[] | undefined {
  const manifestForm = (g: unknown) => isRecord(g) && isRecord(g.images) && g.images.origin !== undefined;
  if (Array.isArray(doc)) {
    if (doc.length === 0 || !doc.every(manifestForm)) return undefined;
    return doc.map((g, i) => parseGroup(g, `inputs[${i}]`, file));
  }
  return manifestForm(doc) ? [parseGroup(doc, 'inputs', file)] : undefined;
}
