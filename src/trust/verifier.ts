/**
 * The boundary between policy evaluation (./evaluate.ts) and signature cryptography: the
 * signatures an image has, and the verifier evaluation calls for each one. The verifier checks the
 * cryptographic signature and parses the payload (simple signing's `critical` section); the
 * evaluation then checks the payload's manifest digest and identity against the image, in
 * containers/image's order (`signature/simple.go` `verifyAndExtractSignature`,
 * `signature/internal/sigstore_payload.go` `VerifySigstorePayload`: digest first, then identity).
 */
import { type ErrorDetails, OcikitError } from '../errors.js';

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
 * and `critical.identity.docker-reference`, ./simple-signing.ts). Nothing here is trusted until
 * evaluation has compared it with the image.
 * @category Trust
 */
export interface SignedClaims {
  /** The manifest digest the signature is for (compared with the image's as a string). */
  readonly dockerManifestDigest: string;
  /** The docker reference the signature is for, as written (the policy decides whether it matches). */
  readonly dockerReference: string;
  /** `optional.creator`, when present. */
  readonly creator?: string | undefined;
  /** `optional.timestamp` (seconds since the epoch), when present. */
  readonly timestamp?: number | undefined;
  /** The signing key's fingerprint, when known, for messages. */
  readonly keyIdentity?: string | undefined;
}

/**
 * Why a signature was refused: `format` (not a signature blob ocikit reads), `payload` (the signed
 * JSON is malformed), `no-keys` (no usable trusted key), `bad-signature` (the cryptographic check
 * failed or the message is not one signed message), `untrusted-key` (signed by a key outside the
 * trusted set), `expired` / `revoked` (the signing key or the signature is not valid now),
 * `key-usage` (the key may not sign).
 * @category Trust
 */
export type SignatureFailureReason =
  | 'format'
  | 'payload'
  | 'no-keys'
  | 'bad-signature'
  | 'untrusted-key'
  | 'expired'
  | 'revoked'
  | 'key-usage';

/**
 * The one error of a refused signature: an {@link OcikitError} `SIGNATURE` whose message says why
 * in one line (no secrets, no key material) and whose `reason` classifies it. A verifier throws
 * it; evaluation treats any other error a verifier throws the same way, its message as the
 * reason: a signature is accepted only when a verifier returns.
 * @category Trust
 */
export class SignatureError extends OcikitError {
  /** The class of the refusal. */
  readonly reason: SignatureFailureReason;
  /**
   * @param reason the class of the refusal
   * @param message why, in one line
   * @param details the error's details (a `cause`)
   */
  constructor(reason: SignatureFailureReason, message: string, details: ErrorDetails = {}) {
    super('SIGNATURE', message, details);
    this.reason = reason;
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
   * @throws SignatureError when it does not verify, or no key could be imported.
   */
  verifyGpg(signature: Uint8Array, keys: readonly Uint8Array[]): Promise<SignedClaims>;
  /**
   * Verifies a sigstore payload and its base64 ECDSA signature (the `dev.cosignproject.cosign/signature`
   * annotation) against a PEM public key, and returns the payload's claims.
   * @throws SignatureError when it does not verify or the key cannot be parsed.
   */
  verifySigstore(payload: Uint8Array, base64Signature: string, publicKeyPem: Uint8Array): Promise<SignedClaims>;
}
