/**
 * Edge cases for manifest digests, built at run time from the upstream v2s1 fixtures.
 *
 * Each case states what `skopeo manifest-digest` does with it: hash the bytes as they are
 * (`plain`), hash a reconstructed schema 1 payload (`payload`), or fail (`error`). The expectations
 * were written from the Go sources (c/image GuessMIMEType, libtrust ParsePrettySignature) and are
 * checked against the real skopeo by test/integration/cli-digest.test.ts on every run;
 * test/model/manifest.test.ts checks ocikit against the same table without skopeo.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';

const TESTDATA = new URL(
  '../../../test/fixtures/upstream/containers-image/internal/manifest/testdata/',
  import.meta.url,
);

/** The signed v2s1 fixture and its unsigned twin (whose bytes are the signed one's payload). */
export const SIGNED = readFileSync(new URL('v2s1.manifest.json', TESTDATA));
export const UNSIGNED = readFileSync(new URL('v2s1-unsigned.manifest.json', TESTDATA));

/** What skopeo does with a case. */
export type Expect =
  | { readonly kind: 'plain' }
  | { readonly kind: 'payload'; readonly payload: Buffer }
  | { readonly kind: 'error' };

export interface EdgeCase {
  readonly name: string;
  readonly bytes: Buffer;
  readonly expect: Expect;
}

const PLAIN: Expect = { kind: 'plain' };
const ERROR: Expect = { kind: 'error' };
const payload = (p: Buffer | string): Expect => ({ kind: 'payload', payload: Buffer.from(p) });

const FORMAT_LENGTH = UNSIGNED.length - 2; // 5478: everything before the final "\n}"
const PREFIX = UNSIGNED.subarray(0, FORMAT_LENGTH);
const BASE_PAYLOAD = UNSIGNED;

function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

// The fixture's own key (its kid is correct).
const FIXTURE_SIG = (JSON.parse(SIGNED.toString('utf8')) as { signatures: Record<string, unknown>[] }).signatures[0]!;
const FIXTURE_JWK = (FIXTURE_SIG.header as { jwk: Record<string, string> }).jwk;
const HEADER = { formatLength: FORMAT_LENGTH, formatTail: 'Cn0', time: '2016-04-18T20:54:42Z' };

interface Sig {
  /** An object is JSON-encoded and base64url'd; a string is used as it is. Default: HEADER for the prefix. */
  protected?: unknown;
  /** Default: the fixture key; 'absent': no jwk member. */
  jwk?: unknown;
  /** Replaces the whole header. */
  header?: unknown;
  extra?: Record<string, unknown>;
}

function sigJSON(s: Sig, formatLength: number): Record<string, unknown> {
  const prot = s.protected === undefined ? { ...HEADER, formatLength } : s.protected;
  const jwk = s.jwk === undefined ? FIXTURE_JWK : s.jwk;
  const header = s.header !== undefined ? s.header : jwk === 'absent' ? { alg: 'ES256' } : { jwk, alg: 'ES256' };
  return {
    header,
    signature: FIXTURE_SIG.signature,
    protected: typeof prot === 'string' ? prot : b64url(JSON.stringify(prot)),
    ...s.extra,
  };
}

interface SignedOptions {
  /** The signatures member's key (raw JSON text between the quotes). */
  readonly key?: string;
  /** Raw JSON members inserted after the payload part, before the signatures member. */
  readonly before?: string;
  /** The payload part (default: the unsigned fixture without its final "\n}"). */
  readonly prefix?: Buffer;
}

/** A signed manifest: `prefix`, then `,<before>\n   "<key>": <sigs>\n}` (sigs may be raw JSON text). */
function signed(sigs: readonly Sig[] | string, opts: SignedOptions = {}): Buffer {
  const prefix = opts.prefix ?? PREFIX;
  const value =
    typeof sigs === 'string'
      ? sigs
      : JSON.stringify(
          sigs.map((s) => sigJSON(s, prefix.length)),
          null,
          3,
        ).replace(/\n/g, '\n   ');
  return Buffer.concat([
    prefix,
    Buffer.from(`,${opts.before ?? ''}\n   "${opts.key ?? 'signatures'}": ${value}\n}`, 'utf8'),
  ]);
}

