/**
 * Docker schema 2 → OCI image conversion, byte-for-byte as skopeo 1.9.3 (containers/image v5.23,
 * image-spec v1.1.0-rc2, Go 1.19) performs it when copying to `oci:` / `oci-archive:`.
 *
 * What c/image does (`internal/image/docker_schema2.go` `convertToManifestOCI1`):
 * - the config is decoded into image-spec's `v1.Image` struct and encoded again with
 *   `json.Marshal`, which drops every Docker-only field (`container_config`, `docker_version`,
 *   `config.Hostname`, …), reorders the rest into struct order, and re-formats timestamps;
 * - the manifest becomes a `v1.Manifest` with `schemaVersion` 2, the OCI manifest media type,
 *   an OCI config descriptor for the new config bytes, and one layer descriptor per Docker layer
 *   (`mediaType`, `digest`, `size`, `urls`), the layer types mapped tar → `tar`, tar.gzip →
 *   `tar+gzip`, foreign → `nondistributable` (anything else fails the conversion).
 *
 * Reproducing Go's `encoding/json` here means (all covered by tests):
 * - decoding: object keys match struct fields case-insensitively (Go's folding, including
 *   U+212A KELVIN SIGN ~ k and U+017F LONG S ~ s); unknown keys are ignored; `null` leaves a field
 *   unset (or sets a slice/map/pointer to nil); a value of the wrong JSON type is an error (skopeo
 *   fails); a map merges into an existing one when a key repeats;
 * - encoding: struct field order; `omitempty` drops "", false, empty slices/maps and nil pointers,
 *   but never a struct (`"config":{}` is always present) and never a non-omitempty nil slice
 *   (`"diff_ids":null`); map keys sorted by UTF-8 bytes; strings escaped as Go does (`<`, `>`, `&`
 *   → `\u003c` `\u003e` `\u0026`, U+2028/9 → `\u2028`/`\u2029`, control characters other than
 *   `\n` `\r` `\t` → `\u00XX`, lone surrogates → U+FFFD);
 * - timestamps (`*time.Time`): parsed as Go 1.19's RFC 3339 parser accepts them and written in
 *   RFC 3339 with nanoseconds and trailing zeros trimmed, a zero offset as `Z`.
 * Uncompressed Docker layers are kept uncompressed (`…layer.v1.tar`); skopeo would gzip them, and
 * Go's gzip output cannot be reproduced, so only that case differs from skopeo (docs/transports.md).
 */
import { OcikitError } from '../errors.js';
import { sha256, type Digest } from './digest.js';
import {
  DOCKER_FOREIGN_LAYER,
  DOCKER_FOREIGN_LAYER_GZIP,
  DOCKER_LAYER,
  DOCKER_LAYER_GZIP,
  OCI_CONFIG,
  OCI_LAYER,
  OCI_LAYER_GZIP,
  OCI_LAYER_NONDIST,
  OCI_LAYER_NONDIST_GZIP,
  OCI_MANIFEST,
} from './media-types.js';
import type { Descriptor, ImageManifest } from './manifest.js';

// ---------------------------------------------------------------------------------------------
// Go encoding/json string encoding

const HEX = '0123456789abcdef';

/** Encodes `s` as a JSON string exactly as Go 1.19's `json.Marshal` does (HTML-safe escaping). */
export function goJsonString(s: string): string {
  let out = '"';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let rep: string | undefined;
    if (c < 0x20 || c === 0x22 || c === 0x5c || c === 0x3c || c === 0x3e || c === 0x26) {
      if (c === 0x22) rep = '\\"';
      else if (c === 0x5c) rep = '\\\\';
      else if (c === 0x0a) rep = '\\n';
      else if (c === 0x0d) rep = '\\r';
      else if (c === 0x09) rep = '\\t';
      else rep = `\\u00${HEX[c >> 4]}${HEX[c & 15]}`;
    } else if (c === 0x2028 || c === 0x2029) {
      rep = c === 0x2028 ? '\\u2028' : '\\u2029';
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const next = s.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++; // a valid pair: kept as is
        continue;
      }
      rep = '\ufffd';
    }
    if (rep !== undefined) {
      out += s.slice(start, i) + rep;
      start = i + 1;
    }
  }
  return `${out}${s.slice(start)}"`;
}

