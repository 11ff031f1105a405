/**
 * Verification of content against what it was declared to be: the one place where bytes are
 * hashed, counted and compared with a digest and a size, and the one wording of `DIGEST_MISMATCH`.
 *
 * Every reader, writer, the registry blob sink and fetch verify through {@link Verifier} (chunk by
 * chunk, failing as soon as a blob is longer than declared) or {@link verifyBytes} (whole small
 * objects: manifests, configs). The rule is the OCI image spec's (`descriptor.md`: the size and
 * the digest of the retrieved content must match the descriptor before the content is used).
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { OcikitError } from '../errors.js';
import type { Digest } from './digest.js';

/**
 * What a blob is declared to be: its digest and size in bytes.
 * @category Model
 */
export interface BlobExpectation {
  /** The sha256 digest the content must have. */
  readonly digest: Digest;
  /** The exact length of the content in bytes. */
  readonly size: number;
}

/**
 * The `DIGEST_MISMATCH` error for content whose digest is not the expected one:
 * `<what>: expected digest <expected>, got <actual>`.
 */
export function digestMismatch(what: string, expected: string, actual: string): OcikitError {
  return new OcikitError('DIGEST_MISMATCH', `${what}: expected digest ${expected}, got ${actual}`, {
    expected,
    actual,
  });
}

/**
 * The `DIGEST_MISMATCH` error for content of the wrong length:
 * `<what>: expected <size> bytes, got [at least ]<got>`. `atLeast` says the content was cut off
 * as soon as it passed the declared size.
 */
export function sizeMismatch(what: string, expected: number, got: number, atLeast = false): OcikitError {
  const actual = `${atLeast ? 'at least ' : ''}${got}`;
  return new OcikitError('DIGEST_MISMATCH', `${what}: expected ${expected} bytes, got ${actual}`, {
    expected: String(expected),
    actual,
  });
}

/** Throws {@link digestMismatch} unless `actual` equals `expected`. */
export function expectDigest(what: string, expected: Digest, actual: string): void {
  if (actual !== expected) throw digestMismatch(what, expected, actual);
}

/**
 * Incremental verification of one blob: feed every chunk to {@link Verifier.update}, then call
 * {@link Verifier.finish}. With no expectation it only hashes and counts.
 * @category Model
 */
export class Verifier {
  #hash: Hash = createHash('sha256');
  #bytes = 0;
  readonly #expect: BlobExpectation | undefined;
  readonly #what: string;

  /**
   * Starts verifying one blob.
   * @param expect the declared digest and size, or undefined to only compute them.
   * @param what names the blob in error messages (e.g. `docker.io/library/busybox blob sha256:…`).
   */
  constructor(expect: BlobExpectation | undefined, what: string) {
    this.#expect = expect;
    this.#what = what;
  }

