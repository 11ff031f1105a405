/**
 * The public runtime surface, pinned: the package is imported by its own name, as a user imports it
 * (Node's package self-reference through the `exports` map of package.json), and its export names
 * are compared with an explicit list. Adding, removing or renaming an export therefore shows up as
 * a reviewed change to this file; docs/api.md says what such a change means for the version.
 *
 * Types have no runtime presence; TypeDoc's `notExported` validation (`npm run docs:check`) keeps
 * the exported types complete.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as ocikit from 'ocikit';
import * as entry from '../src/index.js';

/** Every runtime export of `ocikit`, in `Array.prototype.sort` order (upper case first). */
const EXPORTS = [
  'BOUND_IMAGES_DIR',
  'CONTAINER_FORMATS',
  'DEFAULT_RUNROOT',
  'DESTINATION_TYPES',
  'DigestingStream',
  'ERROR_CODES',
  'MAX_MANIFEST_SIZE',
  'OcikitError',
  'STORAGE_DEFAULTS',
  'SYSTEM_STORAGE_CONF_PATHS',
  'TRANSPORTS',
  'Verifier',
  'checkExclude',
  'chooseInstance',
  'containersStorageRef',
  'defaultCacheDir',
  'deploy',
  'digestHex',
  'embed',
  'fetch',
  'formatDockerReference',
  'formatImageReference',
  'formatStoreSpec',
  'guessMediaType',
  'hostPlatform',
  'install',
  'installNative',
  'isDigest',
  'isManifestList',
  'isOcikitError',
  'loadHostRegistries',
  'lockOf',
  'manifestDigest',
  'manifestInputs',
  'manifestSources',
  'mediaTypes',
  'mergeManifest',
  'normalizeArchitecture',
  'openContainerSource',
  'openDirImage',
  'openOciLayout',
  'parseContainersInput',
  'parseContainersStorageRef',
  'parseDeployStageOptions',
  'parseDescriptor',
  'parseDigest',
  'parseDockerReference',
  'parseEntries',
  'parseFetchSources',
  'parseImageReference',
  'parseInstallOptions',
  'parseLockFile',
  'parseManifest',
  'parsePlatform',
  'parseStorageConf',
  'planEndpoints',
  'platformOfChoice',
  'platformString',
  'quadletImage',
  'readBoundImages',
  'readDirManifest',
  'readEntriesFile',
  'readListFile',
  'readLockFile',
  'readManifestLists',
  'readStorageConf',
  'resolve',
  'resolveContainersInput',
  'rpmArch',
  'sha256',
  'storageConfLookup',
  'verifyBytes',
  'wantedPlatforms',
  'withContainerSource',
  'withOciArchive',
  'writeLockFile',
];

/** Every member of the `mediaTypes` namespace. */
const MEDIA_TYPES = [
  'DOCKER_CONFIG',
  'DOCKER_FOREIGN_LAYER',
  'DOCKER_FOREIGN_LAYER_GZIP',
  'DOCKER_LAYER',
  'DOCKER_LAYER_GZIP',
  'DOCKER_LAYER_ZSTD',
  'DOCKER_LIST',
  'DOCKER_V2S1',
  'DOCKER_V2S1_SIGNED',
  'DOCKER_V2S2',
  'MANIFEST_ACCEPT',
  'OCI_CONFIG',
  'OCI_INDEX',
  'OCI_LAYER',
  'OCI_LAYER_GZIP',
  'OCI_LAYER_NONDIST',
  'OCI_LAYER_NONDIST_GZIP',
  'OCI_LAYER_NONDIST_ZSTD',
  'OCI_LAYER_ZSTD',
  'OCI_LAYOUT_HEADER',
  'OCI_MANIFEST',
  'TRUSTED_DECLARED_MEDIA_TYPES',
  'isImageManifestMediaType',
  'isListMediaType',
];

describe('public API', () => {
  it("resolves 'ocikit' to the built entry point, the module the package's exports map names", () => {
    assert.equal(import.meta.resolve('ocikit'), new URL('../src/index.js', import.meta.url).href);
    assert.equal(ocikit.install, entry.install, 'the self-reference and the relative import are one module');
  });

  it('exports exactly the reviewed names', () => {
    assert.deepEqual(Object.keys(ocikit).sort(), EXPORTS);
    assert.deepEqual(Object.keys(ocikit.mediaTypes).sort(), MEDIA_TYPES);
  });

  it('exports the entry points as functions and the classes as constructors', () => {
    for (const fn of [
      ocikit.parseContainersInput,
      ocikit.resolveContainersInput,
      ocikit.withContainerSource,
      ocikit.install,
      ocikit.installNative,
      ocikit.fetch,
      ocikit.manifestDigest,
      ocikit.parseManifest,
      ocikit.readStorageConf,
      ocikit.parseImageReference,
    ]) {
      assert.equal(typeof fn, 'function', fn.name);
    }
    const err = new ocikit.OcikitError('NOT_FOUND', 'x');
    assert.ok(err instanceof Error && ocikit.isOcikitError(err, 'NOT_FOUND'));
    assert.equal(typeof ocikit.Verifier, 'function');
    assert.equal(typeof ocikit.DigestingStream, 'function');
  });

  it('exports the constants with their documented values', () => {
    assert.ok(ocikit.ERROR_CODES.includes('DIGEST_MISMATCH'));
    assert.equal(ocikit.MAX_MANIFEST_SIZE, 4 * 1024 * 1024);
    assert.equal(ocikit.DEFAULT_RUNROOT, '/run/containers/storage');
    assert.equal(ocikit.mediaTypes.OCI_MANIFEST, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(
      ocikit.manifestDigest(new Uint8Array()),
      'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });
});
