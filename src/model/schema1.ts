/**
 * The signed payload of a Docker schema 1 manifest ("pretty JWS"), rebuilt the way libtrust's
 * `ParsePrettySignature` + `Payload()` do it, so that `manifestDigest` equals `skopeo manifest-digest`.
 *
 * A signed schema 1 manifest is its unsigned JSON with a `"signatures": [...]` member spliced in
 * before the closing brace. Each signature's `protected` header (base64url JSON) records
 * `formatLength` (how many leading bytes of the file belong to the payload) and `formatTail`
 * (base64url of the bytes that replace the rest, normally `"\n}"`). The payload is
 * `bytes[0:formatLength] + formatTail`; nothing after `formatLength` counts.
 *
 * Followed exactly (containers/libtrust `jsonsign.go`, `util.go`, `key.go`, `ec_key.go`,
 * `rsa_key.go`), with Go JSON semantics from ../gojson/; the rules are in the TSDoc of
 * {@link prettySignaturePayload}.
 */
import { createHash } from 'node:crypto';
import { OcikitError } from '../errors.js';
import { URL_ALPHABET, goBase64Decode } from '../gojson/base64.js';
import { T, decodeGo, decodeGoObjectMap } from '../gojson/decode.js';
import { type GoNode, GoJSONError, parseGoJSON } from '../gojson/parse.js';

const SIGNATURES = T.slice(
  T.struct({
    header: T.struct({ jwk: T.raw, alg: T.string, x5c: T.slice(T.string) }),
    signature: T.string,
    protected: T.string,
  }),
);

interface ParsedSignature {
  readonly header?: { readonly jwk?: GoNode };
  readonly protected?: string;
}

function fail(message: string, cause?: unknown): never {
  throw new OcikitError('INVALID_MANIFEST', `signed schema 1 manifest: ${message}`, { cause });
}

/**
 * Returns the JWS payload of a signed schema 1 manifest: what its digest is computed over.
 * libtrust's rules, as followed here:
 * - the `signatures` key is looked up case-sensitively (unlike GuessMIMEType);
 * - every signature must carry a numeric `formatLength` (float64, truncated toward zero) and a
 *   string `formatTail`; the first non-zero length and the first non-empty tail are kept, and any
 *   later value that differs from a kept one is a conflict (a later 0 or empty tail included);
 * - a `jwk` header, when present (even `null`), must be a valid libtrust public key: EC on P-256,
 *   P-384 or P-521 with coordinates of the curve's byte length, or RSA without a private exponent;
 *   a `kid` must equal the key's libtrust fingerprint (which is "" for an EC point off its curve,
 *   since Go cannot encode such a key). `alg` and `signature` are not checked.
 * - `formatLength` beyond the file is an error. Where skopeo panics (a negative length, an RSA
 *   exponent over 4 bytes) this is an error too.
 * @param root the manifest already parsed by {@link parseGoJSON} (parsed here when omitted).
 * @throws OcikitError `INVALID_MANIFEST` wherever libtrust fails (or skopeo panics).
 */
export function prettySignaturePayload(bytes: Uint8Array, root?: GoNode): Uint8Array {
  let doc: GoNode;
  try {
    doc = root ?? parseGoJSON(bytes);
  } catch (err) {
    fail(`error unmarshalling content: ${(err as Error).message}`, err);
  }
  if (doc.kind !== 'object' && doc.kind !== 'null')
    fail(`error unmarshalling content: top-level ${doc.kind} is not an object`);
  let sigNode: GoNode | undefined;
  if (doc.kind === 'object') for (const m of doc.members) if (m.key === 'signatures') sigNode = m.value;
  if (sigNode === undefined) fail('missing signature key');

  let blocks: ParsedSignature[];
  try {
    blocks = (decodeGo(sigNode, SIGNATURES) as ParsedSignature[] | undefined) ?? [];
  } catch (err) {
    fail(`error unmarshalling signatures: ${(err as Error).message}`, err);
  }

  let formatLength = 0;
  let formatTail: Uint8Array = new Uint8Array(0);
  for (const [i, block] of blocks.entries()) {
    const where = `signature ${i}`;
    let protectedBytes: Uint8Array;
    try {
      protectedBytes = joseBase64UrlDecode(block.protected ?? '');
    } catch (err) {
      fail(`${where}: base64 decode error: ${(err as Error).message}`, err);
    }
    let header: Map<string, GoNode>;
    try {
      header = decodeGoObjectMap(parseGoJSON(protectedBytes));
    } catch (err) {
      fail(`${where}: error unmarshalling protected header: ${(err as Error).message}`, err);
    }
    const lengthNode = header.get('formatLength');
    if (lengthNode?.kind !== 'number') fail(`${where}: missing formatted length`);
    const length = goIntFromFloat(Number(lengthNode.text));
    const tailNode = header.get('formatTail');
    if (tailNode?.kind !== 'string') fail(`${where}: missing formatted tail`);
    let tail: Uint8Array;
    try {
      tail = joseBase64UrlDecode(tailNode.value);
    } catch (err) {
      fail(`${where}: base64 decode error on tail: ${(err as Error).message}`, err);
    }
    if (formatLength === 0) formatLength = length;
    else if (formatLength !== length) fail(`${where}: conflicting format length (${formatLength} and ${length})`);
    if (formatTail.length === 0) formatTail = tail;
    else if (Buffer.compare(formatTail, tail) !== 0) fail(`${where}: conflicting format tail`);
    const jwk = block.header?.jwk;
    if (jwk !== undefined) {
      try {
        checkPublicKeyJWK(jwk);
      } catch (err) {
        fail(`${where}: error unmarshalling public key: ${(err as Error).message}`, err);
      }
    }
  }
  if (formatLength > bytes.length)
    fail(`invalid format length ${formatLength} (the manifest has ${bytes.length} bytes)`);
  if (formatLength < 0) fail(`invalid format length ${formatLength} (negative)`);
  const payload = new Uint8Array(formatLength + formatTail.length);
  payload.set(bytes.subarray(0, formatLength), 0);
  payload.set(formatTail, formatLength);
  return payload;
}