/** Replaces lone UTF-16 surrogates with U+FFFD (Go decodes an unpaired `\\uD800` escape to U+FFFD). */
function wellFormed(s: string): string {
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

// ---------------------------------------------------------------------------------------------
// A tiny model of the Go struct types involved: field name, JSON kind, omitempty.

type Kind =
  | { readonly t: 'string' }
  | { readonly t: 'bool' }
  | { readonly t: 'int' }
  | { readonly t: 'time' }
  | { readonly t: 'slice'; readonly of: Kind }
  | { readonly t: 'map'; readonly of: Kind }
  | { readonly t: 'emptyStruct' }
  | { readonly t: 'struct'; readonly fields: readonly Field[] }
  | { readonly t: 'ptr'; readonly to: Kind };

interface Field {
  readonly json: string;
  readonly kind: Kind;
  readonly omitempty: boolean;
}

const str: Kind = { t: 'string' };
const strSlice: Kind = { t: 'slice', of: str };
const f = (json: string, kind: Kind, omitempty = true): Field => ({ json, kind, omitempty });

/** image-spec v1.1.0-rc2 `v1.ImageConfig`. */
const IMAGE_CONFIG: Kind = {
  t: 'struct',
  fields: [
    f('User', str),
    f('ExposedPorts', { t: 'map', of: { t: 'emptyStruct' } }),
    f('Env', strSlice),
    f('Entrypoint', strSlice),
    f('Cmd', strSlice),
    f('Volumes', { t: 'map', of: { t: 'emptyStruct' } }),
    f('WorkingDir', str),
    f('Labels', { t: 'map', of: str }),
    f('StopSignal', str),
  ],
};

const HISTORY: Kind = {
  t: 'struct',
  fields: [
    f('created', { t: 'ptr', to: { t: 'time' } }),
    f('created_by', str),
    f('author', str),
    f('comment', str),
    f('empty_layer', { t: 'bool' }),
  ],
};

/** image-spec v1.1.0-rc2 `v1.Image`. */
const IMAGE: Kind = {
  t: 'struct',
  fields: [
    f('created', { t: 'ptr', to: { t: 'time' } }),
    f('author', str),
    f('architecture', str, false),
    f('variant', str),
    f('os', str, false),
    f('os.version', str),
    f('os.features', strSlice),
    f('config', IMAGE_CONFIG), // omitempty has no effect on a struct in Go
    f('rootfs', { t: 'struct', fields: [f('type', str, false), f('diff_ids', strSlice, false)] }, false),
    f('history', { t: 'slice', of: HISTORY }),
  ],
};

// ---------------------------------------------------------------------------------------------
// Decoding (json.Unmarshal into the model). Values: string | boolean | number | GoTime | null
// (nil) | array | Map | struct object (Record).

/** A decoded Go `time.Time`. */
interface GoTime {
  readonly goTime: true;
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  /** Nanoseconds, 0..999999999. */
  readonly nanos: number;
  /** Offset east of UTC in minutes. */
  readonly offset: number;
}

type GoValue = string | boolean | number | GoTime | null | GoValue[] | Map<string, GoValue> | { [k: string]: GoValue };

/** Go's case folding for matching a JSON key to a field name (ASCII + the two special folds). */
function foldKey(s: string): string {
  return s
    .replace(/\u212a/g, 'k')
    .replace(/\u017f/g, 's')
    .replace(/[A-Z]/g, (c) => c.toLowerCase());
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v === 'number' ? 'number' : typeof v;
}

function mismatch(where: string, v: unknown, want: string): OcikitError {
  return new OcikitError(
    'INVALID_INPUT',
    `config: ${where}: cannot decode a JSON ${typeName(v)} into a Go ${want} (skopeo fails too)`,
  );
}

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const TIME_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|([+-])(\d{2}):(\d{2}))$/;

/**
 * Parses a timestamp as Go 1.19 `time.Time.UnmarshalJSON` does (layout RFC 3339, lax about a
 * one-digit hour and any number of fraction digits, fractions beyond nanoseconds truncated).
 * @throws OcikitError `INVALID_INPUT` when Go would fail.
 */
export function parseGoTime(s: string, where: string): GoTime {
  const m = TIME_RE.exec(s);
  if (!m)
    throw new OcikitError(
      'INVALID_INPUT',
      `config: ${where}: ${JSON.stringify(s)} is not an RFC 3339 time (skopeo fails too)`,
    );
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const dim = month === 2 && leap ? 29 : DAYS[month - 1];
  const tzh = m[10] === undefined ? 0 : Number(m[10]);
  const tzm = m[11] === undefined ? 0 : Number(m[11]);
  if (
    month < 1 ||
    month > 12 ||
    dim === undefined ||
    day < 1 ||
    day > dim ||
    hour > 23 ||
    minute > 59 ||
    second > 59 ||
    tzh > 23 ||
    tzm > 59
  ) {
    throw new OcikitError('INVALID_INPUT', `config: ${where}: ${JSON.stringify(s)} is out of range (skopeo fails too)`);
  }
  const frac = (m[7] ?? '').slice(0, 9).padEnd(9, '0');
  const offset = m[8] === 'Z' ? 0 : (m[9] === '-' ? -1 : 1) * (tzh * 60 + tzm);
  return { goTime: true, year, month, day, hour, minute, second, nanos: Number(frac), offset };
}