/** The unsigned prefix with one piece of text replaced. */
function prefixWith(from: string, to: string | Buffer): Buffer {
  const at = PREFIX.indexOf(from);
  if (at < 0) throw new Error(`edge cases: ${from} is not in the fixture`);
  return Buffer.concat([PREFIX.subarray(0, at), Buffer.from(to), PREFIX.subarray(at + from.length)]);
}

const WRONG_KID = 'AAAA:AAAA:AAAA:AAAA:AAAA:AAAA:AAAA:AAAA:AAAA:AAAA:AAAA:AAAA';

function ecJWK(curve: 'P-256' | 'P-384' | 'P-521', kid: 'none' | 'right' | 'wrong'): Record<string, string> {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
  const jwk = publicKey.export({ format: 'jwk' });
  const out: Record<string, string> = { kty: 'EC', crv: jwk.crv!, x: jwk.x!, y: jwk.y! };
  if (kid === 'right') out.kid = keyIDOf(publicKey.export({ type: 'spki', format: 'der' }));
  if (kid === 'wrong') out.kid = WRONG_KID;
  return out;
}

function rsaJWK(kid: boolean): Record<string, string> {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const jwk = publicKey.export({ format: 'jwk' });
  const out: Record<string, string> = { kty: 'RSA', n: jwk.n!, e: jwk.e! };
  if (kid) out.kid = keyIDOf(publicKey.export({ type: 'spki', format: 'der' }));
  return out;
}

/** libtrust's key ID, computed independently of src/ (from Node's own SPKI encoding). */
function keyIDOf(spki: Buffer): string {
  const digest = createHash('sha256').update(spki).digest().subarray(0, 30);
  let bits = '';
  for (const x of digest) bits += x.toString(2).padStart(8, '0');
  let s = '';
  for (let i = 0; i + 5 <= bits.length; i += 5)
    s += 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[parseInt(bits.slice(i, i + 5), 2)];
  return s.match(/.{4}/g)!.join(':');
}

