/**
 * `resolve`: image names to the digests an osbuild build needs (osbuild/images `pkg/container`
 * `Resolver` and osbuild-mpp `mpp-resolve-images` do this job), with the configuration's platform
 * checked, and the osbuild manifest form (`osbuild/manifest-form.ts`) of the result.
 *
 * Per entry: the name is normalised (`short-names.ts`); the top manifest is read through the host
 * configuration (`source.ts`), a digest in the reference verified; a list's instance is chosen by
 * the one platform rule (`model/platform.ts` `chooseInstance`) and read by digest; the config blob
 * is read and its os/architecture compared with the wanted platform (`PLATFORM_MISMATCH`, a
 * warning with {@link ResolveOptions.allowPlatformMismatch}; a variant that differs is a warning).
 */
import { OcikitError, isOcikitError, throwIfInterrupted } from '../errors.js';
import { runPool } from '../internal/pool.js';
import type { RegistriesConf } from '../config/registries-conf.js';
import type { Digest } from '../model/digest.js';
import { type DockerReference, formatDockerReference } from '../model/docker-reference.js';
import { type Platform, chooseInstance, platformString } from '../model/platform.js';
import {
  type ManifestFormSpec,
  type ManifestSources,
  type SkopeoStageInputs,
  manifestInputs,
  manifestSources,
} from '../osbuild/manifest-form.js';
import { type RetryPolicy, closeRegistryClient, createRegistryClient } from '../registry/client.js';
import { type HostConfigOptions, loadHostRegistries } from '../registry/endpoints.js';
import { verifiedManifest } from '../registry/pull.js';
import type { SkopeoOptions } from '../tools/skopeo.js';
import { type PlatformChoice, comparableVariant, platformOfChoice, rpmArch } from './arch.js';
import type { ResolveEntry } from './entries.js';
import { type ShortNameResolution, nameCandidates } from './short-names.js';
import { type ImageSource, type RemoteContext, localSource, remoteSource } from './source.js';

/**
 * One resolved image: osbuild/images' `container.Spec`, in ocikit's field names.
 * @category Resolve
 */
export interface ResolvedSpec extends ManifestFormSpec {
  /** The reference as given. */
  readonly ref: string;
  /** The normalised repository, without tag or digest. */
  readonly source: string;
  /** The name to store the image as: the entry's, else the normalised `domain/path:tag` (`:latest` without tag; only `domain/path` for a digest-only reference). */
  readonly name: string;
  /** The image's manifest digest (the chosen instance's, for a list). */
  readonly digest: Digest;
  /** The image ID: the config digest. */
  readonly imageId: Digest;
  /** The digest of the list the image was chosen from, or null (not a list, or the entry drops it). */
  readonly listDigest: Digest | null;
  /** The platform the image's config declares. */
  readonly platform: SpecPlatform;
  /** The config's architecture in osbuild's RPM form (`x86_64`, `aarch64`, …). */
  readonly arch: string;
  /** The entry's `tls-verify`, or null when not given (then left out of the sources). */
  readonly tlsVerify: boolean | null;
  /** True when resolved from the host's containers-storage. */
  readonly localStorage: boolean;
}

/**
 * The platform an image's config declares.
 * @category Resolve
 */
export interface SpecPlatform {
  /** `os` of the config. */
  readonly os: string;
  /** `architecture` of the config (Go's name). */
  readonly architecture: string;
  /** `variant` of the config; absent when it names none. */
  readonly variant?: string;
}

/**
 * The result of {@link resolve}.
 * @category Resolve
 */
export interface ResolveResult {
  /** The run's wanted architecture, in RPM form. */
  readonly arch: string;
  /** One spec per entry, in entry order. */
  readonly specs: readonly ResolvedSpec[];
  /** The osbuild `sources` for the specs (osbuild/images' manifest form). */
  readonly sources: ManifestSources;
  /** The `org.osbuild.skopeo` stage inputs for the specs: remote, then local. */
  readonly inputs: readonly SkopeoStageInputs[];
  /** Warnings (a variant that differs; a platform mismatch that was allowed); the CLI prints them. */
  readonly warnings: readonly string[];
}

/**
 * Options of {@link resolve}.
 * @category Resolve
 */
export interface ResolveOptions extends HostConfigOptions, PlatformChoice {
  /** `tls-verify` of entries that set none (false: plain HTTP and unverified TLS allowed). */
  readonly tlsVerify?: boolean | undefined;
  /** Resolve entries that do not say otherwise from the host's containers-storage. */
  readonly local?: boolean | undefined;
  /** `docker` (default): docker.io normalisation; `registries-conf`: aliases and search registries. */
  readonly shortNames?: ShortNameResolution | undefined;
  /** A config whose os/architecture differ from the wanted platform is a warning, not `PLATFORM_MISMATCH`. */
  readonly allowPlatformMismatch?: boolean | undefined;
  /** Entries resolved at once (default 4). */
  readonly jobs?: number | undefined;
  /** Aborts the resolve (`INTERRUPTED`). */
  readonly signal?: AbortSignal | undefined;
  /** Retry policy for registry requests. */
  readonly retry?: Partial<RetryPolicy> | undefined;
  /** How to run skopeo for local entries. */
  readonly skopeo?: SkopeoOptions | undefined;
}

