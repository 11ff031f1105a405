/**
 * The byte-level pieces of the layer reader (./layer-reader.ts): one 512-byte tar header block,
 * numeric fields and PAX records, with the semantics of Go's `archive/tar` (golang/go
 * `src/archive/tar/reader.go`, `strconv.go`, `format.go`), which containers/storage and umoci read
 * layers with. Every failure is reported as a {@link TarFormatError}; the reader adds the offset.
 *
 * - Checksum: the stored octal value must equal the unsigned or the signed byte sum of the block
 *   with the checksum field counted as spaces (old tars summed signed bytes).
 * - Format by magic: `ustar\0` is USTAR/PAX (with a 155-byte `prefix`; a `tar\0` trailer at 508 is
 *   star, whose prefix is 131 bytes), `ustar ` + ` \0` is GNU (no prefix: those bytes hold
 *   atime/ctime/sparse data), anything else is V7 (no owner names, no device numbers, no prefix).
 * - Numbers: octal, trimmed of spaces and NULs at both ends and cut at a NUL; or GNU base-256 when
 *   the first byte's high bit is set (two's complement, so negative mtimes work).
 * - Strings (names, link targets) are raw bytes up to the first NUL, copied out of the block.
 */

import type { LayerEntry, LayerEntryType, LayerXattr } from './entry.js';

/** A malformed header or record; the reader turns it into `INVALID_INPUT` with the offset. */
export class TarFormatError extends Error {}

/** The fields of one header block, before PAX records and GNU long names are applied. */
export interface RawHeader {
  /** The type flag byte (`0x30` for `0`, 0 for NUL, …). */
  readonly typeflag: number;
  name: Buffer;
  linkname: Buffer;
  readonly mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: { sec: number; nsec: number };
  readonly devmajor: number;
  readonly devminor: number;
  readonly format: 'v7' | 'ustar' | 'gnu' | 'star';
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** The sum of a block's bytes, unsigned (0 means an all-zero block: an end-of-archive block). */
export function blockSum(b: Buffer): number {
  let s = 0;
  for (let i = 0; i < 512; i++) s += b[i]!;
  return s;
}

function isSpaceOrNul(c: number): boolean {
  return c === 0 || c === 0x20;
}

/** Go's `parseOctal`: trim spaces and NULs at both ends, cut at a NUL, octal digits only. */
export function parseOctal(b: Buffer, start: number, end: number): number {
  while (start < end && isSpaceOrNul(b[start]!)) start++;
  while (end > start && isSpaceOrNul(b[end - 1]!)) end--;
  let x = 0;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c === 0) break;
    if (c < 0x30 || c > 0x37) throw new TarFormatError('a numeric field is not octal');
    x = x * 8 + (c - 0x30);
  }
  if (!Number.isSafeInteger(x)) throw new TarFormatError('a numeric field is out of range');
  return x;
}

/** Go's `parseNumeric`: GNU base-256 when the high bit of the first byte is set, else octal. */
export function parseNumeric(b: Buffer, start: number, end: number): number {
  const first = b[start]!;
  if ((first & 0x80) === 0) return parseOctal(b, start, end);
  const inv = first & 0x40 ? 0xff : 0;
  let x = 0n;
  for (let i = start; i < end; i++) {
    let c = b[i]! ^ inv;
    if (i === start) c &= 0x7f;
    x = (x << 8n) | BigInt(c);
  }
  // A negative number is ^x = -x-1 (two's complement read through the inversion mask).
  const v = inv ? -x - 1n : x;
  if (v > MAX_SAFE || v < -MAX_SAFE) throw new TarFormatError('a base-256 numeric field is out of range');
  return Number(v);
}

/** The bytes of a NUL-terminated field, copied (the block may be a reused buffer). */
export function fieldBytes(b: Buffer, start: number, end: number): Buffer {
  const nul = b.indexOf(0, start);
  const stop = nul === -1 || nul > end ? end : nul;
  return Buffer.from(b.subarray(start, stop));
}

function bytesEqual(b: Buffer, at: number, ascii: string): boolean {
  for (let i = 0; i < ascii.length; i++) if (b[at + i] !== ascii.charCodeAt(i)) return false;
  return true;
}

/** Whether the stored checksum matches the unsigned or signed sum (`sum` is the unsigned one). */
function checksumMatches(b: Buffer, sum: number): boolean {
  let stored: number;
  try {
    stored = parseOctal(b, 148, 156);
  } catch {
    return false;
  }
  let unsigned = sum;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const c = b[i]!;
    signed += c > 127 ? c - 256 : c;
  }
  for (let i = 148; i < 156; i++) {
    const c = b[i]!;
    unsigned += 0x20 - c;
    signed += 0x20 - (c > 127 ? c - 256 : c);
  }
  return stored === unsigned || stored === signed;
}

