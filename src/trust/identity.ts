/**
 * Image identities in signatures: docker references parsed as containers/image 5.23's
 * `docker/reference.ParseNormalizedNamed` does, and the `signedIdentity` rules of a policy
 * requirement (containers/image `signature/policy_reference_match.go`), which compare the image's
 * reference with the `docker-reference` a signature claims.
 *
 * The grammar is model/docker-reference.ts's; this module adds the three places where
 * containers/image 5.23 differs from it and a signature can tell: digests of any algorithm
 * go-digest knows (sha256, sha384, sha512), a first component with upper-case letters that is not
 * a domain (5.23 reads `Foo/bar` as `docker.io/Foo/bar` and refuses it), and the 255-character
 * limit applied to the normalised name.
 */
import { type DockerReference, parseDockerReference } from '../model/docker-reference.js';

/**
 * A normalised docker reference as containers/image's `reference.Named` holds it: the name
 * (`domain/path`), and a tag and a digest when it has them.
 * @category Trust
 */
export interface NamedReference {
  /** `domain/path`, normalised (`docker.io/library/busybox`). */
  readonly name: string;
  /** The tag, when the reference has one. */
  readonly tag?: string | undefined;
  /** The digest (`algorithm:hex`), when the reference has one. */
  readonly digest?: string | undefined;
}

/** go-digest's algorithms and the length of their hex encoding. */
const DIGEST_HEX_LENGTH: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };

/** `reference.DigestRegexp` of containers/image 5.23 (anchored), before go-digest's own validation. */
const REFERENCE_DIGEST_RE = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;

/** True when go-digest's `digest.Parse(s)` accepts `s`: a known algorithm and its exact lowercase hex. */
export function isGoDigest(s: string): boolean {
  const colon = s.indexOf(':');
  if (colon <= 0) return false;
  const n = DIGEST_HEX_LENGTH[s.slice(0, colon)];
  return n !== undefined && new RegExp(`^[a-f0-9]{${n}}$`).test(s.slice(colon + 1));
}

