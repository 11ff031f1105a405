/**
 * Policy scopes: which scope names each transport accepts in `transports` (its
 * `ValidatePolicyConfigurationScope`), an image's policy identity and the namespaces searched
 * after it (`PolicyConfigurationIdentity` / `PolicyConfigurationNamespaces`), and the choice of
 * requirements for an image (containers/image 5.23 `signature/policy_eval.go`
 * `requirementsForImageRef`): the identity, then each namespace in order, then the transport's
 * `""` scope, then `default`.
 *
 * The transports and their rules are those of Debian's skopeo 1.9.3 build (containers/image
 * 5.23): `openshift` is not built in and `ostree` is a stub, so, like any transport name skopeo
 * does not know, their scopes are not checked.
 */
import { realpath } from 'node:fs/promises';
import * as path from 'node:path';
import type { DockerReference } from '../model/docker-reference.js';
import { OcikitError } from '../errors.js';
import { type HostEnv, hostPath } from '../internal/host-env.js';
import { isGoDigest, type NamedReference, namedFromDocker, referenceString } from './identity.js';

/** Go's `filepath.Clean` for slash-separated paths. */
export function goClean(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
    } else out.push(part);
  }
  const joined = out.join('/');
  return rooted ? `/${joined}` : joined || '.';
}

/** A path scope of `dir:`, `sif:`, `oci:` and `oci-archive:`: absolute, not `/`, clean. */
function pathScopeProblem(scope: string): string | undefined {
  if (!scope.startsWith('/')) return `Invalid scope ${scope}: must be an absolute path`;
  if (scope === '/') return 'Invalid scope "/": Use the generic default scope ""';
  const cleaned = goClean(scope);
  if (cleaned !== scope) return `Invalid scope ${scope}: Uses non-canonical format, perhaps try ${cleaned}`;
  return undefined;
}

/** containers/image `storage/storage_transport.go` `ValidatePolicyConfigurationScope`. */
function storageScopeProblem(scope: string): string | undefined {
  const invalid = `Invalid scope ${scope}: not a containers-storage [driver@graphroot]reference`;
  if (!scope.startsWith('[')) return invalid;
  const close = scope.indexOf(']');
  if (close < 1) return invalid;
  const spec = scope.slice(1, close);
  const rest = scope.slice(close + 1);
  const at = spec.indexOf('@');
  const root = at < 0 ? spec : spec.slice(at + 1);
  if (spec === '' || (at >= 0 && (at === 0 || root === ''))) return invalid;
  if (!root.startsWith('/')) return `Invalid scope ${scope}: the graph root must be an absolute path`;
  if (rest === '') return undefined;
  const fields = rest.split('@');
  const isId = (s: string) => isGoDigest(`sha256:${s}`);
  if (fields.length === 2 && !isId(fields[1]!) && !isGoDigest(fields[1]!)) {
    return `Invalid scope ${scope}: ${fields[1]} is neither a valid digest nor a valid ID`;
  }
  if (fields.length >= 3) {
    // strings.SplitN(scope, "@", 3): the third field is everything after the second "@".
    const id = fields.slice(2).join('@');
    if (!isGoDigest(fields[1]!)) return `Invalid scope ${scope}: ${fields[1]} is not a valid digest`;
    if (!isId(id)) return `Invalid scope ${scope}: ${id} is not a valid image ID`;
  }
  return undefined;
}

/** Each transport's scope check; a transport not listed accepts any scope. */
const SCOPE_CHECKS: Readonly<Record<string, (scope: string) => string | undefined>> = {
  docker: () => undefined, // containers/image 5.23 checks nothing
  'docker-daemon': (s) =>
    isGoDigest(s) ? `docker-daemon: can not use algo:digest value ${s} as a namespace` : undefined,
  'docker-archive': () => 'docker-archive: does not support any scopes except the default "" one',
  tarball: () => 'tarball: does not support any scopes except the default "" one',
  dir: pathScopeProblem,
  sif: pathScopeProblem,
  oci: pathScopeProblem,
  'oci-archive': pathScopeProblem,
  'containers-storage': storageScopeProblem,
};

/**
 * Why `scope` is not a valid scope of `transport`, or undefined when it is. The `""` scope is
 * valid everywhere; so is any scope of a transport skopeo 1.9.3 does not know.
 */
export function scopeProblem(transport: string, scope: string): string | undefined {
  if (scope === '') return undefined;
  return Object.hasOwn(SCOPE_CHECKS, transport) ? SCOPE_CHECKS[transport]!(scope) : undefined;
}

/**
 * What a policy is looked up by for one image: the transport, the identity, the namespaces tried
 * after it (most specific first; the transport's `""` scope and `default` come after them), and
 * the docker reference `signedIdentity` rules compare signatures with (null when the image has none).
 * @category Trust
 */
export interface PolicyIdentity {
  /** The transport name: `docker`, `containers-storage`, `dir`, `oci`, `oci-archive`. */
  readonly transport: string;
  /** `PolicyConfigurationIdentity()`: the most specific scope. */
  readonly identity: string;
  /** `PolicyConfigurationNamespaces()`, in the order they are tried. */
  readonly namespaces: readonly string[];
  /** The image's docker reference (`DockerReference()`), or null. */
  readonly reference: NamedReference | null;
}

