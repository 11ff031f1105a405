/**
 * Image references, `transport:details`: the one dispatcher that parses and formats them for every
 * transport ocikit knows, following containers/image 5.23 (the library under skopeo 1.9.3,
 * `transports/alltransports/alltransports.go` and each transport's `*_transport.go`).
 *
 * Guarantee: {@link formatImageReference} refuses what {@link parseImageReference} would read
 * differently, so the two round-trip. The grammar per transport, and where ocikit is stricter
 * than c/image, are in the TSDoc of {@link parseImageReference}; see also docs/transports.md.
 */
import { OcikitError } from '../errors.js';
import { type DockerReference, formatDockerReference, parseDockerReference } from '../model/docker-reference.js';
import { type StoreSpec, formatStoreSpec, parseContainersStorageRef } from './containers-storage/reference.js';

/**
 * An image reference of one transport, parsed; `transport` tells the variants apart.
 * @category Transports
 */
export type ImageReference =
  | {
      /** A `dir:` image. */
      readonly transport: 'dir';
      /** The image directory, as written (`:` allowed). */
      readonly path: string;
    }
  | {
      /** An OCI image layout directory. */
      readonly transport: 'oci';
      /** The layout directory, as written (never holds `:`). */
      readonly path: string;
      /** The `org.opencontainers.image.ref.name` to pick from `index.json`; absent for the only image. */
      readonly reference?: string;
    }
  | {
      /** An OCI layout packed in a tar file. */
      readonly transport: 'oci-archive';
      /** The archive file, as written (never holds `:`). */
      readonly path: string;
      /** The `org.opencontainers.image.ref.name` to pick from its `index.json`; absent for the only image. */
      readonly reference?: string;
    }
  | {
      /** An image in a containers/storage store. */
      readonly transport: 'containers-storage';
      /** The `[…]` store specification; absent to use the default store of storage.conf. */
      readonly store?: StoreSpec;
      /** The image as written: a name, `name@digest` or an image ID (containers/storage resolves it). */
      readonly image: string;
    }
  | {
      /** An image in a registry. */
      readonly transport: 'docker';
      /** The normalised docker reference, with exactly one of a tag (`latest` when none was written) and a digest. */
      readonly reference: DockerReference;
    };

/**
 * The transport names ocikit parses and formats.
 * @category Transports
 */
export const TRANSPORTS = ['dir', 'oci', 'oci-archive', 'containers-storage', 'docker'] as const;

/**
 * A transport name.
 * @category Transports
 */
export type TransportName = ImageReference['transport'];

// c/image's OCI reference grammar (`oci/internal/oci_util.go` refRegexp).
const OCI_COMPONENT = '[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*';
const OCI_REF_RE = new RegExp(`^${OCI_COMPONENT}(?:/${OCI_COMPONENT})*$`);

/** True when `ref` is a valid `oci:PATH:REF` / `oci-archive:PATH:REF` reference part (non-empty). */
export function isValidOciRef(ref: string): boolean {
  return OCI_REF_RE.test(ref);
}

const q = (s: string) => JSON.stringify(s);

// Messages start with a label: `image reference "S"` when parsing S, `oci reference` (the
// transport) when formatting a value.

function invalid(label: string, why: string): OcikitError {
  return new OcikitError('INVALID_INPUT', `${label}: ${why}`);
}

/** Rethrows an OcikitError of a transport's own grammar with `prefix` (naming the reference) before its message. */
function prefixed<T>(prefix: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof OcikitError) throw new OcikitError(err.code, `${prefix}${err.message}`, { cause: err });
    throw err;
  }
}

function checkPath(label: string, path: string): void {
  if (path === '') throw invalid(label, 'the path is empty');
  if (path.includes('\0')) throw new OcikitError('UNSAFE_PATH', `${label}: the path contains a NUL byte`);
}

/**
 * Parses `transport:details`:
 *
 * - The transport name ends at the first `:`; everything after it is the transport's details.
 * - `dir:PATH` (`directory/directory_transport.go`): the whole rest is the path, `:` included.
 * - `oci:PATH[:REF]` and `oci-archive:PATH[:REF]` (`oci/layout/oci_transport.go`,
 *   `oci/archive/oci_transport.go`, `oci/internal/oci_util.go`): the path ends at the first `:`,
 *   so a path holding `:` cannot be expressed (c/image refuses it too); REF is `C(/C)*` with
 *   `C = A(S A)*`, `A = [A-Za-z0-9]+`, `S = [-._:@+] | --`, so it may itself hold `:` and `@`.
 *   An empty REF (`oci:/p:`) is the same as none.
 * - `containers-storage:[STORE]IMAGE`: the store grammar of {@link parseContainersStorageRef};
 *   IMAGE is kept as written (a name, `name@digest`, an ID: c/storage resolves it).
 * - `docker://NAME` (`docker/docker_transport.go`): NAME is a docker reference
 *   ({@link parseDockerReference}); a name without tag or digest gets `latest`, and a name with
 *   both is refused, as c/image does.
 *
 * ocikit is stricter than c/image in a few places, which it says instead of passing on: an empty
 * path (c/image would take the working directory), a NUL byte in a path, a store specification
 * without a graph root or with options that are not `key=/absolute/path` (the only ones
 * {@link formatStoreSpec} writes), and an image that starts with `[` (c/image would read it as a
 * second store specification).
 * @throws OcikitError `INVALID_INPUT` (no or an unknown transport, a malformed part),
 *   `UNSAFE_PATH` (a path or store root no reference can carry), naming the reference.
 * @category Transports
 */
