/**
 * The one place that decides where a pull goes. For a reference it produces the plan: the
 * ordered endpoints (mirrors first, the primary last, as containers/image
 * `docker/docker_image_src.go` tries them), each with the reference rewritten for it, its scheme
 * and TLS settings (registries.conf `insecure`, certs.d), and where its credentials come from.
 * The registry client then uses an endpoint for manifests and blobs alike; `ocikit registries`
 * prints the plan.
 *
 * registries.conf (`config/registries-conf.ts`, `config/registries-match.ts`) decides the
 * mirrors, the rewritten references, `insecure` and `blocked`; certs.d and credential sources plug
 * in here too.
 */
import type { AuthLookupOptions } from '../auth/auth-files.js';
import { type RegistriesConf, loadRegistriesConf } from '../config/registries-conf.js';
import { blockingEntry, describeEntry, findRegistry, pullSources, referenceName } from '../config/registries-match.js';
import { type CertDirFiles, registryCerts } from '../config/certs-d.js';
import { type DockerReference, registryApiHost } from '../model/docker-reference.js';
import { OcikitError, isOcikitError } from '../errors.js';
import type { RepositoryLocation } from './transport/bearer.js';

/**
 * Where the host configuration is read from: the host (auth-file lookup and `HostEnv`), and
 * explicit files that replace the standard lookups, as skopeo's options do.
 * @category Registry
 */
export interface HostConfigOptions extends AuthLookupOptions {
  /**
   * A registries.conf to read instead of the per-user or system file (skopeo's
   * `--registries-conf`); it must exist. The drop-in directories are still read, as by skopeo.
   */
  readonly registriesConf?: string | undefined;
  /** The system registries.conf (default `/etc/containers/registries.conf`), for describing another host. */
  readonly systemRegistriesConf?: string | undefined;
  /** The system drop-in directory (default `/etc/containers/registries.conf.d`), for describing another host. */
  readonly systemRegistriesConfDir?: string | undefined;
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
  /**
   * registries.conf's `insecure` for this endpoint (the mirror's own, or the entry's for the
   * primary): no certificate checks, falling back to plain HTTP, unless an explicit
   * {@link PlanOptions.tlsVerify} decides instead.
   */
  readonly insecure: boolean;
  /**
   * The entry that blocks this endpoint (looked up again by the endpoint's own reference, as
   * containers/image does), or null. A blocked endpoint is never contacted.
   */
  readonly blocked: PlanEntry | null;
  /** The certificate directory used for this endpoint's host and the files taken from it (certs.d, `--cert-dir`). */
  readonly certs?: CertDirFiles | undefined;
  /**
   * Why this endpoint cannot be used, when it cannot (it is blocked; its certs.d directory is
   * broken): a pull passes over it to the next endpoint without contacting it, as containers/image
   * passes over an endpoint whose client cannot be set up.
   */
  readonly unusable?: OcikitError | undefined;
}

/**
 * A registries.conf entry as the plan names it.
 * @category Registry
 */
export interface PlanEntry {
  /** The entry's `prefix`. */
  readonly prefix: string;
  /** The entry's `location` (empty for a `*.` prefix without one). */
  readonly location: string;
  /** The file it came from. */
  readonly file: string;
  /** The entry as error messages name it (`[[registry]] prefix "P" in FILE`). */
  readonly description: string;
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
  /** The registries.conf files read, in order (empty when none exists). */
  readonly files: readonly string[];
  /** The registries.conf entry with the longest prefix matching the reference's name, or null. */
  readonly entry: PlanEntry | null;
}

/**
 * Reads the host's registries.conf as `opts` say where (the standard lookup, skopeo's
 * `--registries-conf`, the system paths). A run loads it once and hands it to every
 * {@link planEndpoints} call, and takes its `credential-helpers` for the credential lookup.
 * @throws OcikitError `CONFIG` naming the file (and entry).
 */
export function loadHostRegistries(opts: HostConfigOptions = {}): Promise<RegistriesConf> {
  return loadRegistriesConf({
    env: opts.env,
    uid: opts.uid,
    home: opts.home,
    cwd: opts.cwd,
    file: opts.registriesConf,
    systemFile: opts.systemRegistriesConf,
    systemDropInDir: opts.systemRegistriesConfDir,
  });
}

/**
 * Options of {@link planEndpoints}.
 * @category Registry
 */
export interface PlanOptions extends HostConfigOptions {
  /**
   * An explicit TLS verification choice (skopeo's `--tls-verify`; osbuild's `tls-verify: false`):
   * false skips certificate checks and allows plain HTTP on every endpoint, true forces checks;
   * undefined lets the host configuration decide (default: check).
   */
  readonly tlsVerify?: boolean | undefined;
  /** registries.conf as {@link loadHostRegistries} read it; read now when not given. */
  readonly registries?: RegistriesConf | undefined;
}

/**
 * The plan for pulling `ref` (a digest reference for a fetch: `NAME@DIGEST`, as osbuild's skopeo
 * source copies it): the registries.conf entry matching its name, its pull sources (mirrors as
 * `mirror-by-digest-only` and `pull-from-mirror` allow, then the primary), each reference
 * rewritten by `location`, TLS verification per endpoint (explicit `tlsVerify`, else not the
 * endpoint's `insecure`) and the entry blocking it, if any.
 * The certs.d directory of each endpoint's host (`docker.io` for Docker Hub) gives its TLS
 * material; a broken one makes that endpoint {@link Endpoint.unusable}, not the plan.
 * @throws OcikitError `CONFIG` (a registries.conf that cannot be read or is invalid; a rewrite
 *   that is not a valid reference), naming the file and entry.
 */
export async function planEndpoints(ref: DockerReference, opts: PlanOptions = {}): Promise<EndpointPlan> {
  const conf = opts.registries ?? (await loadHostRegistries(opts));
  const matched = findRegistry(conf.registries, referenceName(ref));
  const endpoints = await Promise.all(
    pullSources(matched, ref).map(async (source): Promise<Endpoint> => {
      const blocker = blockingEntry(conf.registries, source.ref);
      const blocked = blocker === undefined ? null : planEntry(blocker);
      let certs: Awaited<ReturnType<typeof registryCerts>>;
      let unusable: OcikitError | undefined;
      if (blocked !== null) {
        const host = JSON.stringify(source.ref.domain);
        unusable = new OcikitError('CONFIG', `registry ${host} is blocked by ${blocked.description}`);
      } else {
        try {
          certs = await registryCerts(source.ref.domain, opts);
        } catch (err) {
          if (!isOcikitError(err)) throw err;
          unusable = err;
        }
      }
      const location: RepositoryLocation = {
        host: registryApiHost(source.ref.domain),
        authDomain: source.ref.domain,
        path: source.ref.path,
        tlsVerify: opts.tlsVerify ?? !source.endpoint.insecure,
        tls: certs?.tls,
      };
      return {
        mirror: source.mirror,
        ref: source.ref,
        location,
        insecure: source.endpoint.insecure,
        blocked,
        certs: certs?.files,
        unusable,
      };
    }),
  );
  return { ref, endpoints, files: conf.files, entry: matched === undefined ? null : planEntry(matched) };
}

function planEntry(e: Parameters<typeof describeEntry>[0] & { location: string }): PlanEntry {
  return { prefix: e.prefix, location: e.location, file: e.file, description: describeEntry(e) };
}
