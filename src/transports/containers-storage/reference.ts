/**
 * The one place that formats and parses `transport:details` strings handed to skopeo and podman.
 *
 * - `dir:PATH`: everything after `dir:` is the path, colons included.
 * - `oci:PATH[:REF]`, `oci-archive:PATH[:REF]`: the path ends at the first `:`, so a path holding
 *   `:` cannot be expressed (ocikit passes such paths through a symlink, see osbuild/container-source.ts).
 * - `containers-storage:[DRIVER@GRAPHROOT+RUNROOT:OPT,OPT]IMAGE` (containers/image
 *   storage_transport.go): the spec ends at the first `]`, the driver at the first `@`, the roots
 *   at the first `:`, graphroot and runroot split at the first `+`, options split on `,`. Paths
 *   holding any of those characters cannot be expressed and are refused here rather than
 *   silently misparsed by skopeo.
 */
import { OcikitError } from '../../errors.js';

/**
 * The parts of a containers-storage store specification.
 * @category Transports
 */
export interface StoreSpec {
  /** Storage driver (`overlay`, `vfs`, …); optional in the grammar. */
  readonly driver?: string;
  /** Absolute graph root. */
  readonly graphroot?: string;
  /** Absolute run root. */
  readonly runroot?: string;
  /** Driver options, e.g. `additionalimagestore=/path`. */
  readonly options?: readonly string[];
}

const DRIVER_RE = /^[a-z0-9][a-z0-9_-]*$/;

/**
 * True when `name` can be the DRIVER of a store specification: lower-case letters, digits, `_`
 * and `-`, starting with a letter or digit (every containers/storage driver name has this form,
 * and none holds a delimiter of the grammar).
 */
export function isStorageDriverName(name: string): boolean {
  return DRIVER_RE.test(name);
}

function checkPath(p: string, what: string): void {
  if (!p.startsWith('/'))
    throw new OcikitError('INVALID_INPUT', `${what} ${JSON.stringify(p)} must be an absolute path`);
  const bad = [...p].find((c) => ']@:+,\0'.includes(c) || c === '\n');
  if (bad !== undefined) {
    throw new OcikitError(
      'UNSAFE_PATH',
      `${what} ${JSON.stringify(p)} contains ${JSON.stringify(bad)}, which a containers-storage reference cannot carry`,
    );
  }
}

/**
 * Formats `[DRIVER@GRAPHROOT+RUNROOT:OPTIONS]` (the brackets included).
 * @throws OcikitError `INVALID_INPUT` (bad driver, relative path, no graphroot),
 *   `UNSAFE_PATH` (a path with a delimiter character).
 * @category Transports
 */
export function formatStoreSpec(spec: StoreSpec): string {
  if (spec.graphroot === undefined) throw new OcikitError('INVALID_INPUT', 'a store specification needs a graph root');
  checkPath(spec.graphroot, 'graph root');
  let s = spec.graphroot;
  if (spec.driver !== undefined) {
    if (!isStorageDriverName(spec.driver))
      throw new OcikitError('INVALID_INPUT', `storage driver ${JSON.stringify(spec.driver)} is not a driver name`);
    s = `${spec.driver}@${s}`;
  }
  if (spec.runroot !== undefined) {
    checkPath(spec.runroot, 'run root');
    s += `+${spec.runroot}`;
  }
  if (spec.options && spec.options.length > 0) {
    for (const o of spec.options) {
      const [key, value] = splitOnce(o, '=');
      if (!/^[a-z0-9._-]+$/i.test(key) || value === undefined) {
        throw new OcikitError('INVALID_INPUT', `store option ${JSON.stringify(o)} is not key=value`);
      }
      checkPath(value, `store option ${key}`);
    }
    s += `:${spec.options.join(',')}`;
  }
  return `[${s}]`;
}

function splitOnce(s: string, sep: string): [string, string | undefined] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

/**
 * Parses a `containers-storage:` reference the way containers/image does, for round-trip checks
 * and for reading references users give.
 * @throws OcikitError `INVALID_INPUT` for `[]`, an unterminated `[`, empty driver or roots.
 * @category Transports
 */
export function parseContainersStorageRef(ref: string): {
  /** The `[…]` store specification; `null` when the reference has none (the default store). */
  spec: StoreSpec | null;
  /** What follows the specification, as written: a name, `name@digest` or an image ID. */
  image: string;
} {
  const prefix = 'containers-storage:';
  if (!ref.startsWith(prefix))
    throw new OcikitError('INVALID_INPUT', `${JSON.stringify(ref)} is not a containers-storage reference`);
  let rest = ref.slice(prefix.length);
  if (!rest.startsWith('[')) return { spec: null, image: rest };
  const close = rest.indexOf(']');
  if (close < 0) throw new OcikitError('INVALID_INPUT', `${JSON.stringify(ref)}: unterminated store specification`);
  const body = rest.slice(1, close);
  rest = rest.slice(close + 1);
  if (body === '') throw new OcikitError('INVALID_INPUT', `${JSON.stringify(ref)}: empty store specification`);
  let driver: string | undefined;
  let roots = body;
  const at = body.indexOf('@');
  if (at >= 0) {
    driver = body.slice(0, at);
    roots = body.slice(at + 1);
    if (!driver || !roots) throw new OcikitError('INVALID_INPUT', `${JSON.stringify(ref)}: empty driver or store path`);
  }
  const [paths, opts] = splitOnce(roots, ':');
  const [graphroot, runroot] = splitOnce(paths, '+');
  const spec: StoreSpec = {
    ...(driver !== undefined ? { driver } : {}),
    ...(graphroot ? { graphroot } : {}),
    ...(runroot ? { runroot } : {}),
    ...(opts !== undefined ? { options: opts.split(',') } : {}),
  };
  return { spec, image: rest };
}
