/**
 * The trust policy on every pull, as skopeo 1.9.3 (containers/image 5.23) applies it on
 * `skopeo copy docker://NAME@DIGEST dir:…`: `copy/copy.go` `copyOneImage` calls
 * `PolicyContext.IsRunningImageAllowed` on the image it is about to copy before reading anything
 * else of it, and refuses the copy ("Source image rejected: …") when it is not allowed.
 *
 * - The identity is the logical reference, the one the sources name (`NAME@DIGEST`), never the
 *   mirror's: `docker/docker_image_src.go` `Reference()` is `logicalRef`.
 * - The manifest digest is that of the manifest evaluated: for an image chosen from a list, the
 *   instance's (`copy.go` evaluates `UnparsedInstance(rawSource, &instanceDigest)`), while the
 *   identity keeps the list's digest.
 * - Signatures are those of that manifest at the endpoint that served it (`physicalRef`: the
 *   mirror's lookaside, the mirror's attachments), fetched only when a requirement needs them.
 * - A list item (`org.osbuild.skopeo-index`: `skopeo copy --multi-arch=index-only`) is not
 *   evaluated, exactly as containers/image 5.23 evaluates nothing there (`copyMultipleImages`
 *   only evaluates the instances it copies, and index-only copies none); the list's images are
 *   image items of their own and each is evaluated (docs/trust.md).
 * - A local item is evaluated under the `containers-storage` transport's scopes
 *   (`storagePolicyIdentity`), as skopeo evaluates `containers-storage:[driver@root+run]ID`.
 *
 * The policy is read once per run, the verifier created once per run, registries.d read once per
 * run and only when a requirement needs signatures.
 */
import { OcikitError, isOcikitError } from '../errors.js';
import type { HostEnv } from '../internal/host-env.js';
import type { Digest } from '../model/digest.js';
import type { DockerReference } from '../model/docker-reference.js';
import type { RegistryClient } from '../registry/client.js';
import type { Endpoint } from '../registry/endpoints.js';
import { fetchImageSignatures, type SignatureLocations } from '../registry/signatures.js';
import {
  type PolicyDecision,
  type PolicyImage,
  evaluatePolicy,
  policyImageName,
  policyRefusal,
  requirementsFor,
  scopeLabel,
} from '../trust/evaluate.js';
import type { Policy } from '../trust/policy-parse.js';
import { type PolicyIdentity, dockerPolicyIdentity, storagePolicyIdentity } from '../trust/policy-scopes.js';
import { loadPolicy } from '../trust/policy.js';
import { type RegistriesD, loadRegistriesD, signatureLocationsFor } from '../trust/registries-d.js';
import type { StoredSignature } from '../trust/signature-files.js';
import type { ImageSignature, SignatureVerifier } from '../trust/verifier.js';
import { createSignatureVerifier } from '../trust/verify.js';

/**
 * The trust options of a pull, spelled as skopeo's global options.
 * @category Fetch
 */
export interface TrustOptions {
  /** The policy file to use instead of the standard lookup (skopeo `--policy`). */
  readonly policy?: string | undefined;
  /** Accept every image without reading any policy (skopeo `--insecure-policy`). */
  readonly insecurePolicy?: boolean | undefined;
  /** The registries.d directory to read instead of the standard one (skopeo `--registries.d`). */
  readonly registriesD?: string | undefined;
}

/** One run's trust state. */
export interface RunTrust {
  readonly policy: Policy;
  readonly host: HostEnv;
  readonly verifier: SignatureVerifier;
  /** The explicit registries.d directory, if any. */
  readonly registriesDir: string | undefined;
  /** registries.d, read at the first call. */
  registriesD(): Promise<RegistriesD>;
}

/**
 * Reads the policy (a `CONFIG` error naming the file when it is missing or malformed) and creates
 * the run's verifier.
 */
export async function openRunTrust(opts: TrustOptions, host: HostEnv): Promise<RunTrust> {
  const policy = await loadPolicy({ ...host, policyFile: opts.policy, insecurePolicy: opts.insecurePolicy });
  let rd: Promise<RegistriesD> | undefined;
  return {
    policy,
    host,
    verifier: createSignatureVerifier(),
    registriesDir: opts.registriesD,
    registriesD: () => (rd ??= loadRegistriesD({ ...host, dir: opts.registriesD })),
  };
}

/** Where signatures of a manifest are looked for at an endpoint, for messages. */
export function describeLocations(where: SignatureLocations, digest: Digest): string {
  const places: string[] = [];
  if (where.lookaside !== undefined)
    places.push(`lookaside ${where.lookaside} (…@${digest.replace(':', '=')}/signature-N)`);
  if (where.useSigstoreAttachments) places.push(`sigstore attachment ${digest.replace(':', '-')}.sig`);
  places.push('the registry signature API extension, when the registry announces it');
  return places.join(', ');
}

/** The signatures the decision accepted, in the image's order, in the form the `dir:` writer stores. */
export function acceptedSignatures(decision: PolicyDecision, signatures: readonly ImageSignature[]): StoredSignature[] {
  const picked = new Set<number>();
  for (const r of decision.requirements) for (const s of r.signatures ?? []) if (s.accepted) picked.add(s.index);
  return [...picked]
    .sort((a, b) => a - b)
    .map((i) => {
      const s = signatures[i]!;
      return s.kind === 'simple-signing'
        ? { format: 'simple-signing', blob: s.bytes }
        : {
            format: 'sigstore',
            mimeType: s.mimeType,
            payload: s.payload,
            annotations: new Map(Object.entries(s.annotations)),
          };
    });
}