/** Formats a time as Go's `time.RFC3339Nano` (what `MarshalJSON` writes). */
export function formatGoTime(t: GoTime): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  let s = `${p(t.year, 4)}-${p(t.month)}-${p(t.day)}T${p(t.hour)}:${p(t.minute)}:${p(t.second)}`;
  if (t.nanos !== 0) s += `.${p(t.nanos, 9).replace(/0+$/, '')}`;
  if (t.offset === 0) return `${s}Z`;
  const a = Math.abs(t.offset);
  return `${s}${t.offset < 0 ? '-' : '+'}${p(Math.floor(a / 60))}:${p(a % 60)}`;
}

function decode(kind: Kind, v: unknown, into: GoValue | undefined, where: string): GoValue | undefined {
  // `undefined` return = leave the field as it was (Go's no-op on null for value kinds).
  switch (kind.t) {
    case 'string':
      if (v === null) return undefined;
      if (typeof v !== 'string') throw mismatch(where, v, 'string');
      return wellFormed(v);
    case 'bool':
      if (v === null) return undefined;
      if (typeof v !== 'boolean') throw mismatch(where, v, 'bool');
      return v;
    case 'int':
      if (v === null) return undefined;
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw mismatch(where, v, 'int64');
      return v;
    case 'time':
      if (v === null) return undefined;
      if (typeof v !== 'string') throw mismatch(where, v, 'time.Time');
      return parseGoTime(v, where);
    case 'ptr': {
      if (v === null) return null;
      return decode(kind.to, v, undefined, where) ?? null;
    }
    case 'slice': {
      if (v === null) return null;
      if (!Array.isArray(v)) throw mismatch(where, v, 'slice');
      return v.map((e, i) => decode(kind.of, e, undefined, `${where}[${i}]`) ?? zero(kind.of));
    }
    case 'emptyStruct':
      if (v === null) return undefined;
      if (typeof v !== 'object' || Array.isArray(v)) throw mismatch(where, v, 'struct');
      return {};
    case 'map': {
      if (v === null) return null;
      if (typeof v !== 'object' || Array.isArray(v)) throw mismatch(where, v, 'map');
      const map = into instanceof Map ? into : new Map<string, GoValue>();
      for (const [k, e] of Object.entries(v as object)) {
        map.set(wellFormed(k), decode(kind.of, e, undefined, `${where}.${k}`) ?? zero(kind.of));
      }
      return map;
    }
    case 'struct': {
      if (v === null) return undefined;
      if (typeof v !== 'object' || Array.isArray(v)) throw mismatch(where, v, 'struct');
      const obj = (
        into && typeof into === 'object' && !Array.isArray(into) && !(into instanceof Map) && !('goTime' in into)
          ? into
          : {}
      ) as {
        [k: string]: GoValue;
      };
      for (const [k, e] of Object.entries(v as object)) {
        const field = kind.fields.find((x) => x.json === k) ?? kind.fields.find((x) => foldKey(x.json) === foldKey(k));
        if (!field) continue;
        const got = decode(field.kind, e, obj[field.json], `${where}.${field.json}`);
        if (got !== undefined) obj[field.json] = got;
      }
      return obj;
    }
  }
}

function zero(kind: Kind): GoValue {
  switch (kind.t) {
    case 'string':
      return '';
    case 'bool':
      return false;
    case 'int':
      return 0;
    case 'emptyStruct':
    case 'struct':
      return {};
    default:
      return null;
  }
}

function encode(kind: Kind, v: GoValue | undefined): string {
  switch (kind.t) {
    case 'string':
      return goJsonString(typeof v === 'string' ? v : '');
    case 'bool':
      return v === true ? 'true' : 'false';
    case 'int':
      return String(typeof v === 'number' ? v : 0);
    case 'time': {
      const t = v as GoTime;
      if (t.year < 0 || t.year > 9999)
        throw new OcikitError('INVALID_INPUT', `config: year ${t.year} cannot be encoded (skopeo fails too)`);
      return `"${formatGoTime(t)}"`;
    }
    case 'ptr':
      return v === null || v === undefined ? 'null' : encode(kind.to, v);
    case 'slice':
      if (!Array.isArray(v)) return 'null';
      return `[${v.map((e) => encode(kind.of, e)).join(',')}]`;
    case 'emptyStruct':
      return '{}';
    case 'map': {
      if (!(v instanceof Map)) return 'null';
      const keys = [...v.keys()].sort(compareUtf8);
      return `{${keys.map((k) => `${goJsonString(k)}:${encode(kind.of, v.get(k))}`).join(',')}}`;
    }
    case 'struct': {
      const obj = (v ?? {}) as { [k: string]: GoValue };
      const parts: string[] = [];
      for (const field of kind.fields) {
        const fv = obj[field.json];
        if (field.omitempty && isEmpty(field.kind, fv)) continue;
        parts.push(`${goJsonString(field.json)}:${encode(field.kind, fv)}`);
      }
      return `{${parts.join(',')}}`;
    }
  }
}

