/**
 * The real {@link SignatureVerifier}: OpenPGP simple signing (`pgp.ts`) and sigstore (`sigstore.ts`)
 * behind the interface policy evaluation calls (`evaluate.ts`).
 *
 * NOT IMPLEMENTED YET (the trust issue is in progress): every check fails, so no signature is
 * accepted (fail closed).
 */
import { SignatureFailure, type SignatureVerifier } from './verifier.js';

/** Creates the verifier a run uses (it may cache loaded keys). */
export function createSignatureVerifier(): SignatureVerifier {
  return {
    async verifyGpg() {
      throw new SignatureFailure('signature verification is not implemented yet');
    },
    async verifySigstore() {
      throw new SignatureFailure('signature verification is not implemented yet');
    },
  };
}
