/**
 * Policy evaluation: whether a policy allows an image, with the reasons, as containers/image 5.23
 * `PolicyContext.IsRunningImageAllowed` decides (`signature/policy_eval*.go`):
 * - the requirements are those of the most specific scope (./policy-scopes.ts), and every one of
 *   them must allow the image; the first that does not decides the refusal;
 * - `insecureAcceptAnything` allows, `reject` refuses;
 * - `signedBy` and `sigstoreSigned` need at least one of the image's signatures of their kind to
 *   verify with the requirement's keys, to be for the manifest digest of the manifest that was
 *   fetched (for an image chosen from a list: the instance's manifest, as copy.Image evaluates the
 *   instance), and to claim an identity `signedIdentity` accepts.
 *
 * ocikit fails closed where containers/image 5.23 has nothing to run: `signedBaseLayer` and the
 * `signedBy` key types other than `GPGKeys` refuse the image and name the field (containers/image
 * refuses them too, with "not implemented" and "Unimplemented keyType" reasons).
 */
import type { Digest } from '../model/digest.js';
import { OcikitError } from '../errors.js';
import { readNamedFile } from '../internal/fs.js';
import { type HostEnv, hostPath } from '../internal/host-env.js';
import { matchesSignedIdentity, type ReferenceMatch, referenceString } from './identity.js';
import type { Policy, PolicyRequirement } from './policy-parse.js';
import type { PolicyIdentity } from './policy-scopes.js';
import { SIGSTORE_SIGNATURE_ANNOTATION, SIGSTORE_SIGNATURE_MIME_TYPE } from './sigstore.js';
import type { ImageSignature, SignatureVerifier, SignedClaims } from './verifier.js';

/**
 * An image as evaluation sees it.
 * @category Trust
 */
export interface PolicyImage {
  /** Its policy identity (`dockerPolicyIdentity`, `storagePolicyIdentity`, `pathPolicyIdentity`). */
  readonly identity: PolicyIdentity;
  /**
   * `manifestDigest()` of the manifest that was fetched: the image's own manifest, which for an
   * image chosen from a list is the instance's (not the list's).
   */
  readonly manifestDigest: Digest;
  /** The image's signatures; called at most once, and only when a requirement needs them. */
  signatures(): Promise<readonly ImageSignature[]>;
}

/**
 * The scope whose requirements apply.
 * @category Trust
 */
export interface PolicyScope {
  /** The transport of a `transports` scope, or null for `default`. */
  readonly transport: string | null;
  /** The scope name (`""` is the transport's default scope), or null for `default`. */
  readonly scope: string | null;
}

/** `default`, or `transports.docker["host/ns"]`. */
export function scopeLabel(s: PolicyScope): string {
  return s.transport === null ? 'default' : `transports.${s.transport}[${JSON.stringify(s.scope)}]`;
}

/**
 * The requirements for an image (containers/image `requirementsForImageRef`): the transport's scope
 * equal to the identity, else the first namespace that has a scope, else the transport's `""`
 * scope, else `default`.
 * @category Trust
 */
export function requirementsFor(
  policy: Policy,
  id: PolicyIdentity,
): { readonly scope: PolicyScope; readonly requirements: readonly PolicyRequirement[] } {
  const scopes = policy.transports.get(id.transport);
  if (scopes !== undefined) {
    for (const name of [id.identity, ...id.namespaces, '']) {
      const reqs = scopes.get(name);
      if (reqs !== undefined) return { scope: { transport: id.transport, scope: name }, requirements: reqs };
    }
  }
  return { scope: { transport: null, scope: null }, requirements: policy.default };
}

/**
 * What happened to one signature under one requirement.
 * @category Trust
 */
export interface SignatureOutcome {
  /** Its position in the image's signature list (0-based). */
  readonly index: number;
  /** Where it was found, when known. */
  readonly source?: string | undefined;
  /** True when it satisfied the requirement. */
  readonly accepted: boolean;
  /** Why not, when it did not. */
  readonly reason?: string | undefined;
}

/**
 * The verdict of one requirement.
 * @category Trust
 */
export interface RequirementOutcome {
  /** Its position in the scope's list (0-based). */
  readonly index: number;
  /** Its `type`. */
  readonly type: PolicyRequirement['type'];
  /** True when it allows the image. */
  readonly allowed: boolean;
  /** Why not, when it does not. */
  readonly reason?: string | undefined;
  /** For a requirement ocikit does not implement: the field that made it refuse (`type`, `keyType`). */
  readonly unimplemented?: string | undefined;
  /** The signatures it looked at (signature requirements only). */
  readonly signatures?: readonly SignatureOutcome[] | undefined;
}