function isEmpty(kind: Kind, v: GoValue | undefined): boolean {
  switch (kind.t) {
    case 'string':
      return v === undefined || v === '';
    case 'bool':
      return v !== true;
    case 'int':
      return v === undefined || v === 0;
    case 'ptr':
      return v === undefined || v === null;
    case 'slice':
      return !Array.isArray(v) || v.length === 0;
    case 'map':
      return !(v instanceof Map) || v.size === 0;
    default:
      return false; // structs are never empty for omitempty
  }
}

/**
 * Converts a Docker image config to the OCI config skopeo writes: decoded into image-spec's
 * `v1.Image` and re-encoded as Go's `json.Marshal` does (rules in the module header).
 * @throws OcikitError `INVALID_INPUT` when the config is not JSON or Go would fail to decode it.
 */
export function convertConfigToOci(dockerConfig: Uint8Array): Buffer {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { ignoreBOM: true }).decode(dockerConfig));
  } catch (err) {
    throw new OcikitError('INVALID_INPUT', `config is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const value = decode(IMAGE, doc, undefined, 'config') ?? {};
  return Buffer.from(encode(IMAGE, value), 'utf8');
}

const LAYER_TYPES: Readonly<Record<string, string>> = {
  [DOCKER_LAYER_GZIP]: OCI_LAYER_GZIP,
  [DOCKER_LAYER]: OCI_LAYER,
  [DOCKER_FOREIGN_LAYER]: OCI_LAYER_NONDIST,
  [DOCKER_FOREIGN_LAYER_GZIP]: OCI_LAYER_NONDIST_GZIP,
};

/** The OCI layer media type skopeo gives a Docker layer type, or undefined when it cannot convert. */
export function ociLayerMediaType(dockerType: string): string | undefined {
  return LAYER_TYPES[dockerType];
}

function encodeDescriptor(d: {
  mediaType: string;
  digest: string;
  size: number;
  urls?: readonly string[] | undefined;
}): string {
  let s = `{"mediaType":${goJsonString(d.mediaType)},"digest":${goJsonString(d.digest)},"size":${d.size}`;
  if (d.urls && d.urls.length > 0) s += `,"urls":[${d.urls.map(goJsonString).join(',')}]`;
  return `${s}}`;
}

/** The result of {@link convertDockerToOci}. */
export interface ConvertedImage {
  /** The OCI manifest bytes. */
  readonly manifest: Buffer;
  readonly manifestDigest: Digest;
  /** The OCI config bytes. */
  readonly config: Buffer;
  readonly configDigest: Digest;
  /** The layer descriptors as written (same blobs as the source, OCI media types). */
  readonly layers: readonly Descriptor[];
}

/**
 * Converts a Docker v2s2 image (manifest + config bytes) to the OCI image skopeo writes to `oci:`.
 * @throws OcikitError `UNSUPPORTED` for a layer media type c/image cannot convert, `INVALID_INPUT`
 *   when the config cannot be decoded.
 */
export function convertDockerToOci(manifest: ImageManifest, dockerConfig: Uint8Array): ConvertedImage {
  const config = convertConfigToOci(dockerConfig);
  const configDigest = sha256(config);
  const layers = manifest.layers.map((l): Descriptor => {
    const mediaType = ociLayerMediaType(l.mediaType);
    if (mediaType === undefined) {
      throw new OcikitError(
        'UNSUPPORTED',
        `layer ${l.digest} has media type ${JSON.stringify(l.mediaType)}, which cannot be converted to OCI`,
      );
    }
    return { mediaType, digest: l.digest, size: l.size, ...(l.urls && l.urls.length > 0 ? { urls: l.urls } : {}) };
  });
  const text =
    `{"schemaVersion":2,"mediaType":${goJsonString(OCI_MANIFEST)},` +
    `"config":${encodeDescriptor({ mediaType: OCI_CONFIG, digest: configDigest, size: config.length })},` +
    `"layers":[${layers.map(encodeDescriptor).join(',')}]}`;
  const bytes = Buffer.from(text, 'utf8');
  return { manifest: bytes, manifestDigest: sha256(bytes), config, configDigest, layers };
}