function nested(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

const tail = (prefix: Buffer) => Buffer.concat([prefix, Buffer.from('\n}')]);

/** Builds the corpus (fresh keys each call). */
export function edgeCases(): EdgeCase[] {
  const off = ecJWK('P-256', 'none');
  // Flip a bit of y: still 32 bytes, almost surely off the curve.
  const y = Buffer.from(off.y!, 'base64url');
  y[31]! ^= 1;
  const offCurve = { ...off, y: b64url(y) };
  const offCurveKid = { ...offCurve, kid: WRONG_KID };
  const capitalised = prefixWith('"schemaVersion"', '"SchemaVersion"');
  const badUtf8 = prefixWith('mitr/busybox', Buffer.from([0x6d, 0xff, 0xfe, 0xed, 0xa0, 0x80]));

  return [
    // Plain bytes.
    { name: 'empty file', bytes: Buffer.alloc(0), expect: PLAIN },
    { name: 'top-level array [1,2]', bytes: Buffer.from('[1,2]'), expect: PLAIN },
    { name: 'not JSON', bytes: Buffer.from('hello\n'), expect: PLAIN },
    { name: 'unsigned v2s1 fixture', bytes: UNSIGNED, expect: PLAIN },

    // The signed fixture and byte-level variations.
    { name: 'signed v2s1 fixture', bytes: SIGNED, expect: payload(BASE_PAYLOAD) },
    {
      name: 'signed v2s1 + trailing newline',
      bytes: Buffer.concat([SIGNED, Buffer.from('\n')]),
      expect: payload(BASE_PAYLOAD),
    },
    {
      name: 'signed v2s1 + trailing whitespace',
      bytes: Buffer.concat([SIGNED, Buffer.from(' \t\r\n')]),
      expect: payload(BASE_PAYLOAD),
    },
    { name: 'signed v2s1 + trailing garbage', bytes: Buffer.concat([SIGNED, Buffer.from('x')]), expect: PLAIN },
    { name: 'BOM + signed v2s1', bytes: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), SIGNED]), expect: PLAIN },
    { name: 'signed, rebuilt with the fixture signature', bytes: signed([{}]), expect: payload(BASE_PAYLOAD) },

    // GuessMIMEType: Go decoding of mediaType / schemaVersion / signatures.
    { name: 'Signatures key capitalised', bytes: signed([{}], { key: 'Signatures' }), expect: ERROR },
    { name: 'signatures key with long s (U+017F)', bytes: signed([{}], { key: '\u017fignatures' }), expect: ERROR },
    {
      name: 'schemaVersion key with long s (U+017F)',
      bytes: signed([{}], { prefix: prefixWith('"schemaVersion"', '"\u017fchemaVersion"') }),
      expect: payload(tail(prefixWith('"schemaVersion"', '"\u017fchemaVersion"'))),
    },
    {
      name: 'schemaVersion key with dotless-i look-alike (U+0130)',
      bytes: signed([{}], { prefix: prefixWith('"schemaVersion"', '"schemaVersIon"'.replace('I', '\u0130')) }),
      expect: PLAIN,
    },
    {
      name: 'signatures key escaped as sign\\u0061tures',
      bytes: signed([{}], { key: 'sign\\u0061tures' }),
      expect: payload(BASE_PAYLOAD),
    },
    {
      name: 'SchemaVersion key capitalised',
      bytes: signed([{}], { prefix: capitalised }),
      expect: payload(tail(capitalised)),
    },
    {
      name: 'schemaVersion 1.0',
      bytes: signed([{}], { prefix: prefixWith('"schemaVersion": 1', '"schemaVersion": 1.0') }),
      expect: PLAIN,
    },
    {
      name: 'schemaVersion 1e0',
      bytes: signed([{}], { prefix: prefixWith('"schemaVersion": 1', '"schemaVersion": 1e0') }),
      expect: PLAIN,
    },
    {
      name: 'schemaVersion "1"',
      bytes: signed([{}], { prefix: prefixWith('"schemaVersion": 1', '"schemaVersion": "1"') }),
      expect: PLAIN,
    },
    {
      name: 'schemaVersion beyond int64',
      bytes: signed([{}], { prefix: prefixWith('"schemaVersion": 1', '"schemaVersion": 9223372036854775808') }),
      expect: PLAIN,
    },
    {
      name: 'schemaVersion 2 then 1 (last wins)',
      bytes: signed([{}], { before: '\n   "schemaVersion": 2,\n   "schemaVersion": 1,' }),
      expect: payload(BASE_PAYLOAD),
    },
    {
      name: 'schemaVersion 1 then 2 (last wins)',
      bytes: signed([{}], { before: '\n   "schemaVersion": 2,' }),
      expect: PLAIN,
    },
    {
      name: 'schemaVersion 1 then null (null keeps 1)',
      bytes: signed([{}], { before: '\n   "schemaVersion": null,' }),
      expect: payload(BASE_PAYLOAD),
    },
    { name: '"mediaType": 5 added', bytes: signed([{}], { before: '\n   "mediaType": 5,' }), expect: PLAIN },
    {
      name: '"mediaType": "" added',
      bytes: signed([{}], { before: '\n   "mediaType": "",' }),
      expect: payload(BASE_PAYLOAD),
    },
    {
      name: 'OCI mediaType added',
      bytes: signed([{}], { before: '\n   "mediaType": "application/vnd.oci.image.manifest.v1+json",' }),
      expect: PLAIN,
    },
    {
      name: 'unknown mediaType added',
      bytes: signed([{}], { before: '\n   "mediaType": "text/plain",' }),
      expect: payload(BASE_PAYLOAD),
    },
    {
      name: '{"schemaVersion":1,"signatures":[]}',
      bytes: Buffer.from('{"schemaVersion":1,"signatures":[]}'),
      expect: payload(''),
    },
    {
      name: '{"schemaVersion":1,"signatures":null}',
      bytes: Buffer.from('{"schemaVersion":1,"signatures":null}'),
      expect: PLAIN,
    },
    {
      name: '{"schemaVersion":1,"signatures":{}}',
      bytes: Buffer.from('{"schemaVersion":1,"signatures":{}}'),
      expect: ERROR,
    },
    {
      name: '{"schemaVersion":1,"signatures":false}',
      bytes: Buffer.from('{"schemaVersion":1,"signatures":false}'),
      expect: ERROR,
    },
    {
      name: 'signatures with a number overflowing float64',
      bytes: Buffer.from('{"schemaVersion":1,"signatures":[1e400]}'),
      expect: PLAIN,
    },
    {
      name: 'signatures [] then SIGNATURES null',
      bytes: Buffer.from('{"schemaVersion":1,"signatures":[],"SIGNATURES":null}'),
      expect: PLAIN,
    },
    {
      name: 'signatures null then Signatures [...]',
      bytes: signed([{}], { before: '\n   "signatures": null,', key: 'Signatures' }),
      expect: payload(''),
    },
    {
      name: 'invalid UTF-8 in a string value',
      bytes: signed([{}], { prefix: badUtf8 }),
      expect: payload(tail(badUtf8)),
    },
    // Go's limit counts the top-level object: 10000 levels in all are fine, 10001 are not.
    {
      name: 'nesting 10000 deep (object + 9999 arrays)',
      bytes: signed([{}], { before: `\n   "deep": ${nested(9999)},` }),
      expect: payload(BASE_PAYLOAD),
    },
    {
      name: 'nesting 10001 deep (object + 10000 arrays)',
      bytes: signed([{}], { before: `\n   "deep": ${nested(10000)},` }),
      expect: PLAIN,
    },

    // libtrust: format length and tail.
    {
      name: 'formatLength 0, tail "\\n}"',
      bytes: signed([{ protected: { formatLength: 0, formatTail: 'Cn0' } }]),
      expect: payload('\n}'),
    },
    {
      name: 'formatLength 5478.9 truncates',
      bytes: signed([{ protected: { formatLength: FORMAT_LENGTH + 0.9, formatTail: 'Cn0' } }]),
      expect: payload(BASE_PAYLOAD),
    },
    {
      name: 'formatLength -0.5 is 0',
      bytes: signed([{ protected: { formatLength: -0.5, formatTail: 'Cn0' } }]),
      expect: payload('\n}'),
    },
    {
      name: 'formatLength negative (skopeo panics)',
      bytes: signed([{ protected: { formatLength: -1, formatTail: 'Cn0' } }]),
      expect: ERROR,
    },
    {
      name: 'formatLength beyond the file',
      bytes: signed([{ protected: { formatLength: 1e6, formatTail: 'Cn0' } }]),
      expect: ERROR,
    },
    {
      name: 'formatLength 1e300 (skopeo panics)',
      bytes: signed([{ protected: { formatLength: 1e300, formatTail: 'Cn0' } }]),
      expect: ERROR,
    },
    {
      name: 'formatLength as a string',
      bytes: signed([{ protected: { formatLength: String(FORMAT_LENGTH), formatTail: 'Cn0' } }]),
      expect: ERROR,
    },
    { name: 'formatTail missing', bytes: signed([{ protected: { formatLength: FORMAT_LENGTH } }]), expect: ERROR },
    {
      name: 'formatTail empty',
      bytes: signed([{ protected: { formatLength: FORMAT_LENGTH, formatTail: '' } }]),
      expect: payload(PREFIX),
    },
    {
      name: 'formatTail not base64url',
      bytes: signed([{ protected: { formatLength: FORMAT_LENGTH, formatTail: 'C' } }]),
      expect: ERROR,
    },
    {
      name: 'formatTail padded "Cn0="',
      bytes: signed([{ protected: { formatLength: FORMAT_LENGTH, formatTail: 'Cn0=' } }]),
      expect: payload(BASE_PAYLOAD),
    },
    {
      name: 'formatTail with spaces and newlines',
      bytes: signed([{ protected: { formatLength: FORMAT_LENGTH, formatTail: 'C n\n0' } }]),
      expect: payload(BASE_PAYLOAD),
    },
    {
      name: 'formatTail with CR (Go base64 skips it after padding)',
      bytes: signed([{ protected: { formatLength: FORMAT_LENGTH, formatTail: 'Cn0\r' } }]),
      expect: ERROR,
    },
    { name: 'two signatures, same header', bytes: signed([{}, {}]), expect: payload(BASE_PAYLOAD) },
    {
      name: 'two signatures, lengths differ',
      bytes: signed([{}, { protected: { formatLength: 10, formatTail: 'Cn0' } }]),
      expect: ERROR,
    },
    {
      name: 'two signatures, length then 0',
      bytes: signed([{}, { protected: { formatLength: 0, formatTail: 'Cn0' } }]),
      expect: ERROR,
    },
    {
      name: 'two signatures, 0 then length',
      bytes: signed([{ protected: { formatLength: 0, formatTail: 'Cn0' } }, {}]),
      expect: payload(BASE_PAYLOAD),
    },
    {
      name: 'two signatures, tails differ',
      bytes: signed([{}, { protected: { formatLength: FORMAT_LENGTH, formatTail: 'fQ' } }]),
      expect: ERROR,
    },
    {
      name: 'two signatures, empty tail then tail',
      bytes: signed([{ protected: { formatLength: FORMAT_LENGTH, formatTail: '' } }, {}]),
      expect: payload(BASE_PAYLOAD),
    },
    {
      name: 'two signatures, tail then empty tail',
      bytes: signed([{}, { protected: { formatLength: FORMAT_LENGTH, formatTail: '' } }]),
      expect: ERROR,
    },

    // libtrust: protected header encoding.
    { name: 'protected not base64url (length 1 mod 4)', bytes: signed([{ protected: 'abcde' }]), expect: ERROR },
    {
      name: 'protected padded with =',
      bytes: signed([
        {
          protected: b64url(JSON.stringify(HEADER)).padEnd(
            Math.ceil(b64url(JSON.stringify(HEADER)).length / 4) * 4,
            '=',
          ),
        },
      ]),
      expect: payload(BASE_PAYLOAD),
    },
    {
      name: 'protected split by newlines and spaces',
      bytes: signed([{ protected: b64url(JSON.stringify(HEADER)).replace(/(.{10})/g, '$1\n ') }]),
      expect: payload(BASE_PAYLOAD),
    },
    { name: 'protected header is null', bytes: signed([{ protected: b64url('null') }]), expect: ERROR },
    { name: 'protected header is an array', bytes: signed([{ protected: b64url('[]') }]), expect: ERROR },
    {
      name: 'protected header has a number overflowing float64',
      bytes: signed([{ protected: b64url(`{"formatLength":${FORMAT_LENGTH},"formatTail":"Cn0","x":1e400}`) }]),
      expect: ERROR,
    },
    {
      name: 'protected header repeats formatLength (last wins)',
      bytes: signed([{ protected: b64url(`{"formatLength":1,"formatLength":${FORMAT_LENGTH},"formatTail":"Cn0"}`) }]),
      expect: payload(BASE_PAYLOAD),
    },
    { name: 'signature block null', bytes: signed('[null]'), expect: ERROR },
    { name: 'signature header null', bytes: signed([{ header: null }]), expect: payload(BASE_PAYLOAD) },
    { name: 'x5c is a string', bytes: signed([{ header: { alg: 'ES256', x5c: 'abc' } }]), expect: ERROR },
    { name: 'alg is a number', bytes: signed([{ header: { alg: 256 } }]), expect: ERROR },
    { name: 'signature is a number', bytes: signed([{ extra: { signature: 5 } }]), expect: ERROR },
    {
      name: 'signature not base64 (not checked)',
      bytes: signed([{ extra: { signature: '!!!' } }]),
      expect: payload(BASE_PAYLOAD),
    },
    {
      name: 'alg unknown (not checked)',
      bytes: signed([{ header: { jwk: FIXTURE_JWK, alg: 'none' } }]),
      expect: payload(BASE_PAYLOAD),
    },

    // libtrust: JWK public keys.
    { name: 'no jwk', bytes: signed([{ jwk: 'absent' }]), expect: payload(BASE_PAYLOAD) },
    { name: 'jwk null', bytes: signed([{ jwk: null }]), expect: ERROR },
    { name: 'jwk kty bogus', bytes: signed([{ jwk: { kty: 'bogus' } }]), expect: ERROR },
    { name: 'jwk kty missing', bytes: signed([{ jwk: { crv: 'P-256' } }]), expect: ERROR },
    { name: 'jwk is an array', bytes: signed([{ jwk: [] }]), expect: ERROR },
    {
      name: 'jwk kid wrong',
      bytes: signed([{ jwk: { ...FIXTURE_JWK, kid: 'AAAA:AAAA:AAAA:AAAA:AAAA:AAAA:AAAA:AAAA:AAAA:AAAA:AAAA:AAAA' } }]),
      expect: ERROR,
    },
    { name: 'jwk kid a number', bytes: signed([{ jwk: { ...FIXTURE_JWK, kid: 5 } }]), expect: ERROR },
    {
      name: 'jwk without kid',
      bytes: signed([{ jwk: { kty: 'EC', crv: 'P-256', x: FIXTURE_JWK.x, y: FIXTURE_JWK.y } }]),
      expect: payload(BASE_PAYLOAD),
    },
    { name: 'jwk EC curve unsupported', bytes: signed([{ jwk: { ...FIXTURE_JWK, crv: 'P-224' } }]), expect: ERROR },
    {
      name: 'jwk EC x too short',
      bytes: signed([{ jwk: { kty: 'EC', crv: 'P-256', x: 'AAAA', y: FIXTURE_JWK.y } }]),
      expect: ERROR,
    },
    { name: 'jwk EC P-384 with kid', bytes: signed([{ jwk: ecJWK('P-384', 'right') }]), expect: payload(BASE_PAYLOAD) },
    { name: 'jwk EC P-521 with kid', bytes: signed([{ jwk: ecJWK('P-521', 'right') }]), expect: payload(BASE_PAYLOAD) },
    {
      name: 'jwk EC P-256 fresh key with kid',
      bytes: signed([{ jwk: ecJWK('P-256', 'right') }]),
      expect: payload(BASE_PAYLOAD),
    },
    { name: 'jwk EC P-384 wrong kid', bytes: signed([{ jwk: ecJWK('P-384', 'wrong') }]), expect: ERROR },
    {
      name: 'jwk EC off the curve, no kid (not checked)',
      bytes: signed([{ jwk: offCurve }]),
      expect: payload(BASE_PAYLOAD),
    },
    { name: 'jwk EC off the curve, with a kid', bytes: signed([{ jwk: offCurveKid }]), expect: ERROR },
    {
      name: 'jwk EC off the curve, with an empty kid (Go computes "")',
      bytes: signed([{ jwk: { ...offCurve, kid: '' } }]),
      expect: payload(BASE_PAYLOAD),
    },
    { name: 'jwk EC on the curve, with an empty kid', bytes: signed([{ jwk: { ...off, kid: '' } }]), expect: ERROR },
    { name: 'jwk RSA without kid', bytes: signed([{ jwk: rsaJWK(false) }]), expect: payload(BASE_PAYLOAD) },
    { name: 'jwk RSA with kid', bytes: signed([{ jwk: rsaJWK(true) }]), expect: payload(BASE_PAYLOAD) },
    { name: 'jwk RSA with private exponent', bytes: signed([{ jwk: { ...rsaJWK(false), d: 'AQAB' } }]), expect: ERROR },
    {
      name: 'jwk RSA exponent of 5 bytes (skopeo panics)',
      bytes: signed([{ jwk: { ...rsaJWK(false), e: b64url(Buffer.from([1, 0, 0, 0, 1])) } }]),
      expect: ERROR,
    },
    { name: 'jwk RSA modulus missing', bytes: signed([{ jwk: { kty: 'RSA', e: 'AQAB' } }]), expect: ERROR },
  ];
}
