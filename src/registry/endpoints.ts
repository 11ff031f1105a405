/**
 * The one place that decides where a pull goes. For a reference it produces the plan: the
 * ordered endpoints (mirrors first, the primary last, as containers/image
 * `docker/docker_image_src.go` tries them), each with the reference rewritten for it, its scheme
 * and TLS settings (registries.conf `insecure`, certs.d), and where its credentials come from.
 * The registry client then uses an endpoint for manifests and blobs alike; `ocikit registries`
 * prints the plan.
 *
 * Today the plan is the primary endpoint only; registries.conf, certs.d and credential sources
 * plug in here.
 */
import type { AuthLookupOptions } from '../auth/auth-files.js';
import { type CertDirFiles, registryCerts } from '../config/certs-d.js';
import { type DockerReference, registryApiHost } from '../model/docker-reference.js';
import type { RepositoryLocation } from './transport/bearer.js';

/**
 * Where the host configuration is read from: the host (auth-file lookup and `HostEnv`), and
 * explicit files that replace the standard lookups, as skopeo's options do.
 * @category Registry
 */
export interface HostConfigOptions extends AuthLookupOptions {
  /** A registries.conf to read instead of the standard files (skopeo's `--registries-conf`). */
  readonly registriesConf?: string | undefined;
  /** A certificate directory used for every registry instead of certs.d (skopeo's `--cert-dir`). */
  readonly certDir?: string | undefined;
}

/**
 * One place a pull may go.
 * @category Registry
 */
export interface Endpoint {
  /** True for a mirror, false for the primary location (always the last endpoint). */
  readonly mirror: boolean;
  /** The reference as this endpoint serves it (rewritten by `location` or a mirror). */
  readonly ref: DockerReference;
  /** Host, repository, TLS settings: what the registry client needs. */
  readonly location: RepositoryLocation;
  /** The certificate directory used for this endpoint's host and the files taken from it (certs.d, `--cert-dir`). */
  readonly certs?: CertDirFiles | undefined;
}

/**
 * The endpoints of one reference, in the order they are tried.
 * @category Registry
 */
export interface EndpointPlan {
  /** The reference asked for. */
  readonly ref: DockerReference;
  /** Mirrors first, the primary last; never empty. */
  readonly endpoints: readonly Endpoint[];
}

/** Options of {@link planEndpoints}. */
export interface PlanOptions extends HostConfigOptions {
  /**
   * An explicit TLS verification choice (skopeo's `--tls-verify`; osbuild's `tls-verify: false`):
   * false skips certificate checks and allows plain HTTP on every endpoint, true forces checks;
   * undefined lets the host configuration decide (default: check).
   */
  readonly tlsVerify?: boolean | undefined;
}

/**
 * The plan for pulling `ref`.
 * @throws OcikitError `CONFIG` (a host configuration file that cannot be read or is invalid, a
 * certs.d directory with an unpaired client certificate or key).
 */
export async function planEndpoints(ref: DockerReference, opts: PlanOptions = {}): Promise<EndpointPlan> {
  // certs.d is looked up by the reference's host[:port] (`docker.io` for Docker Hub).
  const certs = await registryCerts(ref.domain, opts);
  const location: RepositoryLocation = {
    host: registryApiHost(ref.domain),
    authDomain: ref.domain,
    path: ref.path,
    tlsVerify: opts.tlsVerify !== false,
    tls: certs?.tls,
  };
  return { ref, endpoints: [{ mirror: false, ref, location, certs: certs?.files }] };
}