/**
 * The verdict on an image.
 * @category Trust
 */
export interface PolicyDecision {
  /** True when every requirement of the scope allows the image. */
  readonly accepted: boolean;
  /** The policy file (null for an insecure policy or one parsed from bytes without a name). */
  readonly file: string | null;
  /** The scope that applied. */
  readonly scope: PolicyScope;
  /** The requirements evaluated, in order, up to and including the first that refused. */
  readonly requirements: readonly RequirementOutcome[];
}

/** Options of {@link evaluatePolicy}. */
export interface EvaluateOptions {
  /** Where relative `keyPath`/`keyPaths` are resolved (the working directory); default: this process. */
  readonly host?: HostEnv | undefined;
}

/** The state shared by one evaluation. */
interface Evaluation {
  readonly image: PolicyImage;
  readonly verifier: SignatureVerifier;
  readonly host: HostEnv;
  signatures(): Promise<readonly ImageSignature[]>;
}

async function readKey(ev: Evaluation, file: string): Promise<Uint8Array> {
  try {
    return await readNamedFile(hostPath(ev.host, file), 'key file');
  } catch (err) {
    throw new Error(`cannot read key file ${JSON.stringify(file)}: ${(err as Error).message}`);
  }
}

/** Checks a signature's claims against the image, in containers/image's order: digest, then identity. */
function checkClaims(claims: SignedClaims, image: PolicyImage, match: ReferenceMatch): void {
  // containers/image's wording, followed by what was expected (it names only the signed value).
  if (claims.dockerManifestDigest !== image.manifestDigest) {
    throw new Error(
      `Signature for digest ${claims.dockerManifestDigest} does not match (the manifest fetched is ${image.manifestDigest})`,
    );
  }
  if (!matchesSignedIdentity(match, image.identity.reference, claims.dockerReference)) {
    throw new Error(
      `Signature for identity ${claims.dockerReference} is not accepted (the image is ${image.identity.reference ? referenceString(image.identity.reference) : image.identity.identity}, signedIdentity ${match.type})`,
    );
  }
}

/** containers/image's summary of a signature requirement that no signature satisfied. */
function summary(outcomes: readonly SignatureOutcome[], none: string): string {
  const reasons = outcomes.map((o) => o.reason ?? '');
  if (reasons.length === 0) return none;
  if (reasons.length === 1) return reasons[0]!;
  return `None of the signatures were accepted, reasons: ${reasons.join('; ')}`;
}

/** Tries each candidate; the first accepted one allows the requirement. */
async function anySignature(
  candidates: readonly { index: number; sig: ImageSignature }[],
  check: (sig: ImageSignature) => Promise<void>,
): Promise<SignatureOutcome[]> {
  const outcomes: SignatureOutcome[] = [];
  for (const { index, sig } of candidates) {
    try {
      await check(sig);
      outcomes.push({ index, source: sig.source, accepted: true });
      break;
    } catch (err) {
      outcomes.push({ index, source: sig.source, accepted: false, reason: (err as Error).message });
    }
  }
  return outcomes;
}

function signatureOutcome(
  index: number,
  type: PolicyRequirement['type'],
  outcomes: SignatureOutcome[],
  none: string,
): RequirementOutcome {
  if (outcomes.some((o) => o.accepted)) return { index, type, allowed: true, signatures: outcomes };
  return { index, type, allowed: false, reason: summary(outcomes, none), signatures: outcomes };
}

const NO_SIGNATURE = 'A signature was required, but no signature exists';