export function parseImageReference(s: string): ImageReference {
  const label = `image reference ${q(s)}`;
  const colon = s.indexOf(':');
  if (colon < 0) throw invalid(label, 'expected transport:details, e.g. "dir:/path" or "docker://name:tag"');
  const transport = s.slice(0, colon);
  const details = s.slice(colon + 1);
  switch (transport) {
    case 'dir':
      checkPath(label, details);
      return { transport, path: details };
    case 'oci':
    case 'oci-archive': {
      const sep = details.indexOf(':');
      const path = sep < 0 ? details : details.slice(0, sep);
      const reference = sep < 0 ? '' : details.slice(sep + 1);
      checkPath(label, path);
      if (reference !== '' && !isValidOciRef(reference)) {
        throw invalid(label, `${q(reference)} is not a valid reference`);
      }
      return reference === '' ? { transport, path } : { transport, path, reference };
    }
    case 'containers-storage': {
      // Its messages start with the quoted reference already.
      const { spec, image } = prefixed('image reference ', () => parseContainersStorageRef(s));
      const r: ImageReference = spec === null ? { transport, image } : { transport, store: spec, image };
      formatWith(r, label); // refuses what would not format, and so not round-trip
      return r;
    }
    case 'docker': {
      if (!details.startsWith('//')) throw invalid(label, 'a docker reference starts with "//" (docker://NAME)');
      const ref = prefixed(`${label}: `, () => parseDockerReference(details.slice(2)));
      if (ref.tag !== undefined && ref.digest !== undefined) {
        throw invalid(
          label,
          'a docker reference with both a tag and a digest is not supported (as in containers/image)',
        );
      }
      const tagged = ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: 'latest' } : ref;
      return { transport, reference: tagged };
    }
    default:
      throw invalid(label, `transport ${q(transport)} is not one ocikit handles (${TRANSPORTS.join(', ')})`);
  }
}

/**
 * Formats a reference as `transport:details`, the inverse of {@link parseImageReference}.
 * @throws OcikitError `INVALID_INPUT` (an empty path or image, a malformed reference, a docker
 *   reference that is not normalised or has not exactly one of tag and digest), `UNSAFE_PATH`
 *   (an `oci:` path holding `:`, a path with a NUL byte, a store root with a delimiter).
 * @category Transports
 */
export function formatImageReference(r: ImageReference): string {
  return formatWith(r, `${r.transport} reference`);
}

/**
 * `containers-storage:[spec]image`: {@link formatImageReference} of a containers-storage reference
 * with a store specification.
 * @throws as {@link formatImageReference}.
 * @category Transports
 */
export function containersStorageRef(store: StoreSpec, image: string): string {
  return formatImageReference({ transport: 'containers-storage', store, image });
}

function formatWith(r: ImageReference, label: string): string {
  switch (r.transport) {
    case 'dir':
      checkPath(label, r.path);
      return `dir:${r.path}`;
    case 'oci':
    case 'oci-archive': {
      checkPath(label, r.path);
      if (r.path.includes(':')) {
        throw new OcikitError(
          'UNSAFE_PATH',
          `${label}: the path ${q(r.path)} contains ":", which an ${r.transport}: reference cannot carry`,
        );
      }
      const ref = r.reference ?? '';
      if (ref !== '' && !isValidOciRef(ref)) throw invalid(label, `${q(ref)} is not a valid reference`);
      return `${r.transport}:${r.path}${ref === '' ? '' : `:${ref}`}`;
    }
    case 'containers-storage': {
      const { store, image } = r;
      if (image === '' || /[\s\0]/.test(image)) throw invalid(label, `image ${q(image)} is not usable in a reference`);
      if (image.startsWith('[')) throw invalid(label, `image ${q(image)} would be read as a store specification`);
      const spec = store === undefined ? '' : prefixed(`${label}: `, () => formatStoreSpec(store));
      return `containers-storage:${spec}${image}`;
    }
    case 'docker': {
      const ref = r.reference;
      if ((ref.tag === undefined) === (ref.digest === undefined)) {
        throw invalid(label, 'a docker reference needs exactly one of a tag and a digest');
      }
      const name = formatDockerReference(ref);
      const back = prefixed(`${label}: `, () => parseDockerReference(name));
      if (back.domain !== ref.domain || back.path !== ref.path || back.tag !== ref.tag || back.digest !== ref.digest) {
        throw invalid(label, `${q(name)} is not a normalised docker reference`);
      }
      return `docker://${name}`;
    }
  }
}
