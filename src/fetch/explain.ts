/**
 * `explainPolicy`: what the trust policy decides for one docker reference, and why — the library
 * side of `ocikit policy`. The decision is the one a fetch of the image makes (`fetch/trust.ts`):
 * the same policy lookup, identity (the reference as given, `:latest` added to a bare name), scope,
 * requirements and, when the image is reachable, the manifest a copy would evaluate (for a list,
 * the host platform's instance) and its signatures from the endpoint that served it.
 */
import { isOcikitError } from '../errors.js';
import type { Digest } from '../model/digest.js';
import type { DockerReference } from '../model/docker-reference.js';
import { manifestDigest, parseManifest } from '../model/manifest.js';
import { chooseInstance, hostPlatform } from '../model/platform.js';
import { type RegistryClient, closeRegistryClient, createRegistryClient, getManifest } from '../registry/client.js';
import { type Endpoint, type HostConfigOptions, loadHostRegistries, planEndpoints } from '../registry/endpoints.js';
import { type PolicyDecision, type PolicyScope, requirementsFor } from '../trust/evaluate.js';
import type { PolicyRequirement } from '../trust/policy-parse.js';
import { type PolicyIdentity, dockerPolicyIdentity } from '../trust/policy-scopes.js';
import type { ImageSignature } from '../trust/verifier.js';
import { type TrustOptions, evaluateImage, openRunTrust, refusalOf } from './trust.js';

/**
 * Options of {@link explainPolicy}.
 * @category Fetch
 */
export interface ExplainPolicyOptions extends TrustOptions, HostConfigOptions {
  /** `false`: as a fetch item's `"tls-verify": false` (skopeo `--src-tls-verify=false`). */
  readonly tlsVerify?: boolean | undefined;
  /** Aborts the registry requests. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * The manifest evaluated.
 * @category Fetch
 */
export interface ExplainedManifest {
  /** The digest of the manifest the reference names (a list's, for a list). */
  readonly digest: Digest;
  /** For a list: the digest of the instance chosen for this host, the one evaluated. */
  readonly instance?: Digest | undefined;
  /** The endpoint that served it (`host/path`). */
  readonly endpoint: string;
}

/**
 * What {@link explainPolicy} found.
 * @category Fetch
 */
export interface PolicyExplanation {
  /** The policy file (null with `insecurePolicy`). */
  readonly file: string | null;
  /** The image as the policy names it (`docker://NAME:TAG` or `docker://NAME@DIGEST`). */
  readonly identity: PolicyIdentity;
  /** The scope that applies. */
  readonly scope: PolicyScope;
  /** The scope's requirements, as parsed. */
  readonly requirements: readonly PolicyRequirement[];
  /** The manifest evaluated, or null when the image could not be reached. */
  readonly manifest: ExplainedManifest | null;
  /** Why the image could not be reached, when it could not. */
  readonly unreachable?: string | undefined;
  /** The signatures found (empty when no requirement asked for them). */
  readonly signatures: readonly ImageSignature[];
  /** Where signatures were looked for, when they were. */
  readonly lookedIn?: string | undefined;
  /** The decision, or null when it could not be made (an error reading signatures: see `refusal`). */
  readonly decision: PolicyDecision | null;
  /** True when the policy accepts the image. */
  readonly accepted: boolean;
  /** The one-line refusal (the fetch's `POLICY` error message), when refused. */
  readonly refusal?: string | undefined;
}

/** The manifest a copy of `ref` evaluates, from the first endpoint that serves it. */
async function reach(client: RegistryClient, endpoints: readonly Endpoint[], wanted: string, signal?: AbortSignal) {
  let last: unknown;
  for (const endpoint of endpoints) {
    if (endpoint.unusable !== undefined) {
      last = endpoint.unusable;
      continue;
    }
    try {
      const got = await getManifest(client, endpoint.location, wanted, signal);
      const parsed = parseManifest(got.bytes, `manifest of ${endpoint.location.host}/${endpoint.location.path}`);
      const digest = manifestDigest(got.bytes);
      if (parsed.kind !== 'list') return { endpoint, manifest: { digest, endpoint: hostPath(endpoint) } };
      const entry = chooseInstance(parsed, { platform: hostPlatform() }, `list ${digest}`);
      return { endpoint, manifest: { digest, instance: entry.digest, endpoint: hostPath(endpoint) } };
    } catch (err) {
      if (!isOcikitError(err) || signal?.aborted) throw err;
      last = err;
    }
  }
  throw last;
}

function hostPath(e: Endpoint): string {
  return `${e.location.host}/${e.location.path}`;
}

/**
 * Explains the trust policy's decision for `ref` (a docker reference). Configuration problems
 * (a missing or malformed policy, registries.conf) throw as in a fetch; an unreachable image is
 * reported, not thrown, and decided without signatures.
 * @throws OcikitError `CONFIG`, `INVALID_INPUT` (a reference with both a tag and a digest), `INTERRUPTED`.
 * @category Fetch
 */
export async function explainPolicy(ref: DockerReference, opts: ExplainPolicyOptions = {}): Promise<PolicyExplanation> {
  const host = { env: opts.env };
  const trust = await openRunTrust(opts, host);
  const id = dockerPolicyIdentity(ref);
  const { scope, requirements } = requirementsFor(trust.policy, id);
  const registries = await loadHostRegistries(opts);
  const named = id.reference!;
  const plan = await planEndpoints(
    {
      domain: ref.domain,
      path: ref.path,
      ...(named.tag !== undefined ? { tag: named.tag } : {}),
      ...(ref.digest ? { digest: ref.digest } : {}),
    },
    { ...opts, registries, tlsVerify: opts.tlsVerify === false ? false : undefined },
  );
  const client = createRegistryClient({
    authFile: opts.authFile,
    env: opts.env,
    credentialHelpers: registries.credentialHelpers,
    retry: { attempts: 2 },
  });
  try {
    let reached: Awaited<ReturnType<typeof reach>> | undefined;
    let unreachable: string | undefined;
    try {
      reached = await reach(client, plan.endpoints, ref.digest ?? named.tag ?? 'latest', opts.signal);
    } catch (err) {
      if (!isOcikitError(err) || err.code === 'INTERRUPTED') throw err;
      unreachable = err.message;
    }
    // Unreached and undigested: no signature can be read, so no digest is ever compared.
    const digest = reached?.manifest.instance ?? reached?.manifest.digest ?? ref.digest ?? ('sha256:' as Digest);
    const base = {
      file: trust.policy.file,
      identity: id,
      scope,
      requirements,
      manifest: reached?.manifest ?? null,
      unreachable,
    };
    try {
      const ev = await evaluateImage(trust, reached ? client : undefined, id, digest, reached?.endpoint, opts.signal);
      const refusal = ev.decision.accepted ? undefined : refusalOf(ev, id).message;
      return {
        ...base,
        signatures: ev.signatures,
        lookedIn: ev.lookedIn,
        decision: ev.decision,
        accepted: ev.decision.accepted,
        refusal,
      };
    } catch (err) {
      if (!isOcikitError(err, 'POLICY')) throw err;
      return { ...base, signatures: [], decision: null, accepted: false, refusal: err.message };
    }
  } finally {
    await closeRegistryClient(client).catch(() => undefined);
  }
}
