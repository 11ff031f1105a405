/**
 * registries.d (containers-registries.d(5)): where signatures of docker images are stored and
 * looked up, as containers/image 5.23 `docker/registries_d.go` reads it: the directory
 * (`$HOME/.config/containers/registries.d` when it exists, else `/etc/containers/registries.d`, or
 * an explicit one), its `*.yaml` files merged (`default-docker`, `docker` scopes; a scope defined
 * twice is an error), and the most specific `docker` scope for a reference.
 *
 * NOT IMPLEMENTED YET (the trust issue is in progress): {@link loadRegistriesD} refuses with
 * `UNSUPPORTED`.
 */
import { OcikitError } from '../errors.js';
import type { HostEnv } from '../internal/host-env.js';
import type { DockerReference } from '../model/docker-reference.js';

/**
 * Where registries.d is read from.
 * @category Trust
 */
export interface RegistriesDOptions extends HostEnv {
  /** A directory to read instead of the standard one (skopeo's `--registries.d`). */
  readonly dir?: string | undefined;
}

/**
 * The merged registries.d configuration.
 * @category Trust
 */
export interface RegistriesD {
  /** The directory read (null when none exists). */
  readonly dir: string | null;
  /** The files read, in order. */
  readonly files: readonly string[];
}

/**
 * Reads registries.d.
 * @throws OcikitError `UNSUPPORTED` (not implemented yet).
 */
export async function loadRegistriesD(_opts: RegistriesDOptions = {}): Promise<RegistriesD> {
  throw new OcikitError('UNSUPPORTED', 'registries.d is not implemented yet');
}

/**
 * Where the signatures of `ref` (the endpoint's reference) are looked for.
 */
export function signatureLocationsFor(
  _rd: RegistriesD,
  _ref: DockerReference,
): { readonly lookaside?: string | undefined; readonly useSigstoreAttachments: boolean } {
  return { useSigstoreAttachments: false };
}
