/**
 * Manifests: media type guessing, skopeo-identical digests, osbuild's list rule, and typed parsing.
 *
 * Follows containers/image (the library under skopeo 1.9.3):
 * - {@link guessMediaType} is c/image `manifest.GuessMIMEType`, with Go `encoding/json` semantics
 *   reproduced by ../gojson/ (case-insensitive keys, repeated keys decoded in order, `int` rejects
 *   `1.0`, any type mismatch means "unknown").
 * - {@link manifestDigest} is `skopeo manifest-digest`: sha256 over the raw bytes, except for signed
 *   Docker schema 1, whose JWS signatures are stripped first (./schema1.ts, libtrust).
 * - {@link isManifestList} is osbuild's `is_manifest_list` on parsed JSON (not c/image's rule).
 * - {@link parseManifest} validates and types a manifest and keeps its raw bytes, which stay the
 *   truth: nothing here re-serialises JSON.
 */
import { type Digest, parseDigest, sha256 } from './digest.js';
import { OcikitError } from '../errors.js';
import { type GoStruct, type GoType, T, decodeGo } from '../gojson/decode.js';
import { type GoNode, GoJSONError, parseGoJSON } from '../gojson/parse.js';
import { prettySignaturePayload } from './schema1.js';
import {
  DOCKER_CONFIG,
  DOCKER_V2S1,
  DOCKER_V2S1_SIGNED,
  DOCKER_V2S2,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_MANIFEST,
  TRUSTED_DECLARED_MEDIA_TYPES,
  isImageManifestMediaType,
  isListMediaType,
} from './media-types.js';
import { DESCRIPTOR_T, type Descriptor, OCI_DESCRIPTOR_T, invalid, parseDescriptor, stringMap } from './descriptor.js';

/**
 * The largest manifest containers/image accepts, in bytes (4 MiB).
 * @category Model
 */
export const MAX_MANIFEST_SIZE = 4 * 1024 * 1024;

/**
 * The one `MANIFEST_TOO_LARGE` error: `subject` (what and where) is `size` bytes (a number, or a
 * bound such as `at least 4194305`), more than `limit`.
 */
export function manifestTooLarge(subject: string, size: number | string, limit = MAX_MANIFEST_SIZE): OcikitError {
  return new OcikitError(
    'MANIFEST_TOO_LARGE',
    `${subject} is ${size} bytes, more than the ${limit}-byte manifest limit`,
  );
}

interface ManifestCommon {
  /** The bytes the manifest was parsed from: the truth for digests and copies. */
  readonly raw: Buffer;
  /** The media type {@link guessMediaType} found. */
  readonly mediaType: string;
  /** {@link manifestDigest} of `raw`. */
  readonly digest: Digest;
}

/**
 * A single-image manifest: Docker schema 2 or OCI.
 * @category Model
 */
export interface ImageManifest extends ManifestCommon {
  /** Tells the {@link ParsedManifest} variants apart: `'image'` for this one. */
  readonly kind: 'image';
  /** Always 2 (both Docker schema 2 and OCI manifests declare it). */
  readonly schemaVersion: 2;
  /** The image configuration blob (its digest is the image ID). */
  readonly config: Descriptor;
  /** The layer blobs, base layer first; empty for an artifact without layers. */
  readonly layers: readonly Descriptor[];
  /** The manifest's top-level annotations (OCI); absent when it has none. */
  readonly annotations?: Readonly<Record<string, string>>;
}

/**
 * A multi-image manifest: Docker manifest list or OCI index.
 * @category Model
 */
export interface ManifestList extends ManifestCommon {
  /** Tells the {@link ParsedManifest} variants apart: `'list'` for this one. */
  readonly kind: 'list';
  /** One descriptor per instance (usually per platform), in file order; may be empty. */
  readonly manifests: readonly Descriptor[];
}

/**
 * A Docker schema 1 manifest (signed or not). `blobSums` are in file order (top layer first).
 * @category Model
 */
