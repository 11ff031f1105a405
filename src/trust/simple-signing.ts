/**
 * The payload of an image signature, parsed from untrusted bytes as containers/image 5.23 does:
 * simple signing (`signature/simple.go`, `critical.type` `atomic container signature`) and the
 * sigstore payload (`signature/internal/sigstore_payload.go`, `cosign container image signature`),
 * both through the strict object reader of `signature/internal/json.go`
 * (`ParanoidUnmarshalJSONObject`). The rules:
 * - the whole payload is Go JSON (syntax checked once, as `json.Unmarshal` does, ../gojson/parse.ts);
 * - the top level is an object with exactly `critical` and `optional`; `critical` with exactly
 *   `type`, `image` and `identity`; `image` with exactly `docker-manifest-digest`; `identity` with
 *   exactly `docker-reference`: a missing key, an unknown key or a repeated key is refused (keys
 *   compare exactly, never case-folded);
 * - `optional` may hold any other key (its value must still be valid for Go's `interface{}`:
 *   numbers within float64), never one twice; `creator` is a string, `timestamp` a number that
 *   must be an integer (`float64` converted to `int64` and back); a `null` leaves Go's zero value
 *   (`""`, `0`) and still counts as present. A sigstore payload may have `"optional": null`
 *   (cosign writes it), a simple-signing payload may not;
 * - `type` must be the payload kind's type string.
 *
 * containers/image keeps `docker-manifest-digest` as an unchecked string and only compares it with
 * the manifest's sha256 digest later; ocikit refuses a value that is not a `sha256:` digest here,
 * which refuses exactly the payloads that could never match.
 */
import { T, decodeGo } from '../gojson/decode.js';
import { type GoNode, parseGoJSON } from '../gojson/parse.js';
import { escapeControl } from '../internal/text.js';
import { isDigest } from '../model/digest.js';
import { SignatureError, type SignedClaims } from './verifier.js';

/** `critical.type` of a simple-signing payload. */
export const SIMPLE_SIGNING_TYPE = 'atomic container signature';
/** `critical.type` of a sigstore payload. */
export const SIGSTORE_PAYLOAD_TYPE = 'cosign container image signature';

/** Untrusted text quoted for a message (escaped, at most 200 characters). */
const quote = (s: string): string => `"${escapeControl(s.length > 200 ? `${s.slice(0, 200)}…` : s)}"`;

/** Go's `JSONFormatError` / `InvalidSignatureError`, as one refusal. */
function invalid(what: string, message: string, cause?: unknown): never {
  throw new SignatureError('payload', `${what}: ${message}`, cause === undefined ? {} : { cause });
}

/**
 * `ParanoidUnmarshalJSONObject`: `node` must be an object whose keys are each accepted by
 * `field` (which decodes the value) and appear once.
 */
function paranoidObject(node: GoNode, what: string, field: (key: string) => ((v: GoNode) => void) | undefined): void {
  if (node.kind !== 'object') invalid(what, `JSON object expected, got ${node.kind}`);
  const seen = new Set<string>();
  for (const m of node.members) {
    if (seen.has(m.key)) invalid(what, `Duplicate key ${quote(m.key)}`);
    seen.add(m.key);
    const decode = field(m.key);
    if (decode === undefined) invalid(what, `Unknown key ${quote(m.key)}`);
    try {
      decode(m.value);
    } catch (err) {
      if (err instanceof SignatureError) throw err;
      invalid(what, escapeControl((err as Error).message), err);
    }
  }
}

/** `ParanoidUnmarshalJSONObjectExactFields`: exactly these keys, each once. */
function exactObject(node: GoNode, what: string, fields: Record<string, (v: GoNode) => void>): void {
  const seen = new Set<string>();
  paranoidObject(node, what, (key) => {
    if (!Object.hasOwn(fields, key)) return undefined;
    seen.add(key);
    return fields[key];
  });
  for (const key of Object.keys(fields)) if (!seen.has(key)) invalid(what, `Key "${key}" missing in a JSON object`);
}

/** Decoding into a Go `string`: a string, or `null` (which leaves `""`). */
function goString(v: GoNode): string {
  if (v.kind === 'null') return '';
  return decodeGo(v, T.string) as string;
}

/** Decoding into a Go `float64`: a number within range, or `null` (which leaves 0). */
function goFloat(v: GoNode): number {
  if (v.kind === 'null') return 0;
  const n = v.kind === 'number' ? Number(v.text) : Number.NaN;
  if (!Number.isFinite(n)) {
    throw new Error(
      `cannot unmarshal ${v.kind === 'number' ? `number ${v.text}` : v.kind} into Go value of type float64`,
    );
  }
  return n;
}

/** Go's `float64(int64(x)) == x` on amd64 (an out-of-range conversion gives the minimum int64). */
function isGoInt64(x: number): boolean {
  return Number.isInteger(x) && x >= -(2 ** 63) && x < 2 ** 63;
}

/**
 * Parses a signature payload of the kind whose `critical.type` is `type`, by the rules above.
 * `what` names it in messages.
 * @throws SignatureError `payload`.
 */
export function parseSignaturePayload(bytes: Uint8Array, type: string, what = 'signature payload'): SignedClaims {
  let root: GoNode;
  try {
    root = parseGoJSON(bytes);
  } catch (err) {
    invalid(what, (err as Error).message, err);
  }
  let critical: GoNode = { kind: 'null' };
  let optional: GoNode = { kind: 'null' };
  exactObject(root, what, { critical: (v) => (critical = v), optional: (v) => (optional = v) });

  let creator: string | undefined;
  let timestamp: number | undefined;
  if (!(optional.kind === 'null' && type === SIGSTORE_PAYLOAD_TYPE)) {
    paranoidObject(optional, `${what} optional`, (key) => {
      if (key === 'creator') return (v) => (creator = goString(v));
      if (key === 'timestamp') return (v) => (timestamp = goFloat(v));
      return (v) => decodeGo(v, T.any);
    });
  }
  if (timestamp !== undefined && !isGoInt64(timestamp)) invalid(what, 'Field optional.timestamp is not an integer');

  let t = '';
  let image: GoNode = { kind: 'null' };
  let identity: GoNode = { kind: 'null' };
  exactObject(critical, `${what} critical`, {
    type: (v) => (t = goString(v)),
    image: (v) => (image = v),
    identity: (v) => (identity = v),
  });
  if (t !== type) invalid(what, `Unrecognized signature type ${quote(t)}`);
  let digest = '';
  exactObject(image, `${what} critical.image`, { 'docker-manifest-digest': (v) => (digest = goString(v)) });
  let reference = '';
  exactObject(identity, `${what} critical.identity`, { 'docker-reference': (v) => (reference = goString(v)) });
  if (!isDigest(digest)) invalid(what, `docker-manifest-digest ${quote(digest)} is not a sha256 digest`);
  return {
    dockerManifestDigest: digest,
    dockerReference: reference,
    ...(creator !== undefined ? { creator } : {}),
    ...(timestamp !== undefined ? { timestamp } : {}),
  };
}

/**
 * Parses an untrusted simple-signing payload (the content of an OpenPGP-signed message) as
 * containers/image's `untrustedSignature.UnmarshalJSON` does.
 * @throws SignatureError `payload`.
 */
export function parseSimpleSigningPayload(bytes: Uint8Array): SignedClaims {
  return parseSignaturePayload(bytes, SIMPLE_SIGNING_TYPE, 'simple-signing payload');
}
