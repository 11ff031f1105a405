/**
 * Descriptors and platforms inside manifests: their types, the Go declarations the decoder uses
 * for them (image-spec `specs-go/v1/descriptor.go`; containers/image
 * `manifest/docker_schema2_list.go` for Docker's platform `features`), and their validation.
 */
import { OcikitError } from '../errors.js';
import { type GoType, T } from '../gojson/decode.js';
import { isRecord } from '../internal/guards.js';
import { type Digest, parseDigest } from './digest.js';
import type { Platform } from './platform.js';

/**
 * A content descriptor: what a manifest says about a blob or another manifest.
 * @category Model
 */
export interface Descriptor {
  /** Media type of the content it points to (a layer, config or manifest type, see {@link mediaTypes}). */
  readonly mediaType: string;
  /** sha256 digest of the content's bytes. */
  readonly digest: Digest;
  /** Length of the content in bytes. */
  readonly size: number;
  /** Where a foreign (non-distributable) layer can be downloaded from; absent for ordinary blobs. */
  readonly urls?: readonly string[];
  /** The descriptor's annotations (e.g. `org.opencontainers.image.ref.name` in an OCI index); absent when it has none. */
  readonly annotations?: Readonly<Record<string, string>>;
  /** What an entry of a manifest list is for; absent outside lists and for entries without one. */
  readonly platform?: Platform;
}

// image-spec v1 Platform and Descriptor exactly as Go declares them (as vendored by skopeo). The
// descriptors of typed parsing take the platform of Docker's list too (c/image
// `manifest/docker_schema2_list.go` `Schema2PlatformSpec`), which adds `features` (type-checked, not kept).
const OCI_PLATFORM_FIELDS = {
  architecture: T.string,
  os: T.string,
  'os.version': T.string,
  'os.features': T.slice(T.string),
  variant: T.string,
};
const descriptorType = (platform: GoType): GoType =>
  T.struct({
    mediaType: T.string,
    digest: T.string,
    size: T.int,
    urls: T.slice(T.string),
    annotations: T.map(T.string),
    data: T.bytes,
    platform: T.ptr(platform),
    artifactType: T.string,
  });
/** Go's image-spec `v1.Descriptor` (what GuessMIMEType decodes an index's entries as). */
export const OCI_DESCRIPTOR_T = descriptorType(T.struct(OCI_PLATFORM_FIELDS));
/** The descriptor typed parsing decodes: `v1.Descriptor` with Docker's platform `features`. */
export const DESCRIPTOR_T = descriptorType(T.struct({ ...OCI_PLATFORM_FIELDS, features: T.slice(T.string) }));

/** Throws the `INVALID_MANIFEST` error `<what>: <message>`. */
export function invalid(what: string, message: string, cause?: unknown): never {
  throw new OcikitError('INVALID_MANIFEST', `${what}: ${message}`, { cause });
}

// parseDescriptor / parsePlatform take either what the Go decoder produced (ints as bigint, maps as
// Map, null list elements as undefined) or plain JSON.parse output, and validate both alike.

/** A plain object ({@link isRecord}) that is not a decoded Go map: a struct, never a `Map`. */
function isRecordNotMap(v: unknown): v is Record<string, unknown> {
  return isRecord(v) && !(v instanceof Map);
}

/** A string map field (`annotations`, `labels`), from a decoded Go map or a plain object. */
export function stringMap(value: unknown, what: string, field: string): Readonly<Record<string, string>> | undefined {
  if (value === undefined || value === null) return undefined;
  const entries =
    value instanceof Map
      ? [...(value as Map<string, unknown>)]
      : isRecordNotMap(value)
        ? Object.entries(value)
        : undefined;
  if (entries === undefined) invalid(what, `${field} is not an object of strings`);
  for (const [k, v] of entries) {
    if (v !== undefined && typeof v !== 'string') invalid(what, `${field}.${k} is not a string`);
  }
  // Object.fromEntries defines every key as an own property: `__proto__` stays a key.
  return Object.freeze(Object.fromEntries(entries.map(([k, v]) => [k, (v as string | undefined) ?? ''])));
}

function frozenStrings(value: unknown, what: string, field: string): readonly string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) invalid(what, `${field} is not an array of strings`);
  return Object.freeze(
    value.map((s: unknown, i) => {
      if (s !== undefined && s !== null && typeof s !== 'string') invalid(what, `${field}[${i}] is not a string`);
      return (s as string | undefined | null) ?? '';
    }),
  );
}

function optionalString(value: unknown, what: string, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') invalid(what, `${field} is not a string`);
  return value;
}

/**
 * Validates a platform object: `architecture` and `os` must be non-empty strings; `os.version`,
 * `os.features` and `variant` are kept when present.
 * @throws OcikitError `INVALID_MANIFEST` naming `what`.
 * @category Model
 */
export function parsePlatform(p: unknown, what: string): Platform {
  if (!isRecordNotMap(p)) invalid(what, 'platform is not an object');
  const architecture = p.architecture;
  const os = p.os;
  if (typeof architecture !== 'string' || architecture === '') invalid(what, 'platform has no architecture');
  if (typeof os !== 'string' || os === '') invalid(what, 'platform has no os');
  const out: { -readonly [K in keyof Platform]: Platform[K] } = { architecture, os };
  const osVersion = optionalString(p['os.version'], what, 'platform os.version');
  if (osVersion !== undefined) out['os.version'] = osVersion;
  const features = frozenStrings(p['os.features'], what, 'platform os.features');
  if (features !== undefined) out['os.features'] = features;
  const variant = optionalString(p.variant, what, 'platform variant');
  if (variant !== undefined) out.variant = variant;
  return Object.freeze(out);
}

/**
 * Validates a descriptor object: a non-empty `mediaType`, a sha256 `digest`, a `size` that is a
 * non-negative safe integer, string `urls` and `annotations`, and a valid `platform` when present.
 * @throws OcikitError `INVALID_MANIFEST`, or `INVALID_DIGEST` for a digest that is not sha256, naming `what`.
 * @category Model
 */
export function parseDescriptor(d: unknown, what: string): Descriptor {
  if (!isRecordNotMap(d)) invalid(what, 'descriptor is not an object');
  const mediaType = d.mediaType;
  if (typeof mediaType !== 'string' || mediaType === '') invalid(what, 'descriptor has no mediaType');
  const digest = parseDigest(d.digest ?? '', `${what} digest`);
  const size = d.size;
  if (size === undefined || size === null) invalid(what, `descriptor ${digest} has no size`);
  const valid =
    typeof size === 'bigint'
      ? size >= 0n && size <= BigInt(Number.MAX_SAFE_INTEGER)
      : typeof size === 'number' && Number.isSafeInteger(size) && size >= 0;
  if (!valid) invalid(what, `descriptor ${digest} has invalid size ${String(size)}`);
  const out: { -readonly [K in keyof Descriptor]: Descriptor[K] } = { mediaType, digest, size: Number(size) };
  const urls = frozenStrings(d.urls, what, 'urls');
  if (urls !== undefined) out.urls = urls;
  const annotations = stringMap(d.annotations, what, 'annotations');
  if (annotations !== undefined) out.annotations = annotations;
  if (d.platform !== undefined && d.platform !== null) out.platform = parsePlatform(d.platform, `${what} (${digest})`);
  return Object.freeze(out);
}
