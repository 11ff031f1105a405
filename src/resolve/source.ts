/**
 * Where a resolve reads an image from: a registry, through the host configuration's pull plan
 * (`registry/endpoints.ts`, mirrors and rewrites, certs.d, credentials; the endpoint loop of
 * `registry/pull.ts` that `fetch` uses too), or the host's containers-storage named by storage.conf,
 * through `skopeo inspect --raw` (as `fetch`'s local items are checked).
 */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { OcikitError } from '../errors.js';
import { withTempDir } from '../internal/fs.js';
import type { RegistriesConf } from '../config/registries-conf.js';
import { readStorageConf } from '../config/storage-conf.js';
import { type Digest, sha256 } from '../model/digest.js';
import type { Descriptor } from '../model/descriptor.js';
import { type DockerReference, formatDockerReference } from '../model/docker-reference.js';
import { MAX_MANIFEST_SIZE } from '../model/manifest.js';
import { expectDigest } from '../model/verify.js';
import { type RegistryClient, downloadBlob, getManifest } from '../registry/client.js';
import { type Endpoint, type HostConfigOptions, planEndpoints } from '../registry/endpoints.js';
import { firstServing } from '../registry/pull.js';
import { type SkopeoOptions, skopeoInspectRaw } from '../tools/skopeo.js';
import { containersStorageRef } from '../transports/reference.js';
import { recordNames, repoOf, storeImages, storedName } from '../transports/containers-storage/image-records.js';

/** A config larger than this is not one (containers/image reads configs up to 4 MiB as well). */
export const MAX_CONFIG_SIZE = MAX_MANIFEST_SIZE;

/** Reads one image's manifests and config. */
export interface ImageSource {
  /** The top manifest (by the reference's digest, else its tag, else `latest`) as served. */
  top(): Promise<Uint8Array>;
  /** Manifest `digest` of the same repository (from the endpoint that served the top one). */
  manifest(digest: Digest): Promise<Uint8Array>;
  /** The config blob `desc`, verified against it. */
  config(desc: Descriptor): Promise<Uint8Array>;
}

/** What a registry source needs of the run. */
export interface RemoteContext {
  readonly client: RegistryClient;
  readonly hostConfig: HostConfigOptions & { readonly registries: RegistriesConf };
  readonly signal?: AbortSignal | undefined;
}

/** The manifest reference a lookup asks for: the digest, else the tag, else `latest`. */
function lookupOf(ref: DockerReference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

/** An image in a registry; `tlsVerify` false is osbuild's `tls-verify: false`. */
export function remoteSource(ctx: RemoteContext, ref: DockerReference, tlsVerify: boolean | undefined): ImageSource {
  let endpoint: Endpoint | undefined;
  const withTag = ref.digest === undefined && ref.tag === undefined ? { ...ref, tag: 'latest' } : ref;
  return {
    async top() {
      const plan = await planEndpoints(withTag, {
        ...ctx.hostConfig,
        tlsVerify: tlsVerify === false ? false : undefined,
      });
      const got = await firstServing(plan, ctx.signal, (e) =>
        getManifest(ctx.client, e.location, lookupOf(e.ref), ctx.signal),
      );
      endpoint = got.endpoint;
      return got.value.bytes;
    },
    async manifest(digest) {
      return (await getManifest(ctx.client, endpoint!.location, digest, ctx.signal)).bytes;
    },
    async config(desc) {
      const what = `config ${desc.digest} of ${formatDockerReference({ domain: ref.domain, path: ref.path })}`;
      if (desc.size > MAX_CONFIG_SIZE)
        throw new OcikitError('UNSUPPORTED', `${what}: ${desc.size} bytes is larger than ${MAX_CONFIG_SIZE}`);
      return withTempDir('ocikit-resolve-', async (dir) => {
        const file = path.join(dir, 'config');
        await downloadBlob(ctx.client, endpoint!.location, { digest: desc.digest, size: desc.size }, file, {
          ...(ctx.signal ? { signal: ctx.signal } : {}),
        });
        return readFile(file);
      });
    },
  };
}

/**
 * Whether the store's image records (readable) have no image named `name` (a tag reference), or
 * none with the reference's digest under a name of its repository.
 */
async function missingFromStore(root: string, name: string | undefined, ref: DockerReference): Promise<boolean> {
  const records = await storeImages(root);
  if (records === null) return false;
  const repo = formatDockerReference({ domain: ref.domain, path: ref.path });
  return !records.some((r) => {
    const names = recordNames(r);
    if (name !== undefined) return names.includes(storedName(name));
    const digests = [...(Array.isArray(r.digests) ? r.digests : []), r.digest];
    return digests.includes(ref.digest) && names.some((n) => repoOf(n) === repo);
  });
}

/** Where and how local images are read. */
export interface LocalContext {
  /** The environment of storage.conf lookup. */
  readonly env?: NodeJS.ProcessEnv | undefined;
  /** How to run skopeo. */
  readonly skopeo?: SkopeoOptions | undefined;
}

/**
 * An image in the host's containers-storage (the store storage.conf names: driver, graph root,
 * run root), read with `skopeo inspect --raw [--config] containers-storage:[driver@graphroot+runroot]NAME`.
 */
export function localSource(ctx: LocalContext, ref: DockerReference): ImageSource {
  const name = formatDockerReference({ domain: ref.domain, path: ref.path, ...(ref.tag ? { tag: ref.tag } : {}) });
  let store: { driver: string; graphroot: string; runroot: string; file: string | null } | undefined;
  let image = ref.digest ? `${formatDockerReference({ domain: ref.domain, path: ref.path })}@${ref.digest}` : name;
  const storeRef = async (img: string) => {
    store ??= await readStorageConf({ missingOk: true, env: ctx.env });
    return containersStorageRef({ driver: store.driver, graphroot: store.graphroot, runroot: store.runroot }, img);
  };
  return {
    async top() {
      const at = await storeRef(image);
      try {
        return await skopeoInspectRaw(at, { ...ctx.skopeo });
      } catch (err) {
        // "Not there" is told from the store's own image records, not from skopeo's wording.
        if (store && (await missingFromStore(store.graphroot, ref.digest ? undefined : name, ref)))
          throw new OcikitError(
            'NOT_FOUND',
            `local image ${image} does not exist in local container storage ${store.graphroot}` +
              (store.file ? ` (${store.file})` : ''),
            { cause: err },
          );
        throw err;
      }
    },
    async manifest(digest) {
      image = `${formatDockerReference({ domain: ref.domain, path: ref.path })}@${digest}`;
      return skopeoInspectRaw(await storeRef(image), { ...ctx.skopeo });
    },
    async config(desc) {
      const bytes = await skopeoInspectRaw(await storeRef(image), { ...ctx.skopeo, config: true });
      expectDigest(`config of local image ${image}`, desc.digest, sha256(bytes));
      return bytes;
    },
  };
}
