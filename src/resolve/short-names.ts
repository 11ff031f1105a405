/**
 * Image names to fully qualified references. By default docker's normalisation (`docker.io`,
 * `library/` for one-component names), as osbuild/images, osbuild-mpp and skopeo's `docker://`
 * apply it. With `registries-conf`, a short name is resolved by registries.conf the way
 * containers/image `pkg/shortnames` (`Resolve`) does for podman, except that ocikit never prompts:
 * an `[aliases]` entry gives one candidate; else the `unqualified-search-registries`, in order;
 * under `short-name-mode = "enforcing"` more than one of them is ambiguous and fails (podman would
 * prompt, or fail without a terminal). The alias cache podman writes
 * (`short-name-aliases.conf`) is not read.
 */
import { OcikitError } from '../errors.js';
import type { RegistriesConf } from '../config/registries-conf.js';
import { type DockerReference, formatDockerReference, parseDockerReference } from '../model/docker-reference.js';

/**
 * How short names are resolved: `docker` (default) or `registries-conf`.
 * @category Resolve
 */
export type ShortNameResolution = 'docker' | 'registries-conf';

/** The references to try for `input`, in order, and why (for error messages). */
export interface NameCandidates {
  readonly candidates: readonly DockerReference[];
  /** Set when the name was short and registries.conf decided: `alias in FILE` or `unqualified-search-registries in FILE`. */
  readonly origin?: string;
}

/**
 * Whether `input` names a registry, as containers/image `parseUnnormalizedShortName` decides: the
 * first of several `/`-separated components has a `.` or `:`, or is `localhost`.
 */
function isShortName(input: string): boolean {
  const name = input.split('@')[0]!;
  const slash = name.indexOf('/');
  if (slash < 0) return true;
  const first = name.slice(0, slash);
  return !(first.includes('.') || first.includes(':') || first === 'localhost');
}

/** The references for `input` under `mode`; `conf` is needed only for `registries-conf`. */
export function nameCandidates(
  input: string,
  mode: ShortNameResolution,
  conf: RegistriesConf | undefined,
): NameCandidates {
  const ref = parseDockerReference(input, 'image reference');
  if (mode === 'docker' || !isShortName(input)) return { candidates: [ref] };
  if (conf === undefined) throw new Error('registries.conf is needed for registries-conf short names');
  const at = input.indexOf('@');
  const bare = at < 0 ? input : input.slice(0, at);
  const colon = bare.lastIndexOf(':');
  const name = colon > bare.lastIndexOf('/') ? bare.slice(0, colon) : bare;
  const suffix = {
    ...(ref.tag !== undefined ? { tag: ref.tag } : {}),
    ...(ref.digest !== undefined ? { digest: ref.digest } : {}),
  };
  const alias = conf.aliases.get(name);
  if (alias?.value) {
    return {
      candidates: [{ domain: alias.value.domain, path: alias.value.path, ...suffix }],
      origin: `alias in ${alias.file}`,
    };
  }
  const search = conf.unqualifiedSearchRegistries;
  const file = conf.unqualifiedSearchRegistriesFile ?? conf.lookup.file;
  if (search.length === 0) {
    throw new OcikitError(
      'INVALID_INPUT',
      `short-name ${JSON.stringify(name)} did not resolve to an alias and no unqualified-search registries are defined in ${JSON.stringify(file)}`,
    );
  }
  const candidates = search.map((registry) => {
    const r = parseDockerReference(`${registry}/${name}`, 'image reference');
    return { domain: r.domain, path: r.path, ...suffix };
  });
  if (conf.shortNameMode === 'enforcing' && candidates.length > 1) {
    throw new OcikitError(
      'INVALID_INPUT',
      `short-name ${JSON.stringify(input)} is ambiguous under short-name-mode "enforcing" (ocikit never prompts): it could be ${candidates.map((c) => formatDockerReference(c)).join(', ')} (unqualified-search-registries in ${file}); use a fully qualified name or an [aliases] entry`,
    );
  }
  return { candidates, origin: `unqualified-search-registries in ${file}` };
}
