/**
 * Resolved images as the osbuild manifest form osbuild/images emits: the `sources`
 * (`pkg/osbuild/source.go` `GenSources` with `skopeo_source.go`, `skopeo_index_source.go`,
 * `containers_storage_source.go`) and the `org.osbuild.skopeo` stage inputs
 * (`GenContainerStorageStages`, `containers_input.go`, `files_input.go` `NewFilesInputForManifestLists`).
 * Keys come out in Go's order: struct fields as declared, map keys sorted, so that
 * `JSON.stringify` of the result is byte for byte what Go's `json.Marshal` writes.
 */
import type { Digest } from '../model/digest.js';
import { CONTAINERS_STORAGE_SOURCE, SKOPEO_INDEX_SOURCE, SKOPEO_SOURCE } from './sources.js';

/**
 * What the manifest form needs of a resolved image.
 * @category osbuild
 */
export interface ManifestFormSpec {
  /** The repository, without tag or digest (`image.name` of the sources). */
  readonly source: string;
  /** The manifest digest of the image (an instance digest for a list). */
  readonly digest: Digest;
  /** The image ID (config digest). */
  readonly imageId: Digest;
  /** The list digest, or null. */
  readonly listDigest: Digest | null;
  /** The name the image is stored as (the inputs' `name`). */
  readonly name: string;
  /** `tls-verify` as given; null leaves it out. */
  readonly tlsVerify: boolean | null;
  /** Whether the image comes from the host's containers-storage. */
  readonly localStorage: boolean;
}

/**
 * The `images` input of an `org.osbuild.skopeo` stage.
 * @category osbuild
 */
export interface ImagesStageInput {
  /** `org.osbuild.containers` (remote images) or `org.osbuild.containers-storage` (local ones). */
  readonly type: 'org.osbuild.containers' | 'org.osbuild.containers-storage';
  /** Always `org.osbuild.source`. */
  readonly origin: 'org.osbuild.source';
  /** Image ID → the name to store the image as. */
  readonly references: Readonly<Record<string, ImageInputReference>>;
}

/**
 * One reference of an {@link ImagesStageInput}.
 * @category osbuild
 */
export interface ImageInputReference {
  /** The name the image is stored as. */
  readonly name: string;
}

/**
 * The `manifest-lists` input of an `org.osbuild.skopeo` stage.
 * @category osbuild
 */
export interface ManifestListsStageInput {
  /** Always `org.osbuild.files`. */
  readonly type: 'org.osbuild.files';
  /** Always `org.osbuild.source`. */
  readonly origin: 'org.osbuild.source';
  /** The list digests, in spec order (a plain array, as osbuild/images writes it). */
  readonly references: readonly Digest[];
}

/**
 * The inputs of one `org.osbuild.skopeo` stage.
 * @category osbuild
 */
export interface SkopeoStageInputs {
  /** The images, by image ID. */
  readonly images: ImagesStageInput;
  /** The list digests of the remote images; absent when none has one (and for local images). */
  readonly 'manifest-lists'?: ManifestListsStageInput;
}

/**
 * osbuild `sources` in the manifest form: source name → its items.
 * @category osbuild
 */
export type ManifestSources = Record<string, SourceItems>;

/**
 * The items of one osbuild source.
 * @category osbuild
 */
export interface SourceItems {
  /** Item key (image ID or list digest) → the item (`{image: {name, digest?, tls-verify?}}` or `{}`). */
  items: Record<string, unknown>;
}

/** Go's order of map keys: sorted by bytes (digests and source names are ASCII). */
function sortedRecord<V>(entries: Iterable<readonly [string, V]>): Record<string, V> {
  const m = new Map(entries);
  const out: Record<string, V> = {};
  for (const k of [...m.keys()].sort()) out[k] = m.get(k)!;
  return out;
}

/** Go orders these by sorting; osbuild/images by manifest digest too (its resolver sorts its results). */
function byDigest(specs: readonly ManifestFormSpec[]): ManifestFormSpec[] {
  return [...specs].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
}

/**
 * The `sources` object: `org.osbuild.skopeo` items for remote images, `org.osbuild.skopeo-index`
 * items for their lists, `org.osbuild.containers-storage` items for local images (whose list
 * digest is dropped, as osbuild/images drops it). Sources without items are left out.
 * @category osbuild
 */
export function manifestSources(specs: readonly ManifestFormSpec[]): ManifestSources {
  const tls = (s: ManifestFormSpec) => (s.tlsVerify === null ? {} : { 'tls-verify': s.tlsVerify });
  const remote = byDigest(specs).filter((s) => !s.localStorage);
  const local = byDigest(specs).filter((s) => s.localStorage);
  const images = remote.map((s) => [s.imageId, { image: { name: s.source, digest: s.digest, ...tls(s) } }] as const);
  const lists = remote
    .filter((s) => s.listDigest !== null)
    .map((s) => [s.listDigest!, { image: { name: s.source, ...tls(s) } }] as const);
  const stored = local.map((s) => [s.imageId, {}] as const);
  const out: [string, SourceItems][] = [];
  if (stored.length > 0) out.push([CONTAINERS_STORAGE_SOURCE, { items: sortedRecord(stored) }]);
  if (images.length > 0) out.push([SKOPEO_SOURCE, { items: sortedRecord(images) }]);
  if (lists.length > 0) out.push([SKOPEO_INDEX_SOURCE, { items: sortedRecord(lists) }]);
  return sortedRecord(out);
}

/**
 * The inputs of the `org.osbuild.skopeo` stages osbuild/images emits: one for the remote images
 * (with `manifest-lists` when one has a list digest), then one for the local images (never with
 * `manifest-lists`); a group without images is left out.
 * @category osbuild
 */
export function manifestInputs(specs: readonly ManifestFormSpec[]): SkopeoStageInputs[] {
  const out: SkopeoStageInputs[] = [];
  const sorted = byDigest(specs);
  for (const local of [false, true]) {
    const group = sorted.filter((s) => s.localStorage === local);
    if (group.length === 0) continue;
    const lists = local ? [] : group.flatMap((s) => (s.listDigest === null ? [] : [s.listDigest]));
    out.push({
      images: {
        type: local ? 'org.osbuild.containers-storage' : 'org.osbuild.containers',
        origin: 'org.osbuild.source',
        references: sortedRecord(group.map((s) => [s.imageId, { name: s.name }] as const)),
      },
      ...(lists.length > 0
        ? { 'manifest-lists': { type: 'org.osbuild.files', origin: 'org.osbuild.source', references: lists } }
        : {}),
    });
  }
  return out;
}