interface Run {
  readonly opts: ResolveOptions;
  readonly remote: () => RemoteContext;
  readonly registries: RegistriesConf;
  readonly warnings: string[];
}

/** The default name: `domain/path:tag`, `:latest` without tag, `domain/path` for a digest only. */
function defaultName(ref: DockerReference): string {
  const tag = ref.tag ?? (ref.digest === undefined ? 'latest' : undefined);
  return formatDockerReference({ domain: ref.domain, path: ref.path, ...(tag !== undefined ? { tag } : {}) });
}

/** The config's os, architecture and variant. */
function configPlatform(bytes: Uint8Array, what: string): SpecPlatform {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new OcikitError('INVALID_MANIFEST', `${what}: the config is not JSON`, { cause: err });
  }
  const field = (k: string) => {
    const v = (doc as Record<string, unknown> | null)?.[k];
    return typeof v === 'string' ? v : '';
  };
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    throw new OcikitError('INVALID_MANIFEST', `${what}: the config is not a JSON object`);
  const variant = field('variant');
  return { os: field('os'), architecture: field('architecture'), ...(variant ? { variant } : {}) };
}

/** Compares what the config declares with what was wanted; returns the warning, if any. */
function checkPlatform(got: SpecPlatform, want: Platform, what: string, allow: boolean): string | undefined {
  if (got.os !== want.os || got.architecture !== want.architecture) {
    const msg = `${what} is for ${platformString(got)}, not the wanted ${platformString(want)}`;
    if (!allow) throw new OcikitError('PLATFORM_MISMATCH', msg);
    return msg;
  }
  if (
    want.variant &&
    comparableVariant(got.architecture, got.variant) !== comparableVariant(want.architecture, want.variant)
  )
    return `${what} is for ${platformString(got)}, variant ${JSON.stringify(got.variant ?? '')}, not the wanted ${JSON.stringify(want.variant)}`;
  return undefined;
}

/** Resolves `ref` read from `src`: top manifest, list instance, config. */
async function resolveAt(
  src: ImageSource,
  ref: DockerReference,
  want: Platform,
  allow: boolean,
): Promise<{
  digest: Digest;
  imageId: Digest;
  listDigest: Digest | null;
  platform: SpecPlatform;
  warning?: string;
}> {
  const name = formatDockerReference(ref);
  let parsed = verifiedManifest(await src.top(), ref.digest, `manifest of ${name}`);
  let listDigest: Digest | null = null;
  if (parsed.kind === 'list') {
    listDigest = parsed.digest;
    const entry = chooseInstance(parsed, { platform: want }, `manifest list of ${name}`);
    const what = `manifest ${entry.digest} of ${name}`;
    parsed = verifiedManifest(await src.manifest(entry.digest), entry.digest, what);
    if (parsed.kind === 'list') throw new OcikitError('UNSUPPORTED', `${what}: a nested manifest list is not an image`);
  }
  if (parsed.kind === 'schema1')
    throw new OcikitError(
      'UNSUPPORTED',
      `${name}: Docker schema 1 images have no config blob, so osbuild cannot take them by image ID`,
    );
  const what = `image ${formatDockerReference({ domain: ref.domain, path: ref.path })}@${parsed.digest}`;
  const platform = configPlatform(await src.config(parsed.config), what);
  const warning = checkPlatform(platform, want, what, allow);
  return {
    digest: parsed.digest,
    imageId: parsed.config.digest,
    listDigest,
    platform,
    ...(warning ? { warning } : {}),
  };
}

/** The errors that make a short-name search try its next candidate (as c/image's pull tries the next). */
const NEXT_CANDIDATE: ReadonlySet<string> = new Set(['NOT_FOUND', 'REGISTRY']);

