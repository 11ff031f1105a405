/**
 * The osbuild container *sources* contract: the shapes of `org.osbuild.skopeo` (images by manifest
 * digest, keyed by image ID), `org.osbuild.skopeo-index` (manifest lists, keyed by list digest) and
 * `org.osbuild.containers-storage` (images in the host store, keyed by image ID), as osbuild's
 * `sources/org.osbuild.skopeo`, `org.osbuild.skopeo-index` and `org.osbuild.containers-storage`
 * read them. {@link parseFetchSources} validates a SOURCES document into {@link FetchItem}s.
 *
 * Stricter than osbuild: keys are anchored digests, names must parse as docker references, a name's
 * own `@digest` must agree with the item, unknown keys are refused, and `storage-location` is only
 * accepted where it means something.
 */
import * as path from 'node:path';
import { OcikitError } from '../errors.js';
import { isRecord, jsonText } from '../internal/guards.js';
import { type Digest, parseDigest } from '../model/digest.js';
import { type DockerReference, parseDockerReference } from '../model/docker-reference.js';

/** The osbuild source of registry images (and local ones with `containers-transport`). */
export const SKOPEO_SOURCE = 'org.osbuild.skopeo';
/** The osbuild source of manifest lists. */
export const SKOPEO_INDEX_SOURCE = 'org.osbuild.skopeo-index';
/** The osbuild source of images already in the host's containers-storage. */
export const CONTAINERS_STORAGE_SOURCE = 'org.osbuild.containers-storage';

/**
 * A registry image to fetch (an `org.osbuild.skopeo` item).
 * @category osbuild
 */
export interface ImageItem {
  /** Tells the {@link FetchItem} variants apart: `'image'` for this one. */
  readonly kind: 'image';
  /** The image ID: digest of the config. */
  readonly id: Digest;
  /** The name as given. */
  readonly name: string;
  /** `name` parsed and normalised (registry, repository, tag); where the image is fetched from. */
  readonly ref: DockerReference;
  /** The manifest digest to fetch. */
  readonly digest: Digest;
  /** `image.tls-verify`: false allows plain HTTP and unverified TLS for this registry; default true. */
  readonly tlsVerify: boolean;
}

/**
 * A manifest list to fetch (an `org.osbuild.skopeo-index` item).
 * @category osbuild
 */
export interface ListItem {
  /** Tells the {@link FetchItem} variants apart: `'list'` for this one. */
  readonly kind: 'list';
  /** The list digest. */
  readonly id: Digest;
  /** The name as given (`image.name`). */
  readonly name: string;
  /** `name` parsed and normalised; the list is fetched from this repository by `id`. */
  readonly ref: DockerReference;
  /** `image.tls-verify`: false allows plain HTTP and unverified TLS for this registry; default true. */
  readonly tlsVerify: boolean;
}

/**
 * An image to check in the host's containers-storage.
 * @category osbuild
 */
export interface LocalItem {
  /** Tells the {@link FetchItem} variants apart: `'local'` for this one. */
  readonly kind: 'local';
  /** The image ID (the item key): the store must hold an image with this ID. */
  readonly id: Digest;
  /** The name as given (empty for `org.osbuild.containers-storage` items). */
  readonly name: string;
  /** The manifest digest, when the item names one (looked up as `name@digest`). */
  readonly digest: Digest | null;
  /** `storage-location`: a graph root replacing the host's. */
  readonly storageLocation: string | null;
}

/**
 * One validated item; `kind` tells them apart.
 * @category osbuild
 */
export type FetchItem = ImageItem | ListItem | LocalItem;

function invalid(message: string): OcikitError {
  return new OcikitError('INVALID_INPUT', message);
}

function checkKeys(obj: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k))
      throw invalid(`${where}: unknown key ${JSON.stringify(k)} (allowed: ${allowed.join(', ')})`);
  }
}

/** The item map of one source (`items`, or its alias `digests`). */
function sourceItems(src: unknown, name: string): Record<string, unknown> {
  if (!isRecord(src)) throw invalid(`${name} is not an object`);
  checkKeys(src, ['items', 'digests'], name);
  if ('items' in src && 'digests' in src) throw invalid(`${name} has both "items" and "digests"`);
  const items = src.items ?? src.digests;
  if (items === undefined) throw invalid(`${name} has neither "items" nor "digests"`);
  if (!isRecord(items)) throw invalid(`${name}.${'items' in src ? 'items' : 'digests'} is not an object`);
  return items;
}

/** The `image` object of a skopeo or skopeo-index item, with the fields both read. */
interface ImageFields {
  readonly name: string;
  readonly ref: DockerReference;
  /** The manifest digest: `image.digest` where the source has one, else the item key. */
  readonly digest: Digest;
  readonly tlsVerify: boolean;
  /** `containers-transport` as given, `docker` when absent (checked by the caller). */
  readonly transport: unknown;
  /** `storage-location` as given (checked by the caller). */
  readonly storageLocation: unknown;
}

/** The keys of `image` in skopeo-index items; skopeo items have `digest` too. */
const INDEX_IMAGE_KEYS = ['name', 'tls-verify', 'containers-transport', 'storage-location'];
const SKOPEO_IMAGE_KEYS = ['name', 'digest', 'tls-verify', 'containers-transport', 'storage-location'];

