/**
 * Reading a manifest through a pull plan (`endpoints.ts`): the endpoints are tried in order
 * (mirrors first, the primary last, as containers/image `docker/docker_image_src.go` does) and the
 * first that serves wins; the rest of the image then comes from that endpoint. `fetch` and
 * `resolve` both pull this way.
 */
import { OcikitError, isOcikitError } from '../errors.js';
import type { Digest } from '../model/digest.js';
import { formatDockerReference } from '../model/docker-reference.js';
import { type ParsedManifest, manifestDigest, parseManifest } from '../model/manifest.js';
import { expectDigest } from '../model/verify.js';
import type { Endpoint, EndpointPlan } from './endpoints.js';

/** The errors of one endpoint that make a pull try the next one. */
const ENDPOINT_FALLBACK: ReadonlySet<string> = new Set(['NOT_FOUND', 'REGISTRY', 'MANIFEST_TOO_LARGE']);

/**
 * Runs `attempt` on the endpoints of `plan` in order and returns the first success with its
 * endpoint. An endpoint that is {@link Endpoint.unusable} (blocked, broken certs.d) is passed over
 * without a request, as one that fails with `NOT_FOUND`, `REGISTRY` or `MANIFEST_TOO_LARGE` is;
 * any other error (content that fails verification) is thrown at once, as skopeo fails once it
 * checks what an endpoint sent. When every endpoint fails the error is the primary's, after the
 * mirrors' (containers/image: `(Mirrors also failed: …): primary: error`).
 */
export async function firstServing<T>(
  plan: EndpointPlan,
  signal: AbortSignal | undefined,
  attempt: (endpoint: Endpoint) => Promise<T>,
): Promise<{ value: T; endpoint: Endpoint }> {
  const failures: { endpoint: Endpoint; err: OcikitError }[] = [];
  for (const endpoint of plan.endpoints) {
    try {
      if (endpoint.unusable !== undefined) throw endpoint.unusable;
      return { value: await attempt(endpoint), endpoint };
    } catch (err) {
      const passes = isOcikitError(err) && (ENDPOINT_FALLBACK.has(err.code) || endpoint.unusable !== undefined);
      if (!passes || signal?.aborted) throw err;
      failures.push({ endpoint, err });
    }
  }
  const primary = failures.at(-1)!;
  if (failures.length === 1) throw primary.err;
  const mirrors = failures
    .slice(0, -1)
    .map((f) => `[${formatDockerReference(f.endpoint.ref)}: ${f.err.message}]`)
    .join(', ');
  const at = formatDockerReference(primary.endpoint.ref);
  throw new OcikitError(primary.err.code, `(mirrors also failed: ${mirrors}): ${at}: ${primary.err.message}`, {
    cause: primary.err,
  });
}

/**
 * Parses fetched manifest bytes and, when `digest` is given, checks their digest (`parsed.digest`)
 * is that one. Bytes that do not even parse are first of all not what was asked for: when their
 * digest differs too (a lying registry or proxy), the error is that `DIGEST_MISMATCH`.
 * @throws OcikitError `INVALID_MANIFEST`, `DIGEST_MISMATCH`.
 */
export function verifiedManifest(bytes: Uint8Array, digest: Digest | undefined, what: string): ParsedManifest {
  let parsed: ParsedManifest;
  try {
    parsed = parseManifest(bytes, what);
  } catch (err) {
    if (digest !== undefined && isOcikitError(err, 'INVALID_MANIFEST')) {
      let actual: Digest | undefined;
      try {
        actual = manifestDigest(bytes);
      } catch {
        // undigestable as well: the parse error says why
      }
      if (actual !== undefined) expectDigest(what, digest, actual);
    }
    throw err;
  }
  if (digest !== undefined) expectDigest(what, digest, parsed.digest);
  return parsed;
}