async function resolveEntry(run: Run, entry: ResolveEntry): Promise<ResolvedSpec> {
  const { opts } = run;
  const want = platformOfChoice({
    arch: entry.arch ?? opts.arch,
    variant: entry.variant ?? (entry.arch !== undefined ? undefined : opts.variant),
    os: entry.os ?? opts.os,
  });
  const local = entry.local ?? opts.local ?? false;
  const tlsVerify = entry.tlsVerify ?? opts.tlsVerify;
  const { candidates, origin } = nameCandidates(entry.ref, opts.shortNames ?? 'docker', run.registries);
  const failures: string[] = [];
  for (const ref of candidates) {
    throwIfInterrupted(opts.signal, 'resolve');
    const src = local
      ? localSource({ env: opts.env, skopeo: opts.skopeo }, ref)
      : remoteSource(run.remote(), ref, tlsVerify);
    try {
      const got = await resolveAt(src, ref, want, opts.allowPlatformMismatch ?? false);
      if (got.warning) run.warnings.push(got.warning);
      return {
        ref: entry.ref,
        source: formatDockerReference({ domain: ref.domain, path: ref.path }),
        name: entry.name ?? defaultName(ref),
        digest: got.digest,
        imageId: got.imageId,
        listDigest: entry.list === false ? null : got.listDigest,
        platform: got.platform,
        arch: rpmArch(got.platform.architecture),
        tlsVerify: tlsVerify ?? null,
        localStorage: local,
      };
    } catch (err) {
      if (candidates.length === 1 || !isOcikitError(err) || !NEXT_CANDIDATE.has(err.code)) throw err;
      failures.push(`${formatDockerReference(ref)}: ${err.message}`);
    }
  }
  throw new OcikitError(
    'NOT_FOUND',
    `${entry.ref} (short name, ${origin}): no candidate has it: ${failures.join('; ')}`,
  );
}

/**
 * Resolves `entries` (references, or {@link ResolveEntry} objects) to specs, in parallel (at most
 * `jobs` at once), and builds their osbuild sources and inputs. Every failing entry is reported:
 * one failure is thrown as it is; several as one error (the first one's code) naming each entry,
 * as osbuild/images' `Resolver.Finish` does.
 * @throws OcikitError `INVALID_INPUT` (a bad reference or option, an ambiguous short name),
 *   `NOT_FOUND` (no such image, no instance for the platform), `PLATFORM_MISMATCH`,
 *   `DIGEST_MISMATCH`, `INVALID_MANIFEST`, `UNSUPPORTED` (schema 1), `REGISTRY`, `CONFIG`,
 *   `TOOL_FAILED` (skopeo for local entries), `INTERRUPTED`.
 * @example
 * ```ts
 * import { resolve } from 'ocikit';
 *
 * const r = await resolve(['quay.io/fedora/fedora:41'], { arch: 'aarch64' });
 * console.log(r.specs[0]?.imageId, JSON.stringify(r.sources));
 * ```
 * @category Resolve
 */
export async function resolve(
  entries: readonly (string | ResolveEntry)[],
  opts: ResolveOptions = {},
): Promise<ResolveResult> {
  const list = entries.map((e) => (typeof e === 'string' ? { ref: e } : e));
  const jobs = opts.jobs ?? 4;
  if (!Number.isInteger(jobs) || jobs < 1)
    throw new OcikitError('INVALID_INPUT', `jobs ${JSON.stringify(jobs)} is not a positive integer`);
  const wanted = platformOfChoice(opts);
  throwIfInterrupted(opts.signal, 'resolve');
  const hostConfig: HostConfigOptions = {
    authFile: opts.authFile,
    env: opts.env,
    registriesConf: opts.registriesConf,
    systemRegistriesConf: opts.systemRegistriesConf,
    systemRegistriesConfDir: opts.systemRegistriesConfDir,
    certDir: opts.certDir,
  };
  const registries = await loadHostRegistries(hostConfig);
  let remote: RemoteContext | undefined;
  const run: Run = {
    opts,
    registries,
    warnings: [],
    remote: () =>
      (remote ??= {
        client: createRegistryClient({
          authFile: opts.authFile,
          env: opts.env,
          credentialHelpers: registries.credentialHelpers,
          retry: opts.retry,
        }),
        hostConfig: { ...hostConfig, registries },
        signal: opts.signal,
      }),
  };
  const results: (ResolvedSpec | { err: unknown })[] = new Array(list.length);
  try {
    await runPool(
      list.map((entry, i) => async () => {
        try {
          results[i] = await resolveEntry(run, entry);
        } catch (err) {
          results[i] = { err };
        }
      }),
      jobs,
    );
  } finally {
    if (remote) await closeRegistryClient(remote.client).catch(() => undefined);
  }
  throwIfInterrupted(opts.signal, 'resolve');
  const failed = list.flatMap((e, i) => {
    const r = results[i]!;
    return 'err' in r ? [{ entry: e, err: r.err }] : [];
  });
  if (failed.length === 1) throw failed[0]!.err;
  if (failed.length > 1) {
    const first = failed[0]!.err;
    const code = isOcikitError(first) ? first.code : 'IO';
    const text = failed.map((f) => `${JSON.stringify(f.entry.ref)}: ${(f.err as Error).message}`).join('; ');
    throw new OcikitError(code, `failed to resolve ${failed.length} images: ${text}`, { cause: first });
  }
  const specs = results as ResolvedSpec[];
  return {
    arch: rpmArch(wanted.architecture),
    specs,
    sources: manifestSources(specs),
    inputs: manifestInputs(specs),
    warnings: run.warnings,
  };
}
