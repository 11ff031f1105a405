/**
 * Digests: the `algorithm:hex` content addresses of the OCI image spec.
 *
 * ocikit computes and accepts sha256 digests only, the one algorithm skopeo 1.9.3 (containers/image
 * v5.23) writes and every osbuild contract uses. A {@link Digest} is a branded string that has
 * passed the anchored pattern `^sha256:[0-9a-f]{64}$`, so it is safe to join into a path. Hashing is
 * always over raw bytes; the streaming helpers verify digest and size while data passes, so memory
 * does not grow with blob size.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { OcikitError } from '../errors.js';

/** A validated `sha256:<64 lowercase hex>` string. */
export type Digest = string & { readonly __brand: 'Digest' };

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/** True when `value` is a valid sha256 digest (anchored, lowercase hex). */
export function isDigest(value: unknown): value is Digest {
  return typeof value === 'string' && DIGEST_RE.test(value);
}

/**
 * Validates `value` as a digest.
 * @param what names the value in the error message (e.g. `manifest-lists key`).
 * @throws OcikitError `INVALID_DIGEST` when it is not `sha256:` + 64 lowercase hex.
 */
export function parseDigest(value: unknown, what = 'digest'): Digest {
  if (!isDigest(value)) {
    throw new OcikitError(
      'INVALID_DIGEST',
      `${what} ${JSON.stringify(value)} is not a sha256 digest (sha256:<64 lowercase hex>)`,
    );
  }
  return value;
}

/** The 64-character hex part of a digest (what `dir:` names blobs by). */
export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

/** Builds a digest from a 64-character lowercase hex string. */
export function digestFromHex(hex: string): Digest {
  return parseDigest(`sha256:${hex}`);
}

/** The sha256 digest of `bytes`. */
export function sha256(bytes: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;
}

/** What a blob is declared to be: its digest and size in bytes. */
export interface BlobExpectation {
  readonly digest: Digest;
  readonly size: number;
}

/**
 * A pass-through stream that hashes what flows through it and counts bytes. When `expect` is
 * given, it fails the pipeline with `DIGEST_MISMATCH` as soon as more bytes than the declared size
 * pass, and at the end when the size or digest differs; downstream never sees a successful end of
 * unverified data.
 */
export class DigestingStream extends Transform {
  readonly #hash: Hash = createHash('sha256');
  readonly #expect: BlobExpectation | undefined;
  readonly #label: string;
  #bytes = 0;
  #digest: Digest | undefined;

  constructor(expect?: BlobExpectation, label = 'blob') {
    super();
    this.#expect = expect;
    this.#label = label;
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The digest of everything seen; available once the stream has ended. */
  get digest(): Digest {
    if (this.#digest === undefined) throw new Error('DigestingStream: digest read before the end');
    return this.#digest;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#bytes += chunk.length;
    if (this.#expect && this.#bytes > this.#expect.size) {
      cb(sizeMismatch(this.#label, this.#expect, this.#bytes, true));
      return;
    }
    this.#hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.#digest = `sha256:${this.#hash.digest('hex')}` as Digest;
    const e = this.#expect;
    if (e && this.#bytes !== e.size) {
      cb(sizeMismatch(this.#label, e, this.#bytes, false));
      return;
    }
    if (e && this.#digest !== e.digest) {
      cb(
        new OcikitError('DIGEST_MISMATCH', `${this.#label}: expected digest ${e.digest}, got ${this.#digest}`, {
          expected: e.digest,
          actual: this.#digest,
        }),
      );
      return;
    }
    cb();
  }
}

function sizeMismatch(label: string, e: BlobExpectation, got: number, atLeast: boolean): OcikitError {
  const actual = `${atLeast ? 'at least ' : ''}${got}`;
  return new OcikitError('DIGEST_MISMATCH', `${label} ${e.digest}: expected ${e.size} bytes, got ${actual}`, {
    expected: String(e.size),
    actual,
  });
}