/** The string form of a reference: `name[:tag][@digest]` (containers/image's `String()`). */
export function referenceString(ref: NamedReference): string {
  return `${ref.name}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** The {@link NamedReference} of a parsed model reference. */
export function namedFromDocker(ref: DockerReference): NamedReference {
  return { name: `${ref.domain}/${ref.path}`, tag: ref.tag, digest: ref.digest };
}

/**
 * Parses `s` as containers/image 5.23's `reference.ParseNormalizedNamed`.
 * @returns the reference, or a string saying why `s` is not one.
 */
export function parseNormalizedNamed(s: string): NamedReference | string {
  let rest = s;
  let digest: string | undefined;
  const at = s.indexOf('@');
  if (at >= 0) {
    digest = s.slice(at + 1);
    rest = s.slice(0, at);
    if (!REFERENCE_DIGEST_RE.test(digest)) return `invalid reference format: ${JSON.stringify(s)}`;
    if (!isGoDigest(digest)) return `unsupported or invalid digest ${JSON.stringify(digest)}`;
  }
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  if (first.includes('[')) return `invalid reference format: ${JSON.stringify(s)}`; // no IPv6 literals in 5.23
  if (slash >= 0 && !/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() !== first) {
    return 'invalid reference format: repository name must be lowercase';
  }
  let parsed: DockerReference;
  try {
    parsed = parseDockerReference(rest, 'docker reference');
  } catch (err) {
    return (err as Error).message;
  }
  const named = namedFromDocker(parsed);
  if (named.name.length > 255) return 'repository name must not be more than 255 characters';
  return { name: named.name, tag: named.tag, digest };
}

/** containers/image's `reference.IsNameOnly`: neither a tag nor a digest. */
function isNameOnly(ref: NamedReference): boolean {
  return ref.tag === undefined && ref.digest === undefined;
}

/**
 * How a requirement compares the image's identity with the one a signature claims
 * (containers-policy.json(5) `signedIdentity`).
 * @category Trust
 */
export type ReferenceMatch =
  | { readonly type: 'matchRepoDigestOrExact' }
  | { readonly type: 'matchExact' }
  | { readonly type: 'matchRepository' }
  | { readonly type: 'exactReference'; readonly dockerReference: string }
  | { readonly type: 'exactRepository'; readonly dockerRepository: string }
  | { readonly type: 'remapIdentity'; readonly prefix: string; readonly signedPrefix: string };

/** `matchRepoDigestOrExact` on parsed values (containers/image `matchRepoDigestOrExactReferenceValues`). */
function repoDigestOrExact(intended: NamedReference, signed: NamedReference): boolean {
  if (isNameOnly(signed)) return false;
  if (intended.tag !== undefined) return referenceString(signed) === referenceString(intended);
  // A digested image: the digest itself is checked against the manifest, so the repository decides.
  if (intended.digest !== undefined) return signed.name === intended.name;
  return false;
}

/** `remapIdentity`: does `ref`'s name lie at or under `prefix`? */
function matchesPrefix(ref: NamedReference, prefix: string): boolean {
  if (ref.name.length <= prefix.length) return ref.name === prefix;
  return ref.name.startsWith(prefix) && ref.name[prefix.length] === '/';
}

/** `remapIdentity`: `ref` with `prefix` replaced by `signedPrefix`, or undefined when that is not a canonical reference. */
function remap(ref: NamedReference, prefix: string, signedPrefix: string): NamedReference | undefined {
  if (!matchesPrefix(ref, prefix)) return ref;
  const text = referenceString(ref);
  const rewritten = signedPrefix + text.slice(prefix.length);
  // reference.ParseNamed: the rewritten string must already be in normalised form.
  const parsed = parseNormalizedNamed(rewritten);
  return typeof parsed === 'string' || referenceString(parsed) !== rewritten ? undefined : parsed;
}

/**
 * Whether a signature claiming `signedReference` satisfies `match` for an image whose reference
 * is `intended` (null when the image has no docker reference, as `dir:` and `oci:` images).
 * Follows containers/image 5.23 `policy_reference_match.go` exactly: a signature reference that
 * does not parse, or an image without a reference, never matches (except for `exactReference` and
 * `exactRepository`, which do not look at the image).
 * @category Trust
 */
export function matchesSignedIdentity(
  match: ReferenceMatch,
  intended: NamedReference | null,
  signedReference: string,
): boolean {
  const signed = parseNormalizedNamed(signedReference);
  if (typeof signed === 'string') return false;
  switch (match.type) {
    case 'exactReference': {
      const want = parseNormalizedNamed(match.dockerReference);
      if (typeof want === 'string' || isNameOnly(want) || isNameOnly(signed)) return false;
      return referenceString(signed) === referenceString(want);
    }
    case 'exactRepository': {
      const want = parseNormalizedNamed(match.dockerRepository);
      return typeof want !== 'string' && signed.name === want.name;
    }
    default:
      break;
  }
  if (intended === null) return false;
  switch (match.type) {
    case 'matchExact':
      if (isNameOnly(intended) || isNameOnly(signed)) return false;
      return referenceString(signed) === referenceString(intended);
    case 'matchRepoDigestOrExact':
      return repoDigestOrExact(intended, signed);
    case 'matchRepository':
      return signed.name === intended.name;
    case 'remapIdentity': {
      const remapped = remap(intended, match.prefix, match.signedPrefix);
      return remapped !== undefined && repoDigestOrExact(remapped, signed);
    }
  }
}

// containers/image 5.23 docker/reference/regexp.go, anchored.
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]+)?`;
const NAME_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*';
const DOMAIN_RE = new RegExp(`^${DOMAIN}$`);
const DOMAIN_PREFIX_RE = new RegExp(`^${DOMAIN}/`);
const NAME_RE = new RegExp(`^(?:${DOMAIN}/)?${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);

/**
 * containers/image `validateIdentityRemappingPrefix`: a `prefix` or `signedPrefix` of
 * `remapIdentity` must be a domain (`host[:port]`) or a name that starts with one.
 * @returns undefined when valid, else the reason.
 */
export function remapPrefixProblem(s: string): string | undefined {
  if (DOMAIN_RE.test(s) || (NAME_RE.test(s) && DOMAIN_PREFIX_RE.test(s))) return undefined;
  return `prefix ${JSON.stringify(s)} is not valid`;
}