/** Go's `int(f)` on amd64: truncation toward zero; out of int64 range gives math.MinInt64. */
function goIntFromFloat(f: number): number {
  if (!(f >= -(2 ** 63) && f < 2 ** 63)) return -(2 ** 63);
  const t = Math.trunc(f);
  return t === 0 ? 0 : t;
}

/**
 * libtrust's `joseBase64UrlDecode`: drop every LF and space, pad to a multiple of 4 (a length of
 * 1 mod 4 is an error), then decode with Go's padded URL-safe decoder.
 * @throws Error on input libtrust rejects.
 */
export function joseBase64UrlDecode(s: string): Uint8Array {
  let t = s.replaceAll('\n', '').replaceAll(' ', '');
  switch (Buffer.byteLength(t, 'utf8') % 4) {
    case 0:
      break;
    case 2:
      t += '==';
      break;
    case 3:
      t += '=';
      break;
    default:
      throw new Error('illegal base64url string');
  }
  return goBase64Decode(t, URL_ALPHABET);
}

// ---------------------------------------------------------------------------------------------
// JWK public keys (libtrust UnmarshalPublicKeyJWK).

interface Curve {
  readonly oid: string;
  readonly bytes: number;
  readonly p: bigint;
  readonly b: bigint;
}

// NIST curve parameters (FIPS 186-4 D.1.2): y² = x³ - 3x + b over GF(p).
const CURVES: Readonly<Record<string, Curve>> = {
  'P-256': {
    oid: '1.2.840.10045.3.1.7',
    bytes: 32,
    p: 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n,
    b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
  },
  'P-384': {
    oid: '1.3.132.0.34',
    bytes: 48,
    p: 2n ** 384n - 2n ** 128n - 2n ** 96n + 2n ** 32n - 1n,
    b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
  },
  'P-521': {
    oid: '1.3.132.0.35',
    bytes: 66,
    p: 2n ** 521n - 1n,
    b: 0x0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00n,
  },
};

function stringFromMap(m: Map<string, GoNode>, key: string): string {
  const v = m.get(key);
  if (v === undefined) throw new Error(`${JSON.stringify(key)} value not specified`);
  if (v.kind !== 'string') throw new Error(`${JSON.stringify(key)} value must be a string`);
  return v.value;
}

/**
 * Validates a JWK the way libtrust's `UnmarshalPublicKeyJWK` does (including the `kid` check).
 * @throws Error (with libtrust's wording) when libtrust fails or skopeo would panic.
 */
export function checkPublicKeyJWK(node: GoNode): void {
  let jwk: Map<string, GoNode>;
  try {
    jwk = decodeGoObjectMap(node);
  } catch (err) {
    if (err instanceof GoJSONError) throw new Error(`decoding JWK Public Key JSON data: ${err.message}`);
    throw err;
  }
  let kty: string;
  try {
    kty = stringFromMap(jwk, 'kty');
  } catch (err) {
    throw new Error(`JWK Public Key type: ${(err as Error).message}`);
  }
  if (kty === 'EC') checkEC(jwk);
  else if (kty === 'RSA') checkRSA(jwk);
  else throw new Error(`JWK Public Key type not supported: ${JSON.stringify(kty)}`);
}

function prefixed<R>(prefix: string, f: () => R): R {
  try {
    return f();
  } catch (err) {
    throw new Error(`${prefix}: ${(err as Error).message}`);
  }
}