export interface Schema1Manifest extends ManifestCommon {
  /** Tells the {@link ParsedManifest} variants apart: `'schema1'` for this one. */
  readonly kind: 'schema1';
  /** The repository name the manifest was pushed under (e.g. `library/busybox`); absent when not a string. */
  readonly name?: string;
  /** The tag the manifest was pushed under; absent when not a string. */
  readonly tag?: string;
  /** The image's architecture (`amd64`, …); absent when not a string. */
  readonly architecture?: string;
  /** The `fsLayers[].blobSum` digests, top layer first (the reverse of schema 2's order); never empty. */
  readonly blobSums: readonly Digest[];
}

/**
 * Any manifest {@link parseManifest} accepts; `kind` tells them apart.
 * @category Model
 */
export type ParsedManifest = ImageManifest | ManifestList | Schema1Manifest;

// ---------------------------------------------------------------------------------------------
// GuessMIMEType

// The three fields GuessMIMEType decodes (docker/distribution `manifest.Versioned` plus signatures).
const META_T = T.struct({ mediaType: T.string, schemaVersion: T.int, signatures: T.any });
const CONFIG_MEDIA_TYPE_T = T.struct({ config: T.struct({ mediaType: T.string }) });
const OCI_INDEX_MANIFESTS_T = T.struct({ manifests: T.slice(OCI_DESCRIPTOR_T) });

function tryDecode(root: GoNode, type: GoType): GoStruct | undefined {
  try {
    return (decodeGo(root, type) as GoStruct | undefined) ?? {};
  } catch (err) {
    if (err instanceof GoJSONError) return undefined;
    throw err;
  }
}

function guessFromRoot(root: GoNode): string {
  const meta = tryDecode(root, META_T);
  if (meta === undefined) return '';
  const mediaType = (meta.mediaType as string | undefined) ?? '';
  if ((TRUSTED_DECLARED_MEDIA_TYPES as readonly string[]).includes(mediaType)) return mediaType;
  const schemaVersion = (meta.schemaVersion as bigint | undefined) ?? 0n;
  if (schemaVersion === 1n) return meta.signatures !== undefined ? DOCKER_V2S1_SIGNED : DOCKER_V2S1;
  if (schemaVersion !== 2n) return '';
  const withConfig = tryDecode(root, CONFIG_MEDIA_TYPE_T);
  if (withConfig === undefined) return '';
  const configMediaType = ((withConfig.config as GoStruct | undefined)?.mediaType as string | undefined) ?? '';
  if (configMediaType === OCI_CONFIG) return OCI_MANIFEST;
  if (configMediaType === DOCKER_CONFIG) return DOCKER_V2S2;
  const index = tryDecode(root, OCI_INDEX_MANIFESTS_T);
  if (index === undefined) return '';
  const manifests = (index.manifests as unknown[] | undefined) ?? [];
  if (manifests.length > 0) {
    // c/image returns the config media type itself here (a known FIXME upstream); so do we.
    return configMediaType === '' ? OCI_INDEX : configMediaType;
  }
  return OCI_MANIFEST; // most likely an OCI artifact with a custom config type
}

/**
 * The media type of a manifest as containers/image's `GuessMIMEType` sees it, or `''` when the
 * bytes are not JSON, not an object, mistyped in a field Go decodes, or of no known kind.
 * Can also return a config media type for a schema 2 document with both `config` and
 * `manifests`, as c/image does.
 * @category Model
 */
export function guessMediaType(bytes: Uint8Array): string {
  let root: GoNode;
  try {
    root = parseGoJSON(bytes);
  } catch (err) {
    if (err instanceof GoJSONError) return '';
    throw err;
  }
  return guessFromRoot(root);
}

// ---------------------------------------------------------------------------------------------
// Digest

function checkSize(bytes: Uint8Array, what: string): void {
  if (bytes.length > MAX_MANIFEST_SIZE) throw manifestTooLarge(what, bytes.length);
}

function digestOf(bytes: Uint8Array, root: GoNode | undefined, mediaType: string): Digest {
  if (mediaType !== DOCKER_V2S1_SIGNED) return sha256(bytes);
  return sha256(prettySignaturePayload(bytes, root));
}

