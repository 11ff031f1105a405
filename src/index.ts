/**
 * ocikit takes container images into OS image builds: it resolves osbuild's container inputs,
 * fetches images from registries into osbuild's source cache and installs them into trees, keeping
 * every digest exactly as skopeo computes it.
 *
 * This page is the reference of everything `import { … } from 'ocikit'` gives, grouped by topic:
 * **osbuild** (the stage and source contracts), **Install**, **Fetch**, **Transports** (`dir:`,
 * `oci:`, `oci-archive:`, `containers-storage:` references and readers), **Model** (digests,
 * manifests, platforms), **Registry**, **Configuration** (storage.conf, host lookups) and
 * **Errors**. What is promised about this API is in [docs/api.md](../docs/api.md); the behaviour
 * of each operation is in the pages of docs/: [container inputs](../docs/inputs.md),
 * [install](../docs/install.md), [fetch](../docs/fetch.md), [transports](../docs/transports.md),
 * [manifests and digests](../docs/manifests.md), [storage.conf](../docs/storage-conf.md),
 * [errors](../docs/errors.md) and [the command line](../docs/cli.md).
 *
 * Everything a library user needs is re-exported here and nothing else; internal modules
 * (src/internal/) are not part of the API. Every type a public signature names is exported too
 * (TypeDoc's `notExported` validation, `npm run docs:check`, checks it; test/api.test.ts pins the
 * runtime exports).
 *
 * @packageDocumentation
 * @document ../docs/inputs.md
 * @document ../docs/install.md
 * @document ../docs/fetch.md
 * @document ../docs/registries-conf.md
 * @document ../docs/tls.md
 * @document ../docs/proxies.md
 * @document ../docs/credentials.md
 * @document ../docs/trust.md
 * @document ../docs/trust-policy.md
 * @document ../docs/trust-signatures.md
 * @document ../docs/trust-sources.md
 * @document ../docs/transports.md
 * @document ../docs/manifests.md
 * @document ../docs/platform.md
 * @document ../docs/storage-conf.md
 * @document ../docs/errors.md
 * @document ../docs/resolve.md
 * @document ../docs/embed.md
 * @document ../docs/deploy.md
 * @document ../docs/cli.md
 */
export { ERROR_CODES, type ErrorCode, type ErrorDetails, OcikitError, isOcikitError } from './errors.js';
export { type Digest, isDigest, parseDigest, digestHex, sha256 } from './model/digest.js';
export { type BlobExpectation, DigestingStream, Verifier, verifyBytes } from './model/verify.js';
/**
 * Every media type string ocikit knows (Docker distribution and OCI image specs), and what kind of object each names.
 * @category Model
 */
