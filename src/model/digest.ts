/**
 * Digests: the `algorithm:hex` content addresses of the OCI image spec.
 *
 * ocikit computes and accepts sha256 digests only, the one algorithm skopeo 1.9.3 (containers/image
 * v5.23) writes and every osbuild contract uses. A {@link Digest} is a branded string that has
 * passed the anchored pattern `^sha256:[0-9a-f]{64}$`, so it is safe to join into a path. Hashing is
 * always over raw bytes; verification against a declared digest and size is in `verify.ts`.
 */
import { createHash } from 'node:crypto';
import { OcikitError } from '../errors.js';
import { jsonText } from '../internal/guards.js';

/**
 * A validated `sha256:<64 lowercase hex>` string.
 * @category Model
 */
export type Digest = string & {
  /** Type-only brand, so that only validated strings are digests; absent at run time. */
  readonly __brand: 'Digest';
};

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/**
 * True when `value` is a valid sha256 digest (anchored, lowercase hex).
 * @category Model
 */
export function isDigest(value: unknown): value is Digest {
  return typeof value === 'string' && DIGEST_RE.test(value);
}

/**
 * Validates `value` as a digest.
 * @param what names the value in the error message (e.g. `manifest-lists key`).
 * @throws OcikitError `INVALID_DIGEST` when it is not `sha256:` + 64 lowercase hex.
 * @category Model
 */
export function parseDigest(value: unknown, what = 'digest'): Digest {
  if (!isDigest(value)) {
    throw new OcikitError(
      'INVALID_DIGEST',
      `${what} ${jsonText(value)} is not a sha256 digest (sha256:<64 lowercase hex>)`,
    );
  }
  return value;
}

/**
 * The 64-character hex part of a digest (what `dir:` names blobs by).
 * @category Model
 */
export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

/**
 * The sha256 digest of `bytes` (a string is hashed as UTF-8).
 * @category Model
 */
export function sha256(bytes: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;
}
