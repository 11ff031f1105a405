/**
 * PEM as Go reads it for TLS: `encoding/pem` `Decode` (the block grammar: the BEGIN line, optional
 * `Key: value` headers, base64 with spaces and tabs removed, the matching END line), crypto/x509
 * `CertPool.AppendCertsFromPEM` (only `CERTIFICATE` blocks without headers whose DER parses; others
 * are skipped silently) and the block choice of crypto/tls `X509KeyPair` (every `CERTIFICATE` block
 * of a certificate file; the first `PRIVATE KEY` / `… PRIVATE KEY` block of a key file).
 *
 * Certificates are parsed with Node's `X509Certificate` (OpenSSL) where Go uses its own parser:
 * a certificate one of them accepts and the other rejects is the only place the two may differ.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { STD_ALPHABET, goBase64Decode } from '../gojson/base64.js';

/** One PEM block. */
export interface PemBlock {
  /** The word(s) after `BEGIN `, e.g. `CERTIFICATE`. */
  readonly type: string;
  /** True when the block had `Key: value` header lines. */
  readonly hasHeaders: boolean;
  /** The decoded contents. */
  readonly bytes: Buffer;
}

/** A line of `s` from `at` (without its LF, a CR before it, and trailing spaces and tabs), and where the next starts. */
function getLine(s: string, at: number): [string, number] {
  const nl = s.indexOf('\n', at);
  let end = nl < 0 ? s.length : nl;
  const next = nl < 0 ? s.length : nl + 1;
  if (nl > at && s[nl - 1] === '\r') end--;
  return [s.slice(at, end).replace(/[ \t]+$/, ''), next];
}

/**
 * Tries to decode one block whose BEGIN line's `-----BEGIN ` ends at `at`. Returns the block and
 * the offset after it, `'again'` with the offset to scan on from (a likely block that turned out
 * invalid), or `'end'` when nothing more can be decoded.
 */
function blockAt(s: string, at: number): { block: PemBlock; next: number } | { again: number } | 'end' {
  const [typeLine, afterType] = getLine(s, at);
  if (!typeLine.endsWith('-----')) return { again: afterType };
  const type = typeLine.slice(0, -5);
  let rest = afterType;
  let hasHeaders = false;
  for (;;) {
    if (rest >= s.length) return 'end';
    const [line, next] = getLine(s, rest);
    if (!line.includes(':')) break;
    hasHeaders = true;
    rest = next;
  }
  let endIndex: number;
  let trailer: number;
  if (!hasHeaders && s.startsWith('-----END ', rest)) {
    endIndex = rest;
    trailer = rest + 9;
  } else {
    endIndex = s.indexOf('\n-----END ', rest);
    if (endIndex < 0) return { again: rest };
    trailer = endIndex + 10;
  }
  const want = `${type}-----`;
  if (s.slice(trailer, trailer + want.length) !== want) return { again: rest };
  const [afterEnd] = getLine(s, trailer + want.length);
  if (afterEnd !== '') return { again: rest };
  const bytes = decodeBase64(s.slice(rest, endIndex).replace(/[ \t]/g, ''));
  if (bytes === undefined) return { again: rest };
  const [, next] = getLine(s, trailer);
  return { block: { type, hasHeaders, bytes: Buffer.from(bytes) }, next };
}

/** Canonical padded base64 (CR and LF aside): Node's decoder gives what Go's does, much faster. */
const PLAIN_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Go's `base64.StdEncoding.Decode` of `b64`, or undefined where Go fails. */
function decodeBase64(b64: string): Uint8Array | undefined {
  const plain = b64.replace(/[\r\n]/g, '');
  if (PLAIN_BASE64.test(plain)) return Buffer.from(plain, 'base64');
  try {
    return goBase64Decode(b64, STD_ALPHABET);
  } catch {
    return undefined;
  }
}

/** Every block of `data` in order, as repeated calls of Go's `pem.Decode` find them. */
export function pemBlocks(data: Buffer | string): PemBlock[] {
  const s = typeof data === 'string' ? data : data.toString('latin1');
  const out: PemBlock[] = [];
  let pos = 0;
  while (pos <= s.length) {
    let start: number;
    if (s.startsWith('-----BEGIN ', pos)) start = pos + 11;
    else {
      const i = s.indexOf('\n-----BEGIN ', pos);
      if (i < 0) break;
      start = i + 12;
    }
    const r = blockAt(s, start);
    if (r === 'end') break;
    if ('again' in r) {
      pos = r.again;
      continue;
    }
    out.push(r.block);
    pos = r.next;
  }
  return out;
}

/** `der` as one PEM `CERTIFICATE` block (what Node's `ca` and `cert` options take). */
export function certificatePem(der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END CERTIFICATE-----\n`;
}

/**
 * The DER of every certificate `AppendCertsFromPEM` would add from `data`: headerless
 * `CERTIFICATE` blocks that parse. `skip` may drop a block before it is parsed (one seen before).
 */
export function certificatesFromPem(data: Buffer | string, skip?: (der: Buffer) => boolean): Buffer[] {
  const out: Buffer[] = [];
  for (const b of pemBlocks(data)) {
    if (b.type !== 'CERTIFICATE' || b.hasHeaders || skip?.(b.bytes)) continue;
    try {
      new X509Certificate(b.bytes);
    } catch {
      continue;
    }
    out.push(b.bytes);
  }
  return out;
}

/**
 * A client certificate and key as crypto/tls `X509KeyPair` accepts them: the certificate file's
 * `CERTIFICATE` blocks (at least one; the first is the leaf and must parse), the key file's first
 * `PRIVATE KEY` block (PKCS #1, PKCS #8 or SEC 1, tried in Go's order), and the key must belong to
 * the leaf. Returns the chain and the key as PEM; the error text never quotes either file.
 * @throws Error naming what is wrong (the caller adds the file names).
 */
export function loadKeyPair(certData: Buffer, keyData: Buffer): { cert: Buffer; key: Buffer } {
  const certs = pemBlocks(certData).filter((b) => b.type === 'CERTIFICATE');
  if (certs.length === 0) throw new Error('the certificate file has no CERTIFICATE block');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certs[0]!.bytes);
  } catch {
    throw new Error('the certificate file does not hold a valid certificate');
  }
  const keyBlock = pemBlocks(keyData).find((b) => b.type === 'PRIVATE KEY' || b.type.endsWith(' PRIVATE KEY'));
  if (keyBlock === undefined) throw new Error('the key file has no PRIVATE KEY block');
  let key: KeyObject | undefined;
  for (const type of ['pkcs1', 'pkcs8', 'sec1'] as const) {
    try {
      key = createPrivateKey({ key: keyBlock.bytes, format: 'der', type });
      break;
    } catch {
      // the next format
    }
  }
  if (key === undefined) throw new Error('the key file does not hold a private key ocikit can parse');
  if (!leaf.checkPrivateKey(key)) throw new Error('the private key does not match the certificate');
  const chain = certs.map((b) => certificatePem(b.bytes)).join('');
  return { cert: Buffer.from(chain), key: Buffer.from(key.export({ format: 'pem', type: 'pkcs8' }) as string) };
}
