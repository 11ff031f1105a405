/**
 * The real {@link SignatureVerifier}: OpenPGP simple signing (./pgp.ts) and sigstore
 * (./sigstore.ts) behind the interface policy evaluation calls (./evaluate.ts).
 *
 * Keys are imported once per verifier (one verifier per run) and cached by their content: the
 * same `keyPath` file, `keyPaths` list or `keyData` met by several requirements, images or
 * signatures is parsed once (containers/image imports the keys of a `signedBy` requirement anew
 * for every signature; the verdicts are the same). A failed import is cached too: the same bytes
 * fail the same way.
 *
 * Every refusal is a {@link SignatureError} whose message is one line; an unexpected error of
 * the libraries below is turned into one (`bad-signature`), so a verifier never lets a signature
 * through by throwing something else (evaluation refuses on any throw anyway).
 */
import * as crypto from 'node:crypto';
import { escapeControl } from '../internal/text.js';
import { type TrustedGpgKeys, loadGpgKeys, verifyGpg } from './pgp.js';
import { loadSigstorePublicKey, verifySigstore } from './sigstore.js';
import { SignatureError, type SignatureVerifier, type SignedClaims } from './verifier.js';

/** A cache key for a list of byte blobs: the SHA-256 of their lengths and contents. */
function contentKey(blobs: readonly Uint8Array[]): string {
  const h = crypto.createHash('sha256');
  for (const b of blobs) {
    h.update(`${b.length}:`);
    h.update(b);
  }
  return h.digest('hex');
}

/** One line of a thrown value, for a message. */
function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return escapeControl(text.replace(/\s*\n\s*/g, ' ')).slice(0, 500);
}

/** `err` as a {@link SignatureError} (an unexpected error becomes `bad-signature`). */
function asSignatureError(err: unknown): SignatureError {
  if (err instanceof SignatureError) {
    if (!/[\n\r]/.test(err.message)) return err;
    return new SignatureError(err.reason, oneLine(err), { cause: err });
  }
  return new SignatureError('bad-signature', `verifying the signature: ${oneLine(err)}`, { cause: err });
}

/** Options of {@link createSignatureVerifier}. */
export interface SignatureVerifierOptions {
  /** Where the number of key imports is reported (tests check the cache with it). */
  readonly onKeyImport?: ((kind: 'gpg' | 'sigstore') => void) | undefined;
}

/**
 * Creates the verifier a run uses: keys imported once per content and kept for its lifetime.
 * @category Trust
 */
export function createSignatureVerifier(opts: SignatureVerifierOptions = {}): SignatureVerifier {
  const gpgKeys = new Map<string, Promise<TrustedGpgKeys>>();
  const sigstoreKeys = new Map<string, crypto.KeyObject | SignatureError>();

  const trustedGpg = (keys: readonly Uint8Array[]): Promise<TrustedGpgKeys> => {
    const key = contentKey(keys);
    let p = gpgKeys.get(key);
    if (p === undefined) {
      opts.onKeyImport?.('gpg');
      p = loadGpgKeys(keys);
      p.catch(() => undefined); // awaited by every caller; the rejection is kept for them
      gpgKeys.set(key, p);
    }
    return p;
  };

  const sigstoreKey = (pem: Uint8Array): crypto.KeyObject => {
    const key = contentKey([pem]);
    let k = sigstoreKeys.get(key);
    if (k === undefined) {
      opts.onKeyImport?.('sigstore');
      try {
        k = loadSigstorePublicKey(pem);
      } catch (err) {
        k = asSignatureError(err);
      }
      sigstoreKeys.set(key, k);
    }
    if (k instanceof SignatureError) throw k;
    return k;
  };

  return {
    async verifyGpg(signature: Uint8Array, keys: readonly Uint8Array[]): Promise<SignedClaims> {
      try {
        const v = await verifyGpg(signature, await trustedGpg(keys));
        const { signerFingerprint, ...claims } = v;
        return { ...claims, keyIdentity: signerFingerprint };
      } catch (err) {
        throw asSignatureError(err);
      }
    },
    async verifySigstore(payload: Uint8Array, base64Signature: string, publicKeyPem: Uint8Array) {
      try {
        return verifySigstore(payload, base64Signature, sigstoreKey(publicKeyPem));
      } catch (err) {
        throw asSignatureError(err);
      }
    },
  };
}