function checkEC(jwk: Map<string, GoNode>): void {
  const crv = prefixed('JWK EC Public Key curve identifier', () => stringFromMap(jwk, 'crv'));
  const curve = CURVES[crv];
  if (curve === undefined) throw new Error(`JWK EC Public Key curve identifier not supported: ${JSON.stringify(crv)}`);
  const coordinate = (name: 'x' | 'y', label: string): Uint8Array =>
    prefixed(`JWK EC Public Key ${label}`, () => {
      const s = stringFromMap(jwk, name);
      let c: Uint8Array;
      try {
        c = joseBase64UrlDecode(s);
      } catch (err) {
        throw new Error(`invalid base64 URL encoding: ${(err as Error).message}`);
      }
      if (c.length !== curve.bytes)
        throw new Error(`invalid number of octets: got ${c.length}, should be ${curve.bytes}`);
      return c;
    });
  const x = coordinate('x', 'x-coordinate');
  const y = coordinate('y', 'y-coordinate');
  if (jwk.has('kid')) {
    const kid = prefixed('JWK EC Public Key ID', () => stringFromMap(jwk, 'kid'));
    // Go's x509.MarshalPKIXPublicKey refuses a point off the curve, and libtrust then uses "" as the key ID.
    const spki = onCurve(curve, toBigInt(x), toBigInt(y))
      ? der(0x30, [der(0x30, [derOid('1.2.840.10045.2.1'), derOid(curve.oid)]), der(0x03, [Uint8Array.of(0, 4), x, y])])
      : undefined;
    if (kid !== (spki === undefined ? '' : libtrustKeyID(spki)))
      throw new Error(`JWK EC Public Key ID does not match: ${kid}`);
  }
}

function checkRSA(jwk: Map<string, GoNode>): void {
  const base64Param = (name: string, label: string): Uint8Array =>
    prefixed(`JWK RSA Public Key ${label}`, () => {
      const s = stringFromMap(jwk, name);
      try {
        return joseBase64UrlDecode(s);
      } catch (err) {
        throw new Error(`invalid base64 URL encoding: ${(err as Error).message}`);
      }
    });
  const n = base64Param('n', 'modulus');
  const eBytes = base64Param('e', 'exponent');
  // libtrust left-pads e to 4 bytes with make([]byte, 4-len): longer exponents panic in skopeo.
  if (eBytes.length > 4)
    throw new Error(`JWK RSA Public Key exponent: ${eBytes.length} bytes is more than 4 (skopeo panics)`);
  const e = toBigInt(eBytes);
  if (jwk.has('kid')) {
    const kid = prefixed('JWK RSA Public Key ID', () => stringFromMap(jwk, 'kid'));
    const rsaKey = der(0x30, [derInteger(toBigInt(n)), derInteger(e)]);
    const spki = der(0x30, [
      der(0x30, [derOid('1.2.840.113549.1.1.1'), Uint8Array.of(0x05, 0x00)]),
      der(0x03, [Uint8Array.of(0), rsaKey]),
    ]);
    if (kid !== libtrustKeyID(spki)) throw new Error(`JWK RSA Public Key ID does not match: ${kid}`);
  }
  if (jwk.has('d')) throw new Error('JWK RSA Public Key cannot contain private exponent');
}

function toBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
}

function onCurve(c: Curve, x: bigint, y: bigint): boolean {
  if (x < 0n || x >= c.p || y < 0n || y >= c.p) return false;
  const lhs = (y * y) % c.p;
  const rhs = (((x * x * x - 3n * x + c.b) % c.p) + c.p) % c.p;
  return lhs === rhs;
}

/**
 * libtrust's key ID: sha256 of the DER SubjectPublicKeyInfo, first 240 bits, base32 without
 * padding, in twelve groups of four joined by `:`.
 */
export function libtrustKeyID(spki: Uint8Array): string {
  const digest = createHash('sha256').update(spki).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let acc = 0;
  let s = '';
  for (const byte of digest) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      s += alphabet[(acc >> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  return s.match(/.{1,4}/g)!.join(':');
}

// Minimal DER encoding: enough for SubjectPublicKeyInfo as Go's x509.MarshalPKIXPublicKey writes it.
function der(tag: number, parts: readonly Uint8Array[]): Uint8Array {
  const body = Buffer.concat(parts);
  const n = body.length;
  let len: number[];
  if (n < 0x80) len = [n];
  else {
    const octets: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) octets.unshift(v & 0xff);
    len = [0x80 | octets.length, ...octets];
  }
  return Buffer.concat([Uint8Array.of(tag, ...len), body]);
}

function derInteger(v: bigint): Uint8Array {
  // Non-negative only: minimal big-endian bytes, a leading 0 when the top bit is set, 0 as one byte.
  let hex = v.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if (bytes[0]! & 0x80) bytes = Buffer.concat([Uint8Array.of(0), bytes]);
  return der(0x02, [bytes]);
}

function derOid(oid: string): Uint8Array {
  const arcs = oid.split('.').map(Number);
  const out: number[] = [arcs[0]! * 40 + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const groups: number[] = [];
    for (let v = arc; ; v = Math.floor(v / 128)) {
      groups.unshift(v % 128);
      if (v < 128) break;
    }
    out.push(...groups.map((g, k) => (k < groups.length - 1 ? g | 0x80 : g)));
  }
  return der(0x06, [Uint8Array.from(out)]);
}