  /** The declared size (0 when nothing is expected). */
  get expectedSize(): number {
    return this.#expect?.size ?? 0;
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Hashes and counts `chunk`.
   * @throws OcikitError `DIGEST_MISMATCH` as soon as more bytes than the declared size arrive
   *   (the chunk is then not hashed).
   */
  update(chunk: Uint8Array): void {
    const n = this.#bytes + chunk.length;
    if (this.#expect !== undefined && n > this.#expect.size) {
      throw sizeMismatch(this.#what, this.#expect.size, n, true);
    }
    this.#bytes = n;
    this.#hash.update(chunk);
  }

  /**
   * Ends the blob and returns its digest.
   * @throws OcikitError `DIGEST_MISMATCH` when the size or the digest is not the declared one.
   */
  finish(): Digest {
    const actual = `sha256:${this.#hash.digest('hex')}` as Digest;
    const e = this.#expect;
    if (e !== undefined) {
      if (this.#bytes !== e.size) throw sizeMismatch(this.#what, e.size, this.#bytes);
      expectDigest(this.#what, e.digest, actual);
    }
    return actual;
  }

  /**
   * Ends a blob hashed elsewhere (a hashing thread: internal/hash-pool.ts), from its sha256 in hex
   * and its byte count, with the checks of {@link Verifier.finish}. The verifier must not have
   * been fed.
   * @throws OcikitError `DIGEST_MISMATCH` when the size or the digest is not the declared one.
   */
  finishWith(hex: string, bytes: number): Digest {
    if (this.#bytes !== 0) throw new Error('Verifier.finishWith after update');
    const e = this.#expect;
    if (e !== undefined && bytes > e.size) throw sizeMismatch(this.#what, e.size, bytes, true);
    const actual = `sha256:${hex}` as Digest;
    if (e !== undefined) {
      if (bytes !== e.size) throw sizeMismatch(this.#what, e.size, bytes);
      expectDigest(this.#what, e.digest, actual);
    }
    return actual;
  }

  /** Starts over (a download restarted from its first byte). */
  reset(): void {
    this.#hash = createHash('sha256');
    this.#bytes = 0;
  }
}

/**
 * Verifies a whole object held in memory: its sha256 must be `expect.digest` and, when given, its
 * length `expect.size`.
 * @returns the digest.
 * @throws OcikitError `DIGEST_MISMATCH`.
 * @category Model
 */
export function verifyBytes(
  bytes: Uint8Array,
  expect: { digest: Digest; size?: number | undefined },
  what: string,
): Digest {
  const v = new Verifier(expect.size === undefined ? undefined : { digest: expect.digest, size: expect.size }, what);
  if (expect.size !== undefined && bytes.length > expect.size) throw sizeMismatch(what, expect.size, bytes.length);
  v.update(bytes);
  const actual = v.finish();
  expectDigest(what, expect.digest, actual);
  return actual;
}

/**
 * A pass-through stream that verifies what flows through it with a {@link Verifier}; it fails the
 * pipeline with `DIGEST_MISMATCH` as soon as more bytes than declared pass, and at the end when the
 * size or digest differs, so downstream never sees a successful end of unverified data.
 * @category Model
 */
export class DigestingStream extends Transform {
  readonly #verifier: Verifier;
  #digest: Digest | undefined;

  /**
   * A stream for one blob.
   * @param expect the declared digest and size; without it the stream only hashes and counts.
   * @param what names the blob in error messages.
   */
  constructor(expect?: BlobExpectation, what = 'blob') {
    super();
    this.#verifier = new Verifier(expect, what);
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.#verifier.bytes;
  }

  /** The digest of everything seen; available once the stream has ended. */
  get digest(): Digest {
    if (this.#digest === undefined) throw new Error('DigestingStream: digest read before the end');
    return this.#digest;
  }

  /** Node's Transform hook: verifies `chunk` and passes it on. */
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.#verifier.update(chunk);
    } catch (err) {
      cb(err as Error);
      return;
    }
    cb(null, chunk);
  }

  /** Node's Transform hook at the end: fails unless size and digest are the declared ones. */
  override _flush(cb: TransformCallback): void {
    try {
      this.#digest = this.#verifier.finish();
    } catch (err) {
      cb(err as Error);
      return;
    }
    cb();
  }
}

/**
 * The blobs that `descriptors` (a manifest's config and layers) name, each digest once, as its
 * first descriptor. Two descriptors that give one digest different sizes are refused: a digest
 * names one byte string, so one of them is wrong, and whichever size were trusted the other
 * descriptor would fail when the image is read. Every descriptor is compared with the first one
 * of its digest, not only the last.
 * @throws OcikitError `INVALID_MANIFEST` naming the digest and both sizes.
 */
export function distinctBlobs<D extends BlobExpectation>(descriptors: readonly D[], what: string): D[] {
  const first = new Map<Digest, D>();
  for (const d of descriptors) {
    const seen = first.get(d.digest);
    if (seen === undefined) first.set(d.digest, d);
    else if (seen.size !== d.size) {
      throw new OcikitError(
        'INVALID_MANIFEST',
        `${what}: blob ${d.digest} is declared with two sizes, ${seen.size} and ${d.size} bytes`,
      );
    }
  }
  return [...first.values()];
}
