/**
 * Every media type ocikit knows, and what kind of object each one names.
 *
 * The strings are the exact values of the Docker distribution and OCI image specs (docker/distribution
 * `manifest/schema1`, `schema2` and `manifestlist`; image-spec `specs-go/v1/mediatype.go`).
 */

/** Docker schema 1, unsigned. */
export const DOCKER_V2S1 = 'application/vnd.docker.distribution.manifest.v1+json';
/** Docker schema 1, signed (JWS); its digest strips the signatures. */
export const DOCKER_V2S1_SIGNED = 'application/vnd.docker.distribution.manifest.v1+prettyjws';
/** Docker schema 2 image manifest. */
export const DOCKER_V2S2 = 'application/vnd.docker.distribution.manifest.v2+json';
/** Docker manifest list. */
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
/** OCI image manifest. */
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/** OCI image index. */
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
/** Docker image config. */
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
/** OCI image config. */
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
/** OCI layout header (`oci-layout`). */
export const OCI_LAYOUT_HEADER = 'application/vnd.oci.layout.header.v1+json';

/** Docker schema 2 layer, gzip-compressed tar (the usual Docker layer). */
export const DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
/** Docker schema 2 layer, uncompressed tar. */
export const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar';
/** Docker schema 2 layer, zstd-compressed tar (a containers/image extension). */
export const DOCKER_LAYER_ZSTD = 'application/vnd.docker.image.rootfs.diff.tar.zstd';
/** Docker foreign (non-distributable) layer, uncompressed tar. */
export const DOCKER_FOREIGN_LAYER = 'application/vnd.docker.image.rootfs.foreign.diff.tar';
/** Docker foreign (non-distributable) layer, gzip-compressed tar. */
export const DOCKER_FOREIGN_LAYER_GZIP = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip';
/** OCI layer, uncompressed tar. */
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';
/** OCI layer, gzip-compressed tar. */
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
/** OCI layer, zstd-compressed tar. */
export const OCI_LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
/** OCI non-distributable layer, uncompressed tar (deprecated by image-spec 1.1). */
export const OCI_LAYER_NONDIST = 'application/vnd.oci.image.layer.nondistributable.v1.tar';
/** OCI non-distributable layer, gzip-compressed tar (deprecated by image-spec 1.1). */
export const OCI_LAYER_NONDIST_GZIP = 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip';
/** OCI non-distributable layer, zstd-compressed tar (deprecated by image-spec 1.1). */
export const OCI_LAYER_NONDIST_ZSTD = 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd';

/**
 * The four manifest types containers/image's `GuessMIMEType` takes from a document's own
 * `mediaType` field as declared (any other declared value is ignored and the type is guessed from
 * the fields), in c/image's order.
 */
export const TRUSTED_DECLARED_MEDIA_TYPES = [DOCKER_V2S2, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX] as const;

/** Every manifest media type, in the order containers/image asks registries for them. */
export const MANIFEST_ACCEPT = [
  OCI_MANIFEST,
  DOCKER_V2S2,
  DOCKER_V2S1_SIGNED,
  DOCKER_V2S1,
  DOCKER_LIST,
  OCI_INDEX,
] as const;

/** True for the two multi-image (list) types. */
export function isListMediaType(mediaType: string): boolean {
  return mediaType === DOCKER_LIST || mediaType === OCI_INDEX;
}

/** True for the single-image manifest types ocikit can install (Docker v2s2 and OCI). */
export function isImageManifestMediaType(mediaType: string): boolean {
  return mediaType === DOCKER_V2S2 || mediaType === OCI_MANIFEST;
}