/** What {@link evaluateImage} returns: the decision and the image's signatures, when read. */
export interface EvaluatedImage {
  readonly decision: PolicyDecision;
  readonly signatures: readonly ImageSignature[];
  /** Where the signatures were looked for, when they were. */
  readonly lookedIn?: string | undefined;
}

/**
 * Evaluates the policy for the image `id` whose manifest `digest` `endpoint` served, fetching its
 * signatures from that endpoint only when a requirement needs them. A failure to read signatures
 * (registries.d, the lookaside server) refuses the image with a `POLICY` error, as containers/image
 * refuses it with "Source image rejected"; interruption stays `INTERRUPTED`.
 */
export async function evaluateImage(
  trust: RunTrust,
  client: RegistryClient | undefined,
  id: PolicyIdentity,
  digest: Digest,
  endpoint: Endpoint | undefined,
  signal?: AbortSignal,
): Promise<EvaluatedImage> {
  let signatures: readonly ImageSignature[] = [];
  let lookedIn: string | undefined;
  const image: PolicyImage = {
    identity: id,
    manifestDigest: digest,
    async signatures() {
      if (endpoint === undefined || client === undefined) {
        throw new Error(
          id.transport === 'docker'
            ? 'the image could not be reached'
            : `reading the signatures of ${id.transport} images is not implemented`,
        );
      }
      lookedIn = `registries.d (${trust.registriesDir ?? 'the standard directories'})`;
      const where = signatureLocationsFor(await trust.registriesD(), endpoint.ref);
      lookedIn = describeLocations(where, digest);
      signatures = await fetchImageSignatures(client, endpoint.location, digest, where, signal);
      return signatures;
    },
  };
  try {
    const decision = await evaluatePolicy(trust.policy, image, trust.verifier, { host: trust.host });
    return { decision, signatures, lookedIn };
  } catch (err) {
    if (isOcikitError(err, 'INTERRUPTED') || signal?.aborted) throw err;
    throw signatureReadRefusal(trust.policy, id, err, lookedIn);
  }
}

/** The `POLICY` error for an image whose signatures could not be read. */
function signatureReadRefusal(policy: Policy, id: PolicyIdentity, err: unknown, lookedIn?: string): OcikitError {
  const { scope, requirements } = requirementsFor(policy, id);
  const i = requirements.findIndex((r) => r.type === 'signedBy' || r.type === 'sigstoreSigned');
  const req = i < 0 ? 'a signature requirement' : `requirement ${i + 1} (${requirements[i]!.type})`;
  const where = lookedIn === undefined ? '' : ` (looked in ${lookedIn})`;
  return new OcikitError(
    'POLICY',
    `${policyImageName(id)} rejected by trust policy ${policy.file ?? 'the trust policy'} (${scopeLabel(scope)}): ${req}: cannot read the image's signatures${where}: ${(err as Error).message}`,
    { cause: err },
  );
}

/**
 * The refusal of a decision, saying where signatures were looked for when a signature
 * requirement found none.
 */
export function refusalOf(ev: EvaluatedImage, id: PolicyIdentity): OcikitError {
  const err = policyRefusal(ev.decision, id);
  const failed = ev.decision.requirements.find((r) => !r.allowed);
  if (failed?.signatures !== undefined && ev.signatures.length === 0 && ev.lookedIn !== undefined) {
    return new OcikitError('POLICY', `${err.message} (looked in ${ev.lookedIn})`);
  }
  return err;
}

/**
 * Enforces the policy on a registry image or list: `ref` is the name the sources give, `requested`
 * the digest they name (the identity `NAME@DIGEST`), `digest` the manifest evaluated (the
 * instance's for an image chosen from a list). Returns the signatures that satisfied the policy.
 * @throws OcikitError `POLICY` when the policy refuses the image.
 */
export async function enforceRegistryPolicy(
  trust: RunTrust,
  client: RegistryClient,
  ref: DockerReference,
  requested: Digest,
  digest: Digest,
  endpoint: Endpoint,
  signal?: AbortSignal,
): Promise<StoredSignature[]> {
  const id = dockerPolicyIdentity({ domain: ref.domain, path: ref.path, digest: requested });
  const ev = await evaluateImage(trust, client, id, digest, endpoint, signal);
  if (!ev.decision.accepted) throw refusalOf(ev, id);
  return acceptedSignatures(ev.decision, ev.signatures);
}

/**
 * Enforces the policy on a local item: `containers-storage:[driver@graphroot]NAME@DIGEST` or
 * `[driver@graphroot]@ID`. Signatures of stored images are not read (a requirement for them
 * refuses the image: fail closed).
 * @throws OcikitError `POLICY`.
 */
export async function enforceStoragePolicy(
  trust: RunTrust,
  store: { readonly driver: string; readonly graphroot: string },
  image: { readonly reference?: DockerReference | undefined; readonly id?: string | undefined },
  digest: Digest,
): Promise<void> {
  const id = storagePolicyIdentity({ ...store, ...image });
  const ev = await evaluateImage(trust, undefined, id, digest, undefined);
  if (!ev.decision.accepted) throw refusalOf(ev, id);
}
