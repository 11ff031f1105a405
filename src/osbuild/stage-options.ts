/**
 * The options of the install operation: osbuild's `org.osbuild.skopeo` stage options, validated
 * once and turned into typed, readonly data.
 *
 * The schema is the stage's (osbuild `stages/org.osbuild.skopeo.meta.json`); the rules, and where
 * ocikit is stricter, are in the TSDoc of {@link parseInstallOptions} and in docs/install.md.
 * Where a destination lies on disk is decided by `install/install.ts`, which resolves the path
 * inside the tree (no `..`, no symlink out).
 */
import { OcikitError } from '../errors.js';
import { describeValue, isRecord } from '../internal/guards.js';
import { STORAGE_DEFAULTS, storageDriverName } from '../config/storage-conf.js';
import { isStorageDriverName } from '../transports/containers-storage/reference.js';

/**
 * The destination types the stage knows.
 * @category osbuild
 */
export const DESTINATION_TYPES = ['containers-storage', 'oci', 'oci-archive', 'dir'] as const;
/**
 * One of {@link DESTINATION_TYPES}.
 * @category osbuild
 */
export type DestinationType = (typeof DESTINATION_TYPES)[number];

/**
 * A containers-storage destination, defaults filled in.
 * @category osbuild
 */
export interface StorageDestination {
  /** Tells the {@link Destination} variants apart. */
  readonly type: 'containers-storage';
  /** The store's path inside the tree (as given; may start with `/`). */
  readonly storagePath: string;
  /** `storage-driver`, default `overlay`; a driver name such as `overlay` or `vfs`. */
  readonly storageDriver: string;
}

/**
 * An oci, oci-archive or dir destination.
 * @category osbuild
 */
export interface PathDestination {
  /** The format written at `path`: an OCI layout, an OCI archive file, or a `dir:` image. */
  readonly type: 'oci' | 'oci-archive' | 'dir';
  /** The destination's path inside the tree (as given; may start with `/`). */
  readonly path: string;
}

/**
 * Where the images go; `type` tells the variants apart.
 * @category osbuild
 */
export type Destination = StorageDestination | PathDestination;

/**
 * The validated stage options.
 * @category osbuild
 */
export interface InstallOptions {
  /** `destination`: where the images go. */
  readonly destination: Destination;
  /** `remove-signatures`: drop the images' signatures while copying; default false. */
  readonly removeSignatures: boolean;
}

/**
 * Validates the stage options and fills in the defaults. The rules are the stage schema's:
 * - `destination` (required) is exactly one of
 *   - `{"type": "containers-storage", "storage-path"?: string, "storage-driver"?: string}`
 *     (defaults `/var/lib/containers/storage` and `overlay`), or
 *   - `{"type": "oci" | "oci-archive" | "dir", "path": string}`;
 * - `remove-signatures` (optional) is a boolean at the top level (not inside `destination`);
 * - no other key is allowed anywhere.
 *
 * Stricter than the schema, on purpose: an empty `path`/`storage-path` (which would make the tree
 * root itself the destination), a NUL byte in a path, and a `storage-driver` that is not a driver
 * name are refused. Every problem found is reported in one error, each naming its field.
 * @throws OcikitError `INVALID_INPUT`, naming every offending field (`values` lists their paths).
 * @category osbuild
 */
export function parseInstallOptions(options: unknown): InstallOptions {
  const problems: { field: string; message: string }[] = [];
  const bad = (field: string, message: string) => problems.push({ field, message });

  if (!isRecord(options)) {
    throw new OcikitError('INVALID_INPUT', `install options must be an object, not ${describeValue(options)}`, {
      values: ['options'],
    });
  }
  for (const key of Object.keys(options)) {
    if (key !== 'destination' && key !== 'remove-signatures') bad(key, `unknown option ${JSON.stringify(key)}`);
  }
  const rs = options['remove-signatures'];
  if (rs !== undefined && typeof rs !== 'boolean')
    bad('remove-signatures', `"remove-signatures" must be a boolean, not ${describeValue(rs)}`);

  let destination: Destination | undefined;
  const dest = options.destination;
  if (dest === undefined) {
    bad('destination', '"destination" is required');
  } else if (!isRecord(dest)) {
    bad('destination', `"destination" must be an object, not ${describeValue(dest)}`);
  } else {
    destination = parseDestination(dest, bad);
  }

  if (problems.length > 0 || destination === undefined) {
    throw new OcikitError(
      'INVALID_INPUT',
      `invalid install options: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`,
      {
        values: problems.map((p) => p.field),
      },
    );
  }
  return Object.freeze({ destination: Object.freeze(destination), removeSignatures: rs === true });
}

function checkPathValue(v: unknown, field: string, bad: (field: string, message: string) => void): v is string {
  if (typeof v !== 'string') {
    bad(field, `"${field.split('.').pop()}" must be a string, not ${describeValue(v)}`);
    return false;
  }
  if (v === '' || v.split('/').every((p) => p === '' || p === '.')) {
    bad(field, `${JSON.stringify(v)} names the tree itself, not a destination inside it`);
    return false;
  }
  if (v.includes('\0')) {
    bad(field, `${JSON.stringify(v)} contains a NUL byte`);
    return false;
  }
  return true;
}

function parseDestination(
  dest: Record<string, unknown>,
  bad: (field: string, message: string) => void,
): Destination | undefined {
  const type = dest.type;
  if (typeof type !== 'string' || !(DESTINATION_TYPES as readonly string[]).includes(type)) {
    bad(
      'destination.type',
      type === undefined
        ? `"type" is required (one of ${DESTINATION_TYPES.join(', ')})`
        : `"type" must be one of ${DESTINATION_TYPES.join(', ')}, not ${describeValue(type)}`,
    );
    return undefined;
  }
  const allowed = type === 'containers-storage' ? ['type', 'storage-path', 'storage-driver'] : ['type', 'path'];
  for (const key of Object.keys(dest)) {
    if (!allowed.includes(key)) {
      bad(
        `destination.${key}`,
        `${JSON.stringify(key)} is not an option of a ${type} destination (allowed: ${allowed.join(', ')})`,
      );
    }
  }
  if (type === 'containers-storage') {
    // Only an absent key takes the default: the schema wants strings, so null is an error.
    // The stage's defaults are the host store's: STORAGE_DEFAULTS.graphroot (inside the tree) and .driver.
    const sp = dest['storage-path'] === undefined ? STORAGE_DEFAULTS.graphroot : dest['storage-path'];
    const sd = dest['storage-driver'] === undefined ? STORAGE_DEFAULTS.driver : dest['storage-driver'];
    const pathOk = checkPathValue(sp, 'destination.storage-path', bad);
    let driverOk = false;
    if (typeof sd !== 'string')
      bad('destination.storage-driver', `"storage-driver" must be a string, not ${describeValue(sd)}`);
    else if (!isStorageDriverName(sd))
      bad('destination.storage-driver', `${JSON.stringify(sd)} is not a storage driver name`);
    else driverOk = true;
    if (!pathOk || !driverOk) return undefined;
    return { type, storagePath: sp as string, storageDriver: sd as string };
  }
  const p = dest.path;
  if (p === undefined) {
    bad('destination.path', `a ${type} destination requires "path"`);
    return undefined;
  }
  if (!checkPathValue(p, 'destination.path', bad)) return undefined;
  return { type: type as PathDestination['type'], path: p };
}

/** True for the drivers c/storage treats as overlay (`overlay2` is its alias). */
export function isOverlayDriver(driver: string): boolean {
  return storageDriverName(driver) === 'overlay';
}
