/**
 * Fetching an image's signatures from where containers/image 5.23 looks for them for a docker
 * image: the lookaside server named by registries.d (`<lookaside>/<repo>@sha256=<hex>/signature-N`),
 * sigstore attachments (`use-sigstore-attachments`: the `sha256-<hex>.sig` tag's layers), and the
 * registry's signature API extension (`X-Registry-Supports-Signatures`). The sources and their
 * order follow containers/image `docker/docker_image_src.go` `GetSignaturesWithFormat`.
 *
 * NOT IMPLEMENTED YET (the trust issue is in progress): {@link fetchImageSignatures} refuses with
 * `UNSUPPORTED`, so a policy that needs signatures refuses the image (fail closed).
 */
import { OcikitError } from '../errors.js';
import type { Digest } from '../model/digest.js';
import type { ImageSignature } from '../trust/verifier.js';
import type { RegistryClient } from './client.js';
import type { RepositoryLocation } from './transport/bearer.js';

/**
 * Where one image's signatures are looked for (registries.d, as `trust/registries-d.ts` decides
 * it for the endpoint's reference).
 * @category Trust
 */
export interface SignatureLocations {
  /** The lookaside base URL (`lookaside`, or the legacy `sigstore` key), or undefined. */
  readonly lookaside?: string | undefined;
  /** `use-sigstore-attachments`. */
  readonly useSigstoreAttachments: boolean;
}

/**
 * The signatures of manifest `digest` in repository `loc` (the endpoint that served the manifest),
 * in the order containers/image returns them.
 * @throws OcikitError `UNSUPPORTED` (not implemented yet).
 */
export async function fetchImageSignatures(
  _client: RegistryClient,
  _loc: RepositoryLocation,
  _digest: Digest,
  _where: SignatureLocations,
  _signal?: AbortSignal,
): Promise<ImageSignature[]> {
  throw new OcikitError('UNSUPPORTED', 'fetching image signatures is not implemented yet');
}
