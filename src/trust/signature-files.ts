/**
 * The codec of signatures as skopeo 1.9.3's `dir:` transport stores them (containers/image 5.23
 * `directory/directory_dest.go` `PutSignaturesWithFormat`, `directory/directory_src.go`
 * `GetSignaturesWithFormat`, `directory/directory_transport.go` `signaturePath`, and the blob
 * format of `internal/signature/signature.go` `Blob`/`FromBlob`):
 * - the n-th signature (n from 1) of the image is `signature-<n>`; of an instance of a list stored
 *   in the same directory, `<hex of the instance digest>.signature-<n>`; reading stops at the first
 *   missing number;
 * - a simple-signing signature is stored as its OpenPGP bytes (the historical format);
 * - any other format is a zero byte, the format name, a newline and the data: a sigstore
 *   signature is `\0sigstore-json\n` followed by Go's `json.Marshal` of
 *   `{"mimeType", "payload" (base64), "annotations" (keys sorted)}`;
 * - a blob is recognised by its first byte: an OpenPGP compressed-data, one-pass-signature or
 *   signature packet header is simple signing; `\0` starts the named format (printable ASCII
 *   name; `simple-signing` and `sigstore-json` known); anything else, or an empty file, is refused,
 *   and so is the whole read, as in containers/image.
 *
 * The files themselves are read and written by the `dir:` transport (`transports/dir/read.ts`
 * `readDirSignatures`, `transports/dir/write.ts` `finishDirImage`), which never overwrites one;
 * this module turns their bytes into signatures and back.
 */
import { T, decodeGo, type GoStruct } from '../gojson/decode.js';
import { encodeGo } from '../gojson/encode.js';
import { parseGoJSON } from '../gojson/parse.js';
import { digestHex, parseDigest, type Digest } from '../model/digest.js';
import { SignatureError } from './verifier.js';

/** A signature as stored: its format and content. */
export type StoredSignature =
  | {
      readonly format: 'simple-signing';
      /** The OpenPGP signed message. */
      readonly blob: Uint8Array;
    }
  | {
      readonly format: 'sigstore';
      /** The layer media type it came from (`application/vnd.dev.cosign.simplesigning.v1+json`). */
      readonly mimeType: string;
      /** The payload bytes (the signed JSON). */
      readonly payload: Uint8Array;
      /** The layer's annotations (the signature is `dev.cosignproject.cosign/signature`). */
      readonly annotations: ReadonlyMap<string, string>;
    };

/** Go's `sigstoreJSONRepresentation`. */
const SIGSTORE_JSON = T.struct({ mimeType: T.string, payload: T.bytes, annotations: T.map(T.string) });

/** The format names of the `\0name\n` form. */
const SIGSTORE_FORMAT = 'sigstore-json';
const SIMPLE_SIGNING_FORMAT = 'simple-signing';

/**
 * First bytes `FromBlob` takes as simple signing: OpenPGP compressed data (old format 0xA0–0xA3,
 * new 0xC8), one-pass signature (0x90–0x92, new 0xC4; 0x3D is in containers/image's list too, where
 * 0x93 would be expected, so it is accepted here as well) and signature packets (0x88–0x8B, 0xC2).
 */
const OPENPGP_FIRST_BYTES: ReadonlySet<number> = new Set([
  0xa0, 0xa1, 0xa2, 0xa3, 0xc8, 0x90, 0x91, 0x92, 0x3d, 0xc4, 0x88, 0x89, 0x8a, 0x8b, 0xc2,
]);

/** The file name of the `n`-th signature (from 1), of `instance` of a list when given. */
export function signatureFileName(n: number, instance?: Digest): string {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`signature number ${n}`);
  const prefix = instance === undefined ? '' : `${digestHex(parseDigest(instance, 'instance digest'))}.`;
  return `${prefix}signature-${n}`;
}

/**
 * Parses a stored signature blob as `FromBlob` does (see above). `what` names it in messages.
 * @throws SignatureError `format`.
 */
export function decodeSignatureBlob(blob: Uint8Array, what = 'signature'): StoredSignature {
  function fail(msg: string, cause?: unknown): never {
    throw new SignatureError('format', `${what}: ${msg}`, cause === undefined ? {} : { cause });
  }
  const first = blob[0];
  if (first === undefined) fail('empty signature blob');
  if (OPENPGP_FIRST_BYTES.has(first)) return { format: 'simple-signing', blob };
  if (first !== 0) fail(`unrecognized signature format, starting with binary 0x${first.toString(16)}`);
  const newline = blob.indexOf(0x0a, 1);
  if (newline === -1) fail('invalid signature format, missing newline');
  const name = blob.subarray(1, newline);
  for (const b of name) if (b < 32 || b >= 0x7f) fail(`invalid signature format, non-ASCII byte 0x${b.toString(16)}`);
  const format = Buffer.from(name).toString('latin1');
  const chunk = blob.subarray(newline + 1);
  if (format === SIMPLE_SIGNING_FORMAT) return { format: 'simple-signing', blob: chunk };
  if (format !== SIGSTORE_FORMAT) fail(`unrecognized signature format ${JSON.stringify(format.slice(0, 80))}`);
  let v: GoStruct;
  try {
    v = decodeGo(parseGoJSON(chunk), SIGSTORE_JSON) as GoStruct;
  } catch (err) {
    fail(`sigstore signature: ${(err as Error).message}`, err);
  }
  const annotations = new Map<string, string>();
  for (const [k, val] of (v.annotations as Map<string, string | undefined> | undefined) ?? []) {
    annotations.set(k, val ?? '');
  }
  return {
    format: 'sigstore',
    mimeType: (v.mimeType as string | undefined) ?? '',
    payload: (v.payload as Uint8Array | undefined) ?? new Uint8Array(),
    annotations,
  };
}

/** A stored signature's bytes, as `Blob` writes them (see above). */
export function encodeSignatureBlob(sig: StoredSignature): Uint8Array {
  if (sig.format === 'simple-signing') return sig.blob;
  const json = encodeGo(
    { mimeType: sig.mimeType, payload: sig.payload, annotations: new Map(sig.annotations) },
    SIGSTORE_JSON,
  );
  return Buffer.concat([Buffer.from([0]), Buffer.from(`${SIGSTORE_FORMAT}\n`), Buffer.from(json)]);
}
