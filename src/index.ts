/**
 * ocikit's public API. Everything a library user needs is re-exported here and nothing else;
 * internal modules (src/internal/) are not part of the API.
 */
export { ERROR_CODES, type ErrorCode, type ErrorDetails, OcikitError, isOcikitError } from './errors.js';
export { type Digest, type BlobExpectation, isDigest, parseDigest, digestHex, sha256, DigestingStream } from './digest.js';
export * as mediaTypes from './media-types.js';
export {
  MAX_MANIFEST_SIZE,
  type Platform,
  type Descriptor,
  type ImageManifest,
  type ManifestList,
  type Schema1Manifest,
  type ParsedManifest,
  guessMediaType,
  manifestDigest,
  isManifestList,
  parseManifest,
  parseDescriptor,
  parsePlatform,
  platformString,
} from './manifest.js';
export { type ListFile, type ManifestListMap, type ManifestListsInput, readManifestLists, readListFile } from './manifest-lists.js';
export {
  CONTAINER_FORMATS,
  type ContainerFormat,
  type ArchiveData,
  type ContainerImage,
  type ResolvedImage,
  parseContainersInput,
  resolveContainersInput,
  readDirManifest,
} from './inputs.js';
export { type MergeResult, mergeManifest } from './merge.js';
export {
  type ContainerSource,
  type OpenContainerSource,
  type SourceOptions,
  DEFAULT_RUNROOT,
  openContainerSource,
  withContainerSource,
} from './source.js';
export { type StoreSpec, formatStoreSpec, containersStorageRef, parseContainersStorageRef } from './reference.js';
export {
  type StorageConf,
  type StorageConfOptions,
  type StorageConfLookup,
  STORAGE_DEFAULTS,
  SYSTEM_STORAGE_CONF_PATHS,
  readStorageConf,
  parseStorageConf,
  storageConfLookup,
} from './storage-conf.js';
export {
  type Destination,
  type DestinationType,
  type InstallOptions,
  DESTINATION_TYPES,
  parseInstallOptions,
} from './install-options.js';
export { type InstallRequest, type InstallProgress, type InstalledImageSummary, type InstallSummary, install } from './install.js';
export { type InstallItem, type NativeDestination, type InstalledImage, installNative } from './install-native.js';
export { type ImageReader, chooseInstance, hostPlatform } from './transports/image.js';
export { openDirImage } from './transports/dir.js';
export { openOciLayout } from './transports/oci.js';
export { withOciArchive } from './transports/oci-archive.js';
export {
  type FetchItem,
  type FetchItemSummary,
  type FetchOptions,
  type FetchProgress,
  type FetchResult,
  fetch,
  parseFetchSources,
} from './fetch.js';
export { type DockerReference, parseDockerReference, formatDockerReference } from './registry/reference.js';
