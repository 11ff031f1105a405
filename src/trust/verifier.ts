/**
 * The boundary between policy evaluation (./evaluate.ts) and signature cryptography: the
 * signatures an image has, and the verifier evaluation calls for each one. The verifier checks the
 * cryptographic signature and parses the payload (simple signing's `critical` section); the
 * evaluation then checks the payload's manifest digest and identity against the image, in
 * containers/image's order (`signature/simple.go` `verifyAndExtractSignature`,
 * `signature/internal/sigstore_payload.go` `VerifySigstorePayload`: digest first, then identity).
 */

/**
 * One signature of an image, as found (lookaside `signature-N`, a sigstore attachment layer).
 * @category Trust
 */
export type ImageSignature =
  | {
      /** A simple-signing signature: an OpenPGP message wrapping the JSON payload. */
      readonly kind: 'simple-signing';
      /** The signature file's bytes. */
      readonly bytes: Uint8Array;
      /** Where it was found (a URL or path), for messages. */
      readonly source?: string | undefined;
    }
  | {
      /** A sigstore signature: a layer of the `sha256-<hex>.sig` attachment image. */
      readonly kind: 'sigstore';
      /** The layer's media type (only `application/vnd.dev.cosign.simplesigning.v1+json` is a signature). */
      readonly mimeType: string;
      /** The layer's bytes: the JSON payload. */
      readonly payload: Uint8Array;
      /** The layer's annotations (`dev.cosignproject.cosign/signature` holds the base64 signature). */
      readonly annotations: Readonly<Record<string, string>>;
      /** Where it was found, for messages. */
      readonly source?: string | undefined;
    };

/**
 * What a verified signature claims, read from its payload (`critical.image.docker-manifest-digest`
 * and `critical.identity.docker-reference`). Nothing here is trusted until evaluation has compared
 * it with the image.
 * @category Trust
 */
export interface SignedClaims {
  /** The manifest digest the signature is for (not validated as a digest: compared as a string). */
  readonly dockerManifestDigest: string;
  /** The docker reference the signature is for. */
  readonly dockerReference: string;
  /** The signing key's fingerprint, when known, for messages. */
  readonly keyIdentity?: string | undefined;
}

/**
 * The error a verifier throws when a signature does not verify: `reason` says why in one line
 * (wrong key, bad payload, not a signature). Any other error thrown by a verifier is treated the
 * same way, its message as the reason: a signature is accepted only when a verifier returns.
 * @category Trust
 */
export class SignatureFailure extends Error {
  override readonly name = 'SignatureFailure';
  /**
   * @param reason why the signature was not accepted (no secrets, no key material)
   */
  constructor(readonly reason: string) {
    super(reason);
  }
}

/**
 * The signature checks evaluation needs; injected, so evaluation can be tested with fakes and the
 * cryptography lives in its own modules.
 * @category Trust
 */
export interface SignatureVerifier {
  /**
   * Verifies a simple-signing signature against the public keys `keys` (each an armored or binary
   * OpenPGP key ring, as read from `keyPath`/`keyPaths`/`keyData`) and returns its claims.
   * @throws SignatureFailure when it does not verify, or no key could be imported.
   */
  verifyGpg(signature: Uint8Array, keys: readonly Uint8Array[]): Promise<SignedClaims>;
  /**
   * Verifies a sigstore payload and its base64 ECDSA signature (the `dev.cosignproject.cosign/signature`
   * annotation) against a PEM public key, and returns the payload's claims.
   * @throws SignatureFailure when it does not verify or the key cannot be parsed.
   */
  verifySigstore(payload: Uint8Array, base64Signature: string, publicKeyPem: Uint8Array): Promise<SignedClaims>;
}

/** The media type of a sigstore signature layer. */
export const SIGSTORE_SIGNATURE_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
/** The annotation holding a sigstore layer's base64 signature. */
export const SIGSTORE_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