async function evaluateRequirement(ev: Evaluation, req: PolicyRequirement, index: number): Promise<RequirementOutcome> {
  const type = req.type;
  switch (req.type) {
    case 'insecureAcceptAnything':
      return { index, type, allowed: true };
    case 'reject':
      return { index, type, allowed: false, reason: 'rejected by policy' };
    case 'signedBaseLayer':
      return { index, type, allowed: false, unimplemented: 'type', reason: 'signedBaseLayer is not implemented' };
    case 'signedBy': {
      if (req.keyType !== 'GPGKeys') {
        const reason = `keyType ${JSON.stringify(req.keyType)} is not implemented`;
        return { index, type, allowed: false, unimplemented: 'keyType', reason };
      }
      const all = await ev.signatures();
      const candidates = all.flatMap((sig, i) => (sig.kind === 'simple-signing' ? [{ index: i, sig }] : []));
      let keys: Promise<Uint8Array[]> | undefined;
      const loadKeys = async (): Promise<Uint8Array[]> => {
        if (req.keyData !== undefined) return [req.keyData];
        const files = req.keyPaths ?? [req.keyPath ?? ''];
        const out: Uint8Array[] = [];
        for (const f of files) out.push(await readKey(ev, f));
        return out;
      };
      const outcomes = await anySignature(candidates, async (sig) => {
        keys ??= loadKeys();
        const k = await keys;
        if (k.length === 0) throw new Error('No public keys imported');
        const claims = await ev.verifier.verifyGpg((sig as { bytes: Uint8Array }).bytes, k);
        checkClaims(claims, ev.image, req.signedIdentity);
      });
      return signatureOutcome(index, type, outcomes, NO_SIGNATURE);
    }
    case 'sigstoreSigned': {
      const all = await ev.signatures();
      let other = 0;
      let attachments = 0;
      const candidates: { index: number; sig: ImageSignature }[] = [];
      all.forEach((sig, i) => {
        if (sig.kind !== 'sigstore') other++;
        else if (sig.mimeType !== SIGSTORE_SIGNATURE_MIME_TYPE) attachments++;
        else candidates.push({ index: i, sig });
      });
      let key: Promise<Uint8Array> | undefined;
      const outcomes = await anySignature(candidates, async (sig) => {
        key ??= req.keyData !== undefined ? Promise.resolve(req.keyData) : readKey(ev, req.keyPath ?? '');
        const pem = await key;
        const s = sig as Extract<ImageSignature, { kind: 'sigstore' }>;
        const b64 = Object.hasOwn(s.annotations, SIGSTORE_SIGNATURE_ANNOTATION)
          ? s.annotations[SIGSTORE_SIGNATURE_ANNOTATION]
          : undefined;
        if (b64 === undefined) throw new Error(`missing ${SIGSTORE_SIGNATURE_ANNOTATION} annotation`);
        const claims = await ev.verifier.verifySigstore(s.payload, b64, pem);
        checkClaims(claims, ev.image, req.signedIdentity);
      });
      const none =
        other === 0 && attachments === 0
          ? NO_SIGNATURE
          : `${NO_SIGNATURE} (${other} non-sigstore signatures, ${attachments} sigstore non-signature attachments)`;
      return signatureOutcome(index, type, outcomes, none);
    }
  }
}

/**
 * Evaluates `policy` for `image`. Requirements are evaluated in order and evaluation stops at the
 * first that refuses; signatures are asked for once, when the first signature requirement is
 * reached. Key files are read only when there is a signature to check.
 * @throws whatever `image.signatures()` throws (the image is then not accepted either).
 * @category Trust
 */
export async function evaluatePolicy(
  policy: Policy,
  image: PolicyImage,
  verifier: SignatureVerifier,
  opts: EvaluateOptions = {},
): Promise<PolicyDecision> {
  const { scope, requirements } = requirementsFor(policy, image.identity);
  let sigs: Promise<readonly ImageSignature[]> | undefined;
  const ev: Evaluation = { image, verifier, host: opts.host ?? {}, signatures: () => (sigs ??= image.signatures()) };
  const outcomes: RequirementOutcome[] = [];
  for (const [i, req] of requirements.entries()) {
    const o = await evaluateRequirement(ev, req, i);
    outcomes.push(o);
    if (!o.allowed) return { accepted: false, file: policy.file, scope, requirements: outcomes };
  }
  // parsePolicy never yields an empty list; an empty one (a hand-built policy) accepts nothing.
  return { accepted: outcomes.length > 0, file: policy.file, scope, requirements: outcomes };
}

/** How messages name the image: `docker://NAME@DIGEST`, `containers-storage:[…]…`, `dir:/path`. */
export function policyImageName(id: PolicyIdentity): string {
  return id.transport === 'docker' ? `docker://${id.identity}` : `${id.transport}:${id.identity}`;
}

/**
 * The one-line `POLICY` error for a refused decision: the image, the policy file, the scope, the
 * requirement (and, for one ocikit does not implement, the field) and the reason.
 * @category Trust
 */
export function policyRefusal(decision: PolicyDecision, id: PolicyIdentity): OcikitError {
  const failed = decision.requirements.find((r) => !r.allowed);
  const file = decision.file ?? 'the trust policy';
  const where = `${file} (${scopeLabel(decision.scope)})`;
  let what: string;
  if (failed === undefined) what = 'the scope has no requirements';
  else {
    const field = failed.unimplemented !== undefined ? `, field ${JSON.stringify(failed.unimplemented)}` : '';
    const closed = failed.unimplemented !== undefined ? ' by ocikit; the image is refused (fail closed)' : '';
    what = `requirement ${failed.index + 1} (${failed.type}${field}): ${failed.reason ?? 'refused'}${closed}`;
  }
  return new OcikitError('POLICY', `${policyImageName(id)} rejected by trust policy ${where}: ${what}`);
}