/**
 * The digest of a manifest exactly as `skopeo manifest-digest` prints it: sha256 of the raw bytes,
 * or, for a signed Docker schema 1 manifest, of its payload with the JWS signatures stripped.
 * Empty input is valid (the sha256 of nothing).
 * @throws OcikitError `INVALID_MANIFEST` where skopeo fails (a signed schema 1 manifest whose
 *   signatures libtrust cannot parse); `MANIFEST_TOO_LARGE` over {@link MAX_MANIFEST_SIZE}
 *   (skopeo itself has no limit in `manifest-digest`).
 * @example
 * ```ts
 * import { readFile } from 'node:fs/promises';
 * import { manifestDigest } from 'ocikit';
 *
 * // The same string `skopeo manifest-digest image/manifest.json` prints.
 * const digest = manifestDigest(await readFile('image/manifest.json'));
 * console.log(digest); // sha256:…
 * ```
 * @category Model
 */
export function manifestDigest(bytes: Uint8Array): Digest {
  checkSize(bytes, 'manifest');
  let root: GoNode | undefined;
  try {
    root = parseGoJSON(bytes);
  } catch (err) {
    if (err instanceof GoJSONError) return sha256(bytes); // not JSON: hashed as it is
    throw err;
  }
  return digestOf(bytes, root, guessFromRoot(root));
}

// ---------------------------------------------------------------------------------------------
// osbuild's list rule

/**
 * osbuild's `is_manifest_list` on parsed JSON: true when `mediaType` is the Docker list or OCI
 * index type, or when `mediaType` is absent or `null` and `manifests` is present and not `null`
 * (an empty array counts). Anything that is not a JSON object gives false.
 * @category Model
 */
export function isManifestList(doc: unknown): boolean {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return false;
  const d = doc as Record<string, unknown>;
  const mediaType = Object.hasOwn(d, 'mediaType') ? d.mediaType : undefined;
  if (typeof mediaType === 'string' && isListMediaType(mediaType)) return true;
  const manifests = Object.hasOwn(d, 'manifests') ? d.manifests : undefined;
  return (mediaType === undefined || mediaType === null) && manifests !== undefined && manifests !== null;
}

// ---------------------------------------------------------------------------------------------
// Typed parsing

const ESSENTIAL_FIELDS_T = T.struct({
  config: T.any,
  fsLayers: T.any,
  history: T.any,
  layers: T.any,
  manifests: T.any,
});
const IMAGE_T = T.struct({
  schemaVersion: T.int,
  mediaType: T.string,
  config: T.ptr(DESCRIPTOR_T),
  layers: T.slice(DESCRIPTOR_T),
  annotations: T.map(T.string),
});
const LIST_T = T.struct({ schemaVersion: T.int, mediaType: T.string, manifests: T.slice(DESCRIPTOR_T) });
const SCHEMA1_T = T.struct({
  schemaVersion: T.int,
  name: T.string,
  tag: T.string,
  architecture: T.string,
  fsLayers: T.slice(T.struct({ blobSum: T.string })),
  history: T.slice(T.struct({ v1Compatibility: T.string })),
});

function decodeFor(root: GoNode, type: GoType, what: string, kind: string): GoStruct {
  try {
    return (decodeGo(root, type) as GoStruct | undefined) ?? {};
  } catch (err) {
    if (err instanceof GoJSONError) invalid(what, `malformed ${kind}: ${err.message}`, err);
    throw err;
  }
}

function checkUnambiguous(root: GoNode, what: string, kind: string, allowed: readonly string[]): void {
  const present = decodeFor(root, ESSENTIAL_FIELDS_T, what, kind);
  const unexpected = Object.keys(present).filter((f) => !allowed.includes(f));
  if (unexpected.length > 0) invalid(what, `a ${kind} must not have ${unexpected.map((f) => `"${f}"`).join(', ')}`);
}

/**
 * Parses and validates a manifest, keeping its raw bytes: the media type is guessed as
 * containers/image does, the digest is {@link manifestDigest}, and the fields are decoded with Go's
 * JSON rules (so a key matches its field case-insensitively, as in skopeo).
 * @param what names the manifest in error messages (a path or reference).
 * @throws OcikitError `MANIFEST_TOO_LARGE` over 4 MiB; `INVALID_MANIFEST` for invalid JSON, an
 *   unrecognised type, a missing or mistyped field, or an undigestable schema 1 signature;
 *   `INVALID_DIGEST` for a digest that is not sha256.
 * @category Model
 */