/**
 * Parses one non-zero header block (`sum` is {@link blockSum} of it).
 * @throws TarFormatError for a checksum mismatch or a malformed numeric field.
 */
export function parseHeader(b: Buffer, sum: number): RawHeader {
  if (!checksumMatches(b, sum)) throw new TarFormatError('header checksum mismatch (not a tar header)');
  let format: RawHeader['format'] = 'v7';
  if (bytesEqual(b, 257, 'ustar\0')) format = bytesEqual(b, 508, 'tar\0') ? 'star' : 'ustar';
  else if (bytesEqual(b, 257, 'ustar  \0')) format = 'gnu';
  let name = fieldBytes(b, 0, 100);
  const h: RawHeader = {
    typeflag: b[156]!,
    name,
    linkname: fieldBytes(b, 157, 257),
    mode: parseNumeric(b, 100, 108),
    uid: parseNumeric(b, 108, 116),
    gid: parseNumeric(b, 116, 124),
    size: parseNumeric(b, 124, 136),
    mtime: { sec: parseNumeric(b, 136, 148), nsec: 0 },
    devmajor: format === 'v7' ? 0 : parseNumeric(b, 329, 337),
    devminor: format === 'v7' ? 0 : parseNumeric(b, 337, 345),
    format,
  };
  if (format === 'ustar' || format === 'star') {
    const prefix = fieldBytes(b, 345, format === 'star' ? 476 : 500);
    if (prefix.length > 0) {
      name = Buffer.concat([prefix, Buffer.from('/'), name]);
      h.name = name;
    }
  }
  return h;
}

/** One sparse data fragment: `length` bytes of content at logical `offset`. */
export interface SparseFragment {
  readonly offset: number;
  readonly length: number;
}

/** The fragments of an old GNU sparse header or extension block (`S` type), up to the first empty slot. */
export function oldGnuSparseFragments(b: Buffer, at: number, slots: number, out: SparseFragment[]): void {
  for (let i = 0; i < slots; i++) {
    const o = at + i * 24;
    if (b[o] === 0) return;
    out.push({ offset: parseNumeric(b, o, o + 12), length: parseNumeric(b, o + 12, o + 24) });
  }
}