/**
 * Reads `{"image": {...}}` of a skopeo (`withDigest`: `image.digest` is required) or skopeo-index
 * item (the key is the digest).
 */
function imageFields(id: Digest, item: unknown, where: string, withDigest: boolean): ImageFields {
  if (!isRecord(item)) throw invalid(`${where} is not an object`);
  checkKeys(item, ['image'], where);
  const image = item.image;
  if (!isRecord(image)) throw invalid(`${where}.image is missing or not an object`);
  checkKeys(image, withDigest ? SKOPEO_IMAGE_KEYS : INDEX_IMAGE_KEYS, `${where}.image`);
  const name = image.name;
  if (typeof name !== 'string') throw invalid(`${where}.image.name is missing or not a string`);
  const ref = parseDockerReference(name, `${where}: image.name`);
  const digest = withDigest ? parseDigest(image.digest, `${where}: image.digest`) : id;
  if (ref.digest !== undefined && ref.digest !== digest) {
    const other = withDigest ? `but image.digest is ${digest}` : 'not the key';
    throw invalid(`${where}: image.name ${JSON.stringify(name)} names digest ${ref.digest}, ${other}`);
  }
  const tls = image['tls-verify'];
  if (tls !== undefined && typeof tls !== 'boolean')
    throw invalid(`${where}: image.tls-verify ${jsonText(tls)} is not a boolean`);
  return {
    name,
    ref,
    digest,
    tlsVerify: tls ?? true,
    transport: image['containers-transport'] ?? 'docker',
    storageLocation: image['storage-location'],
  };
}

/** An `org.osbuild.skopeo` item: a registry image, or a local one with `containers-storage`. */
function skopeoItem(id: Digest, item: unknown, where: string): FetchItem {
  const { name, ref, digest, tlsVerify, transport, storageLocation: loc } = imageFields(id, item, where, true);
  if (transport !== 'docker' && transport !== 'containers-storage') {
    throw invalid(
      `${where}: image.containers-transport ${jsonText(transport)} is not "docker" or "containers-storage"`,
    );
  }
  if (loc !== undefined && (typeof loc !== 'string' || !path.isAbsolute(loc))) {
    throw invalid(`${where}: image.storage-location ${jsonText(loc)} is not an absolute path`);
  }
  if (transport === 'containers-storage') return { kind: 'local', id, name, digest, storageLocation: loc ?? null };
  if (loc !== undefined)
    throw invalid(`${where}: image.storage-location applies only to containers-transport "containers-storage"`);
  return { kind: 'image', id, name, ref, digest, tlsVerify };
}

/** An `org.osbuild.skopeo-index` item: a manifest list, from a registry only. */
function indexItem(id: Digest, item: unknown, where: string): FetchItem {
  const { name, ref, tlsVerify, transport, storageLocation } = imageFields(id, item, where, false);
  if (transport === 'containers-storage' || storageLocation !== undefined) {
    throw new OcikitError(
      'UNSUPPORTED',
      `${where}: manifest lists are fetched from registries only, not from containers-storage`,
    );
  }
  if (transport !== 'docker')
    throw invalid(`${where}: image.containers-transport ${jsonText(transport)} is not "docker"`);
  return { kind: 'list', id, name, ref, tlsVerify };
}

/** An `org.osbuild.containers-storage` item: `{}`, the key is the image ID. */
function storageItem(id: Digest, item: unknown, where: string): FetchItem {
  if (!isRecord(item)) throw invalid(`${where} is not an object`);
  checkKeys(item, [], where);
  return { kind: 'local', id, name: '', digest: null, storageLocation: null };
}

/** Each source with its item reader, in the order items are returned. */
const SOURCES: readonly (readonly [string, (id: Digest, item: unknown, where: string) => FetchItem])[] = [
  [SKOPEO_SOURCE, skopeoItem],
  [SKOPEO_INDEX_SOURCE, indexItem],
  [CONTAINERS_STORAGE_SOURCE, storageItem],
];

/**
 * Validates a SOURCES document and returns its items: skopeo items (registry or local), then
 * index items, then containers-storage items.
 * @throws OcikitError `INVALID_INPUT` (wrong shape, unknown key, bad name, conflicting fields,
 *   naming the key), `INVALID_DIGEST` (a key or digest that is not `sha256:<64 hex>`),
 *   `UNSUPPORTED` (a manifest list from containers-storage).
 * @category osbuild
 */
export function parseFetchSources(doc: unknown): FetchItem[] {
  if (!isRecord(doc)) throw invalid('sources: not a JSON object');
  checkKeys(
    doc,
    SOURCES.map(([source]) => source),
    'sources',
  );
  const out: FetchItem[] = [];
  for (const [source, readItem] of SOURCES) {
    if (doc[source] === undefined) continue;
    for (const [key, item] of Object.entries(sourceItems(doc[source], source))) {
      const id = parseDigest(key, `${source} item key`);
      out.push(readItem(id, item, `${source} item ${JSON.stringify(key)}`));
    }
  }
  return out;
}