export function parseManifest(bytes: Uint8Array, what: string): ParsedManifest {
  checkSize(bytes, what);
  let root: GoNode;
  try {
    root = parseGoJSON(bytes);
  } catch (err) {
    if (err instanceof GoJSONError) invalid(what, `not valid JSON: ${err.message}`, err);
    throw err;
  }
  if (root.kind !== 'object') invalid(what, `not a JSON object (${root.kind})`);
  const mediaType = guessFromRoot(root);
  if (mediaType === '') {
    invalid(
      what,
      'not a recognised manifest (no known mediaType, schemaVersion or field types as containers/image reads them)',
    );
  }
  const raw = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let digest: Digest;
  try {
    digest = digestOf(bytes, root, mediaType);
  } catch (err) {
    if (err instanceof OcikitError) invalid(what, err.message, err);
    throw err;
  }
  const common = { raw, mediaType, digest };

  if (isImageManifestMediaType(mediaType)) {
    const kind = 'image manifest';
    checkUnambiguous(root, what, kind, ['config', 'layers']);
    const m = decodeFor(root, IMAGE_T, what, kind);
    if (m.schemaVersion !== 2n)
      invalid(what, `${kind} has schemaVersion ${String(m.schemaVersion ?? 'missing')}, not 2`);
    if (m.config === undefined) invalid(what, `${kind} has no config`);
    const config = parseDescriptor(m.config as GoStruct, `${what} config`);
    // c/image accepts a missing (or null) `layers` as no layers (OCI artifacts do this).
    const layers = Object.freeze(
      ((m.layers as GoStruct[] | undefined) ?? []).map((l, i) => parseDescriptor(l, `${what} layer ${i}`)),
    );
    const out: ImageManifest = { kind: 'image', ...common, schemaVersion: 2, config, layers };
    const annotations = stringMap(m.annotations, what, 'annotations');
    return Object.freeze(annotations === undefined ? out : { ...out, annotations });
  }
  if (isListMediaType(mediaType)) {
    const kind = 'manifest list';
    checkUnambiguous(root, what, kind, ['manifests']);
    const m = decodeFor(root, LIST_T, what, kind);
    if (m.schemaVersion !== 2n)
      invalid(what, `${kind} has schemaVersion ${String(m.schemaVersion ?? 'missing')}, not 2`);
    const manifests = Object.freeze(
      ((m.manifests as GoStruct[] | undefined) ?? []).map((d, i) => parseDescriptor(d, `${what} manifests[${i}]`)),
    );
    return Object.freeze({ kind: 'list', ...common, manifests });
  }
  if (mediaType === DOCKER_V2S1 || mediaType === DOCKER_V2S1_SIGNED) {
    const kind = 'schema 1 manifest';
    checkUnambiguous(root, what, kind, ['fsLayers', 'history']);
    const m = decodeFor(root, SCHEMA1_T, what, kind);
    // A `null` element decodes to Go's zero value (undefined here): an empty blobSum.
    const fsLayers = (m.fsLayers as (GoStruct | undefined)[] | undefined) ?? [];
    const history = (m.history as GoStruct[] | undefined) ?? [];
    if (fsLayers.length === 0) invalid(what, `${kind} has no fsLayers`);
    if (fsLayers.length !== history.length) {
      invalid(what, `${kind} has ${fsLayers.length} fsLayers but ${history.length} history entries`);
    }
    const blobSums = Object.freeze(
      fsLayers.map((l, i) => parseDigest(l?.blobSum ?? '', `${what} fsLayers[${i}].blobSum`)),
    );
    const out: { -readonly [K in keyof Schema1Manifest]: Schema1Manifest[K] } = {
      kind: 'schema1',
      ...common,
      blobSums,
    };
    for (const key of ['name', 'tag', 'architecture'] as const) {
      if (typeof m[key] === 'string') out[key] = m[key];
    }
    return Object.freeze(out);
  }
  invalid(what, `unsupported manifest type ${JSON.stringify(mediaType)}`);
}