/** Go's `strconv.ParseInt(s, 10, 64)` for the values tar uses, within JavaScript's safe integers. */
export function parseDecimal(s: string): number {
  if (!/^[+-]?[0-9]+$/.test(s)) throw new TarFormatError(`${JSON.stringify(s.slice(0, 40))} is not a decimal number`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new TarFormatError(`${s.slice(0, 40)} is out of range`);
  return n === 0 ? 0 : n; // no -0
}

/**
 * Go's `parsePAXTime`: seconds, optionally `.` and fraction digits (more than 9 are truncated);
 * a negative time's fraction counts towards the past. Returns `nsec` in [0, 1e9).
 */
export function parsePaxTime(s: string): { sec: number; nsec: number } {
  const dot = s.indexOf('.');
  const secs = parseDecimal(dot === -1 ? s : s.slice(0, dot));
  if (dot === -1 || dot === s.length - 1) return { sec: secs, nsec: 0 };
  const frac = s.slice(dot + 1);
  if (!/^[0-9]+$/.test(frac)) throw new TarFormatError(`${JSON.stringify(s.slice(0, 40))} is not a PAX time`);
  let nsec = Number(frac.slice(0, 9).padEnd(9, '0'));
  let sec = secs;
  if (s.startsWith('-') && nsec > 0) {
    sec -= 1;
    nsec = 1e9 - nsec;
  }
  return { sec, nsec };
}

/** PAX keys whose value may not hold a NUL (for other keys, the key may not). */
const NUL_FREE_VALUES = new Set(['path', 'linkpath', 'uname', 'gname']);

/**
 * Parses the records of a PAX `x`/`g` extended header, as Go's `parsePAX`: `"%d %s=%s\n"` each,
 * the length counting the whole record; a value is the raw bytes between the first `=` and the
 * record's final newline. Keys are latin1 strings (one char per byte, so binary xattr names
 * survive). Later records override earlier ones; the PAX 0.0 sparse pairs
 * `GNU.sparse.offset`/`GNU.sparse.numbytes` are collected, in order, into `GNU.sparse.map`.
 */
export function parsePaxRecords(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const sparse: string[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const sp = buf.indexOf(0x20, pos);
    if (sp === -1 || sp - pos > 20) throw new TarFormatError('a PAX record has no length');
    const n = parseDecimal(buf.toString('latin1', pos, sp));
    const lenDigits = sp - pos + 1;
    if (n < 5 || n > buf.length - pos || n <= lenDigits) throw new TarFormatError('a PAX record length is wrong');
    const recEnd = pos + n - 1;
    if (buf[recEnd] !== 0x0a) throw new TarFormatError('a PAX record does not end with a newline');
    const eq = buf.indexOf(0x3d, sp + 1);
    if (eq === -1 || eq >= recEnd) throw new TarFormatError('a PAX record has no "="');
    if (eq === sp + 1) throw new TarFormatError('a PAX record has an empty key');
    const key = buf.toString('latin1', sp + 1, eq);
    const value = Buffer.from(buf.subarray(eq + 1, recEnd));
    if (NUL_FREE_VALUES.has(key) ? value.includes(0) : key.includes('\0'))
      throw new TarFormatError(`the PAX record ${JSON.stringify(key)} holds a NUL byte`);
    pos += n;
    if (key === 'GNU.sparse.offset' || key === 'GNU.sparse.numbytes') {
      const want = sparse.length % 2 === 0 ? 'GNU.sparse.offset' : 'GNU.sparse.numbytes';
      if (key !== want || value.includes(0x2c)) throw new TarFormatError('PAX 0.0 sparse records are out of order');
      sparse.push(value.toString('latin1'));
    } else {
      out.set(key, value);
    }
  }
  if (sparse.length > 0) out.set('GNU.sparse.map', Buffer.from(sparse.join(','), 'latin1'));
  return out;
}

/**
 * Go's `mergePAX`: the records of the pending `x` header applied to the header fields (an empty
 * value keeps the header's). Returns the `SCHILY.xattr.*` records and a PAX `atime`.
 */
export function mergePax(
  h: RawHeader,
  pax: ReadonlyMap<string, Buffer> | undefined,
): { xattrs: LayerXattr[]; atime: { sec: number; nsec: number } | undefined } {
  const xattrs: LayerXattr[] = [];
  let atime: { sec: number; nsec: number } | undefined;
  if (pax === undefined) return { xattrs, atime };
  for (const [key, value] of pax) {
    if (value.length === 0) continue;
    if (key === 'path') h.name = value;
    else if (key === 'linkpath') h.linkname = value;
    else if (key.startsWith('SCHILY.xattr.')) xattrs.push({ name: Buffer.from(key.slice(13), 'latin1'), value });
    else if (key === 'mtime') h.mtime = parsePaxTime(value.toString('latin1'));
    else if (key === 'atime') atime = parsePaxTime(value.toString('latin1'));
    else if (key === 'ctime')
      parsePaxTime(value.toString('latin1')); // checked, unused
    else if (key === 'uid' || key === 'gid' || key === 'size') h[key] = parseDecimal(value.toString('latin1'));
  }
  return { xattrs, atime };
}

/** The entry types by type flag (`S`, GNU old sparse, is a regular file). */
export const TYPES = new Map<number, LayerEntryType>([
  [0x30, 'file'],
  [0, 'file'],
  [0x31, 'link'],
  [0x32, 'symlink'],
  [0x33, 'char'],
  [0x34, 'block'],
  [0x35, 'directory'],
  [0x36, 'fifo'],
  [0x53, 'file'], // GNU old sparse
]);
/** Extended headers: PAX `x` and `g`, GNU `L` and `K`. */
export const META_TYPES = new Set([0x78, 0x67, 0x4c, 0x4b]); // x g L K

/** An entry's header with its extended records applied. */
export interface Assembled {
  readonly h: RawHeader;
  readonly type: LayerEntryType;
  readonly xattrs: LayerXattr[];
  readonly atime: { sec: number; nsec: number } | undefined;
}

const NO_BYTES = Buffer.alloc(0);

/** The entry handed to the visitor: link targets only on links, devices only on devices. */
export function layerEntry(a: Assembled, size: number): LayerEntry {
  const { h, type } = a;
  const device = type === 'char' || type === 'block';
  return {
    name: h.name,
    type,
    linkname: type === 'link' || type === 'symlink' ? h.linkname : NO_BYTES,
    mode: h.mode & 0o7777,
    uid: h.uid,
    gid: h.gid,
    size: type === 'file' ? size : 0,
    mtime: h.mtime,
    ...(a.atime === undefined ? {} : { atime: a.atime }),
    devmajor: device ? h.devmajor : 0,
    devminor: device ? h.devminor : 0,
    xattrs: a.xattrs,
  };
}