/**
 * The policy identity of `docker://REF` (containers/image `docker/policyconfiguration/naming.go`):
 * `name:tag` or `name@digest`, then the repository, each parent namespace and the host
 * (`host:port` as written), then `*.`-wildcard domains from the most specific (port stripped).
 * A reference with neither tag nor digest gets `:latest`, as `docker://` references do.
 * @throws OcikitError `INVALID_INPUT` for a reference with both a tag and a digest (skopeo refuses it).
 * @category Trust
 */
export function dockerPolicyIdentity(ref: DockerReference): PolicyIdentity {
  const named = namedFromDocker(ref);
  if (named.tag !== undefined && named.digest !== undefined) {
    throw new OcikitError(
      'INVALID_INPUT',
      `docker reference ${referenceString(named)} has both a tag and a digest; the docker transport takes one of them`,
    );
  }
  const reference = named.tag === undefined && named.digest === undefined ? { ...named, tag: 'latest' } : named;
  const namespaces: string[] = [];
  let name = reference.name;
  for (;;) {
    namespaces.push(name);
    const slash = name.lastIndexOf('/');
    if (slash < 0) break;
    name = name.slice(0, slash);
  }
  const colon = name.indexOf(':');
  if (colon >= 0) name = name.slice(0, colon);
  for (let dot = name.indexOf('.'); dot >= 0; dot = name.indexOf('.')) {
    name = name.slice(dot + 1);
    namespaces.push(`*.${name}`);
  }
  return { transport: 'docker', identity: referenceString(reference), namespaces, reference };
}

/**
 * A containers-storage image as its policy identity names it.
 * @category Trust
 */
export interface StorageImage {
  /** The store's graph driver name (`overlay`, `vfs`, …). */
  readonly driver: string;
  /** The store's graph root (absolute). The run root is not part of the identity. */
  readonly graphroot: string;
  /** The image's name, when the reference has one; a name without tag or digest gets `:latest`. */
  readonly reference?: DockerReference | undefined;
  /** The image ID (64 hex), when the reference names one. */
  readonly id?: string | undefined;
}

/**
 * The policy identity of a `containers-storage:` image (containers/image
 * `storage/storage_reference.go`): `[driver@graphroot]name[@id]`, then the name without the ID,
 * `name:tag` for a `name:tag@digest`, the repository and each parent namespace, then
 * `[driver@graphroot]` and `[graphroot]`.
 * @category Trust
 */
export function storagePolicyIdentity(image: StorageImage): PolicyIdentity {
  const store = `[${image.driver}@${image.graphroot}]`;
  let named: NamedReference | null = null;
  if (image.reference !== undefined) {
    named = namedFromDocker(image.reference);
    if (named.tag === undefined && named.digest === undefined) named = { ...named, tag: 'latest' };
  }
  const id = image.id !== undefined && image.id !== '' ? `@${image.id}` : '';
  const namespaces: string[] = [];
  if (named !== null) {
    if (id !== '') namespaces.push(store + referenceString(named));
    if (named.tag !== undefined && named.digest !== undefined) namespaces.push(`${store}${named.name}:${named.tag}`);
    const parts = named.name.split('/');
    for (let n = parts.length; n > 0; n--) namespaces.push(store + parts.slice(0, n).join('/'));
  }
  namespaces.push(store, `[${image.graphroot}]`);
  const identity = store + (named === null ? '' : referenceString(named)) + id;
  return { transport: 'containers-storage', identity, namespaces, reference: named };
}

/** Parent directories of `p`, nearest first; `withSelf` puts `p` itself first (the OCI transports do). */
function parentScopes(p: string, withSelf: boolean): string[] {
  const out = withSelf ? [p] : [];
  for (let cur = p, slash = cur.lastIndexOf('/'); slash > 0; slash = cur.lastIndexOf('/')) {
    cur = cur.slice(0, slash);
    out.push(cur);
  }
  return out;
}

/**
 * The policy identity of a `dir:`, `oci:` or `oci-archive:` image: its fully resolved path (see
 * {@link resolvePolicyPath}; for `oci:` the layout directory, without the `:image` part), then its
 * parent directories (containers/image `directory_transport.go`, `oci/layout/oci_transport.go` and
 * `oci/archive/oci_transport.go`; the OCI ones repeat the path itself first). These images have no
 * docker reference.
 * @category Trust
 */
export function pathPolicyIdentity(transport: 'dir' | 'oci' | 'oci-archive', resolvedPath: string): PolicyIdentity {
  const namespaces = parentScopes(resolvedPath, transport !== 'dir');
  return { transport, identity: resolvedPath, namespaces, reference: null };
}

/**
 * containers/image `explicitfilepath.ResolvePathToFullyExplicit`: `p` made absolute and its
 * symlinks resolved; a path that does not exist yet has its (existing) parent resolved and its
 * last component appended.
 * @throws OcikitError `IO` when the path, or for a missing path its parent, cannot be resolved.
 * @category Trust
 */
export async function resolvePolicyPath(p: string, host: HostEnv = {}): Promise<string> {
  const abs = hostPath(host, p);
  const resolve = async (q: string) => {
    try {
      return await realpath(q);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && q === abs) return undefined;
      throw new OcikitError('IO', `cannot resolve ${q}: ${code ?? String(err)}`, { cause: err });
    }
  };
  const full = await resolve(abs);
  if (full !== undefined) return full;
  return path.join((await resolve(path.dirname(abs))) as string, path.basename(abs));
}