export * as mediaTypes from './model/media-types.js';
export {
  MAX_MANIFEST_SIZE,
  type ImageManifest,
  type ManifestList,
  type Schema1Manifest,
  type ParsedManifest,
  guessMediaType,
  manifestDigest,
  isManifestList,
  parseManifest,
} from './model/manifest.js';
export { type Descriptor, parseDescriptor, parsePlatform } from './model/descriptor.js';
export {
  type Platform,
  type InstanceChoice,
  platformString,
  hostPlatform,
  normalizeArchitecture,
  wantedPlatforms,
  chooseInstance,
} from './model/platform.js';
export {
  type ListFile,
  type ManifestListMap,
  type ManifestListsInput,
  readManifestLists,
  readListFile,
} from './osbuild/manifest-lists.js';
export {
  CONTAINER_FORMATS,
  type ContainerFormat,
  type ArchiveData,
  type ContainerImage,
  type ResolvedImage,
  parseContainersInput,
  resolveContainersInput,
} from './osbuild/inputs.js';
export { type MergeResult, mergeManifest } from './transports/dir/merge.js';
export {
  type ContainerSource,
  type OpenContainerSource,
  type SourceOptions,
  DEFAULT_RUNROOT,
  openContainerSource,
  withContainerSource,
} from './osbuild/container-source.js';
export {
  type ImageReference,
  type TransportName,
  TRANSPORTS,
  containersStorageRef,
  formatImageReference,
  parseImageReference,
} from './transports/reference.js';
export {
  type StoreSpec,
  formatStoreSpec,
  parseContainersStorageRef,
} from './transports/containers-storage/reference.js';
export {
  type StorageConf,
  type StorageConfOptions,
  type StorageConfLookup,
  STORAGE_DEFAULTS,
  SYSTEM_STORAGE_CONF_PATHS,
  readStorageConf,
  parseStorageConf,
  storageConfLookup,
} from './config/storage-conf.js';
export type { HostEnv } from './internal/host-env.js';
export {
  type Destination,
  type DestinationType,
  type StorageDestination,
  type PathDestination,
  type InstallOptions,
  DESTINATION_TYPES,
  parseInstallOptions,
} from './osbuild/stage-options.js';
export {
  type InstallRequest,
  type InstallProgress,
  type InstalledImageSummary,
  type InstallSummary,
  install,
} from './install/install.js';
export {
  type InstallItem,
  type NativeDestination,
  type InstalledImage,
  type InstallNativeOptions,
  type InstallNativeProgress,
  installNative,
} from './install/to-layout.js';
export type { LayoutType } from './install/layout-plan.js';
export {
  type DeployOptions,
  type DeployContext,
  type DeployProgress,
  type DeploySummary,
  type DeployWarning,
  deploy,
} from './deploy/deploy.js';
export { type DeployStageOptions, checkExclude, parseDeployStageOptions } from './deploy/options.js';
export type { ImageReader } from './transports/reader.js';
export { type DirImageOptions, openDirImage, readDirManifest } from './transports/dir/read.js';
export { type OciLayoutOptions, openOciLayout } from './transports/oci/read.js';
export { type OciArchiveOptions, withOciArchive } from './transports/oci-archive/read.js';
export { type FetchItem, type ImageItem, type ListItem, type LocalItem, parseFetchSources } from './osbuild/sources.js';
export {
  type FetchItemSummary,
  type FetchOptions,
  type FetchProgress,
  type FetchResult,
  fetch,
} from './fetch/fetch.js';
export type { TrustOptions } from './fetch/trust.js';
export { type DockerReference, parseDockerReference, formatDockerReference } from './model/docker-reference.js';
export type { LowSpeedLimit, RetryPolicy } from './registry/client.js';
export {
  type Endpoint,
  type EndpointPlan,
  type HostConfigOptions,
  type PlanEntry,
  type PlanOptions,
  loadHostRegistries,
  planEndpoints,
} from './registry/endpoints.js';
export type { RegistriesConf, RegistriesConfLookup } from './config/registries-conf.js';
export type {
  PullFromMirror,
  RegistryConfEntry,
  RegistryMirrorConf,
  ShortNameAlias,
  ShortNameMode,
} from './config/registries-file.js';
export type { CertDirFiles, TlsMaterial } from './config/certs-d.js';
export type { RepositoryLocation } from './registry/transport/bearer.js';
export type { SkopeoOptions } from './tools/skopeo.js';
export {
  type ResolveOptions,
  type ResolveResult,
  type ResolvedSpec,
  type SpecPlatform,
  resolve,
} from './resolve/resolve.js';
export { type ResolveEntry, parseEntries, readEntriesFile } from './resolve/entries.js';
export { type LockFile, lockOf, parseLockFile, readLockFile, writeLockFile } from './resolve/lock.js';
export {
  type EmbedDestinationType,
  type EmbedProgress,
  type EmbedRequest,
  type EmbedSummary,
  type EmbeddedImage,
  defaultCacheDir,
  embed,
} from './embed/embed.js';
export { type BoundImage, BOUND_IMAGES_DIR, quadletImage, readBoundImages } from './embed/bound-images.js';
export { type PlatformChoice, platformOfChoice, rpmArch } from './resolve/arch.js';
export type { ShortNameResolution } from './resolve/short-names.js';
export {
  type ImageInputReference,
  type ImagesStageInput,
  type ManifestFormSpec,
  type ManifestListsStageInput,
  type ManifestSources,
  type SkopeoStageInputs,
  type SourceItems,
  manifestInputs,
  manifestSources,
} from './osbuild/manifest-form.js';
