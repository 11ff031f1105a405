/**
 * Sigstore (cosign) signatures verified with a public key, as containers/image 5.23's
 * `sigstoreSigned` requirement does (`signature/policy_eval_sigstore.go`,
 * `signature/internal/sigstore_payload.go` `VerifySigstorePayload`; the key handling of
 * sigstore/sigstore v1.4.2 `pkg/cryptoutils/publickey.go` and `pkg/signature/verifier.go`):
 * - the key is the first PEM block of `keyPath`/`keyData` (Go's `pem.Decode`); its type must be
 *   `PUBLIC KEY` (SubjectPublicKeyInfo) or `RSA PUBLIC KEY` (PKCS #1); of the keys Go's
 *   `x509.ParsePKIXPublicKey` reads, `LoadVerifier` takes RSA (PKCS #1 v1.5 with SHA-256), ECDSA
 *   (P-224, P-256, P-384, P-521; ASN.1 DER signatures over the SHA-256 digest) and Ed25519 (over
 *   the payload itself); DSA, RSA-PSS, X25519 and the rest are refused;
 * - the signature is the base64 text (Go's padded `StdEncoding`) of the
 *   `dev.cosignproject.cosign/signature` annotation, over the exact payload bytes;
 * - only then is the payload parsed (./simple-signing.ts, `critical.type`
 *   `cosign container image signature`, `"optional": null` allowed).
 */
import * as crypto from 'node:crypto';
import { STD_ALPHABET, goBase64Decode } from '../gojson/base64.js';
import { SIGSTORE_PAYLOAD_TYPE, parseSignaturePayload } from './simple-signing.js';
import { SignatureError, type SignedClaims } from './verifier.js';

/** The media type of a sigstore signature layer (cosign's `SimpleSigningMediaType`). */
export const SIGSTORE_SIGNATURE_MIME_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
/** The annotation holding the base64 signature (cosign's `SignatureAnnotationKey`). */
export const SIGSTORE_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';

/** Curves Go's `x509.ParsePKIXPublicKey` reads, by OpenSSL name. */
const GO_CURVES: ReadonlySet<string> = new Set(['prime256v1', 'secp384r1', 'secp521r1', 'secp224r1']);

/** The first PEM block Go's `pem.Decode` finds: its type and DER bytes, or undefined. */
function firstPemBlock(text: string): { type: string; der: Uint8Array } | undefined {
  const re = /(?:^|\n)-----BEGIN ([^\n]*?)-----[ \t\r]*\n([\s\S]*?)\n-----END \1-----/g;
  for (const m of text.matchAll(re)) {
    const [, type = '', body = ''] = m;
    if (/^[^\n]*:/.test(body)) continue; // RFC 1421 headers: no public key uses them
    try {
      return { type, der: goBase64Decode(body.replace(/[ \t]/g, ''), STD_ALPHABET) };
    } catch {
      // Go skips a block whose body does not decode and looks further.
    }
  }
  return undefined;
}

/**
 * Reads a sigstore public key from PEM bytes as sigstore's `UnmarshalPEMToPublicKey` +
 * `LoadVerifier` accept it.
 * @throws SignatureError `no-keys` for anything else.
 */
export function loadSigstorePublicKey(pem: Uint8Array): crypto.KeyObject {
  const block = firstPemBlock(Buffer.from(pem).toString('latin1'));
  if (block === undefined) throw new SignatureError('no-keys', 'parsing public key: PEM decoding failed');
  const type = block.type === 'PUBLIC KEY' ? 'spki' : block.type === 'RSA PUBLIC KEY' ? 'pkcs1' : undefined;
  if (type === undefined) {
    throw new SignatureError(
      'no-keys',
      `parsing public key: unknown public key PEM file type ${block.type.slice(0, 80)}`,
    );
  }
  let key: crypto.KeyObject;
  try {
    key = crypto.createPublicKey({ key: Buffer.from(block.der), format: 'der', type });
  } catch (err) {
    throw new SignatureError('no-keys', `parsing public key: ${(err as Error).message}`, { cause: err });
  }
  const kind = key.asymmetricKeyType;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  const ok = kind === 'rsa' || kind === 'ed25519' || (kind === 'ec' && curve !== undefined && GO_CURVES.has(curve));
  if (!ok)
    throw new SignatureError(
      'no-keys',
      `unsupported public key type ${kind ?? 'unknown'}${curve ? ` (${curve})` : ''}`,
    );
  return key;
}

/** The cryptographic check of `LoadVerifier(key, SHA256).VerifySignature`. */
function cryptoVerify(key: crypto.KeyObject, payload: Uint8Array, sig: Uint8Array): boolean {
  try {
    switch (key.asymmetricKeyType) {
      case 'ed25519':
        return crypto.verify(null, payload, key, sig);
      case 'ec':
        return crypto.verify('sha256', payload, { key, dsaEncoding: 'der' }, sig);
      default:
        return crypto.verify('sha256', payload, { key, padding: crypto.constants.RSA_PKCS1_PADDING }, sig);
    }
  } catch {
    return false; // a malformed signature (bad DER, wrong length) fails like a wrong one
  }
}

/**
 * Verifies a sigstore signature: `base64Signature` (the annotation's value) over `payload` with
 * `publicKey` (PEM bytes, or a key from {@link loadSigstorePublicKey}), then parses the payload.
 * The caller checks the digest and the identity against the image.
 * @throws SignatureError `no-keys`, `bad-signature`, `payload`.
 */
export function verifySigstore(
  payload: Uint8Array,
  base64Signature: string,
  publicKey: Uint8Array | crypto.KeyObject,
): SignedClaims {
  const key = publicKey instanceof crypto.KeyObject ? publicKey : loadSigstorePublicKey(publicKey);
  let sig: Uint8Array;
  try {
    sig = goBase64Decode(base64Signature, STD_ALPHABET);
  } catch (err) {
    throw new SignatureError('bad-signature', `base64 decoding: ${(err as Error).message}`, { cause: err });
  }
  if (!cryptoVerify(key, payload, sig)) {
    throw new SignatureError('bad-signature', 'cryptographic signature verification failed');
  }
  return parseSignaturePayload(payload, SIGSTORE_PAYLOAD_TYPE, 'sigstore payload');
}
