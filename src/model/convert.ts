/**
 * Docker schema 2 → OCI image conversion, byte-for-byte as skopeo 1.9.3 (containers/image v5.23,
 * image-spec v1.1.0-rc2, Go 1.19) performs it when copying to `oci:` / `oci-archive:`, following
 * c/image `internal/image/docker_schema2.go` `convertToManifestOCI1` (the steps are in the TSDoc
 * of {@link convertDockerToOci}). The config goes through Go's `encoding/json` as reproduced by
 * ../gojson/, whose rules are written there. Uncompressed Docker layers are kept uncompressed
 * (`…layer.v1.tar`); skopeo would gzip them, and Go's gzip output cannot be reproduced, so only
 * that case differs from skopeo (docs/transports.md).
 */
import { OcikitError } from '../errors.js';
import { decodeGo, T } from '../gojson/decode.js';
import { encodeGo, goJsonString } from '../gojson/encode.js';
import { GoJSONError, parseGoJSON } from '../gojson/parse.js';
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
import type { ImageManifest } from './manifest.js';
import type { Descriptor } from './descriptor.js';

/** image-spec v1.1.0-rc2 `v1.ImageConfig`. */
const IMAGE_CONFIG = T.struct({
  'User,omitempty': T.string,
  'ExposedPorts,omitempty': T.map(T.struct({})),
  'Env,omitempty': T.slice(T.string),
  'Entrypoint,omitempty': T.slice(T.string),
  'Cmd,omitempty': T.slice(T.string),
  'Volumes,omitempty': T.map(T.struct({})),
  'WorkingDir,omitempty': T.string,
  'Labels,omitempty': T.map(T.string),
  'StopSignal,omitempty': T.string,
});

/** image-spec v1.1.0-rc2 `v1.History`. */
const HISTORY = T.struct({
  'created,omitempty': T.ptr(T.time),
  'created_by,omitempty': T.string,
  'author,omitempty': T.string,
  'comment,omitempty': T.string,
  'empty_layer,omitempty': T.bool,
});

/** image-spec v1.1.0-rc2 `v1.Image`. */
const IMAGE = T.struct({
  'created,omitempty': T.ptr(T.time),
  'author,omitempty': T.string,
  architecture: T.string,
  'variant,omitempty': T.string,
  os: T.string,
  'os.version,omitempty': T.string,
  'os.features,omitempty': T.slice(T.string),
  'config,omitempty': IMAGE_CONFIG, // omitempty has no effect on a struct in Go
  rootfs: T.struct({ type: T.string, diff_ids: T.slice(T.string) }),
  'history,omitempty': T.slice(HISTORY),
});

/**
 * Converts a Docker image config to the OCI config skopeo writes: decoded into image-spec's
 * `v1.Image` and re-encoded as Go's `json.Marshal` does (rules at {@link convertDockerToOci}).
 * @throws OcikitError `INVALID_INPUT` when the config is not JSON or Go would fail to decode it.
 */
export function convertConfigToOci(dockerConfig: Uint8Array): Buffer {
  try {
    return Buffer.from(encodeGo(decodeGo(parseGoJSON(dockerConfig), IMAGE), IMAGE), 'utf8');
  } catch (err) {
    if (!(err instanceof GoJSONError)) throw err;
    const what = err.kind === 'syntax' ? 'config is not valid JSON' : 'config';
    throw new OcikitError('INVALID_INPUT', `${what}: ${err.message} (skopeo fails too)`, { cause: err });
  }
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
 * Converts a Docker v2s2 image (manifest + config bytes) to the OCI image skopeo writes to `oci:`,
 * as c/image's `convertToManifestOCI1` does:
 * - the config is decoded into image-spec's `v1.Image` struct and encoded again with
 *   `json.Marshal`, which drops every Docker-only field (`container_config`, `docker_version`,
 *   `config.Hostname`, …), reorders the rest into struct order, and re-formats timestamps; keys
 *   match fields case-insensitively, repeated keys merge, `null` and type mismatches behave as in
 *   Go, and `omitempty`, map key order, string escaping and `*time.Time` are written as Go 1.19
 *   writes them;
 * - the manifest becomes a `v1.Manifest` with `schemaVersion` 2, the OCI manifest media type,
 *   an OCI config descriptor for the new config bytes, and one layer descriptor per Docker layer
 *   (`mediaType`, `digest`, `size`, `urls`), the layer types mapped tar → `tar`, tar.gzip →
 *   `tar+gzip`, foreign → `nondistributable` (anything else fails the conversion).
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
