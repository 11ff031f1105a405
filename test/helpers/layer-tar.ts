/**
 * A small tar writer for layer tests: entry by entry, with exact control over the bytes (raw-byte
 * names, PAX records, GNU long names, base-256 numbers, binary xattr values, broken checksums), so
 * tests can build hostile and exact layers. `layerTar([{ name: 'etc/', type: 'directory' }, { name:
 * 'etc/x', content: 'hi', xattrs: { 'user.a': Buffer.from([0xc0]) } }])` is a PAX archive.
 *
 * Formats: `pax` (default: USTAR headers, a PAX `x` record set when anything does not fit — long
 * or non-ASCII names, big numbers, sub-second times, xattrs — or `pax` records are given), `ustar`
 * (long names split into `prefix`), `gnu` (`L`/`K` records, base-256 for big or negative numbers),
 * `v7` (no magic).
 */

export type LayerTarType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'directory' | 'fifo';
type Bytes = string | Buffer;

/** One entry of {@link layerTar}. */
export interface LayerTarEntry {
  name: Bytes;
  type?: LayerTarType;
  /** A raw type flag instead of `type` (`'7'`, `'\0'`, `'g'`, …). */
  typeflag?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds (fractions go to a PAX record), or exact seconds and nanoseconds. */
  mtime?: number | { sec: number; nsec: number };
  content?: Bytes;
  linkname?: Bytes;
  devmajor?: number;
  devminor?: number;
  uname?: string;
  gname?: string;
  /** `SCHILY.xattr.<name>` records, in order. */
  xattrs?: Record<string, Bytes> | [Bytes, Bytes][];
  /** Extra raw PAX records for this entry (written after the generated ones). */
  pax?: Record<string, Bytes> | [Bytes, Bytes][];
  format?: 'pax' | 'ustar' | 'gnu' | 'v7';
  /** Write every numeric field in base-256. */
  base256?: boolean;
  /** The header's size field, when it should differ from the content's length. */
  size?: number;
  /** Changes the header block before its checksum is computed. */
  patch?: (header: Buffer) => void;
  /** `signed` writes the signed byte sum (old tars); `bad` a wrong one. */
  checksum?: 'unsigned' | 'signed' | 'bad';
}

/** Options of {@link layerTar}. */
export interface LayerTarOptions {
  /** Write the two end-of-archive blocks (default true). */
  end?: boolean;
  /** Bytes appended after the archive (GNU tar pads to a 10 KiB record). */
  trailing?: Buffer;
}

const TYPEFLAGS: Record<LayerTarType, string> = {
  file: '0',
  link: '1',
  symlink: '2',
  char: '3',
  block: '4',
  directory: '5',
  fifo: '6',
};

const bytes = (b: Bytes): Buffer => (typeof b === 'string' ? Buffer.from(b) : b);
const pairs = (r: Record<string, Bytes> | [Bytes, Bytes][] | undefined): [Buffer, Buffer][] =>
  r === undefined
    ? []
    : (Array.isArray(r) ? r : Object.entries(r)).map(([k, v]) => [bytes(k), bytes(v)] as [Buffer, Buffer]);

/** One PAX record, `"%d %s=%s\n"` with the length counting itself. */
export function paxRecord(key: Bytes, value: Bytes): Buffer {
  const body = Buffer.concat([Buffer.from(' '), bytes(key), Buffer.from('='), bytes(value), Buffer.from('\n')]);
  let n = body.length + 1;
  while (String(n).length + body.length !== n) n++;
  return Buffer.concat([Buffer.from(String(n)), body]);
}

/** The records of a PAX header's data. */
export function paxRecords(records: Record<string, Bytes> | [Bytes, Bytes][]): Buffer {
  return Buffer.concat(pairs(records).map(([k, v]) => paxRecord(k, v)));
}

function pad(b: Buffer): Buffer {
  const n = (512 - (b.length % 512)) % 512;
  return n === 0 ? b : Buffer.concat([b, Buffer.alloc(n)]);
}

/** Writes `value` into `h[at, at+len)`: octal with a NUL when it fits, else base-256 (or throws). */
function putNumber(h: Buffer, at: number, len: number, value: number, base256: boolean): void {
  const octal = value.toString(8);
  if (!base256 && value >= 0 && octal.length <= len - 1) {
    h.write(`${octal.padStart(len - 1, '0')}\0`, at, 'latin1');
    return;
  }
  let x = BigInt(value);
  if (x < 0n) x = (1n << BigInt(len * 8)) + x;
  for (let i = len - 1; i >= 0; i--) {
    h[at + i] = Number(x & 0xffn);
    x >>= 8n;
  }
  h[at] = h[at]! | 0x80;
}

function fits(value: number, len: number): boolean {
  return value >= 0 && value.toString(8).length <= len - 1;
}

/** Finalises a header block's checksum. */
function checksum(h: Buffer, how: LayerTarEntry['checksum']): void {
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const c of h) sum += how === 'signed' && c > 127 ? c - 256 : c;
  if (how === 'bad') sum += 1;
  h.write(`${(sum & 0o777777).toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
}

function header(e: LayerTarEntry, name: Buffer, link: Buffer, typeflag: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  const format = e.format ?? 'pax';
  const b256 = e.base256 === true;
  name.copy(h, 0, 0, Math.min(100, name.length));
  putNumber(h, 100, 8, e.mode ?? (e.type === 'directory' ? 0o755 : 0o644), b256);
  putNumber(h, 108, 8, e.uid ?? 0, b256 || (format === 'gnu' && !fits(e.uid ?? 0, 8)));
  putNumber(h, 116, 8, e.gid ?? 0, b256 || (format === 'gnu' && !fits(e.gid ?? 0, 8)));
  putNumber(h, 124, 12, size, b256 || (format === 'gnu' && !fits(size, 12)));
  const sec = typeof e.mtime === 'object' ? e.mtime.sec : Math.floor(e.mtime ?? 0);
  putNumber(h, 136, 12, sec, b256 || (format === 'gnu' && !fits(sec, 12)));
  h.write(typeflag, 156, 'latin1');
  link.copy(h, 157, 0, Math.min(100, link.length));
  if (format !== 'v7') {
    h.write(format === 'gnu' ? 'ustar  \0' : 'ustar\x0000', 257, 'latin1');
    h.write(e.uname ?? '', 265, 'latin1');
    h.write(e.gname ?? '', 297, 'latin1');
    putNumber(h, 329, 8, e.devmajor ?? 0, b256);
    putNumber(h, 337, 8, e.devminor ?? 0, b256);
  }
  return h;
}

/** Splits a long USTAR name at a `/` into prefix (≤155) and name (≤100). */
function ustarSplit(name: Buffer): [Buffer, Buffer] {
  if (name.length <= 100) return [Buffer.alloc(0), name];
  for (let i = Math.min(155, name.length - 1); i > 0; i--)
    if (name[i] === 0x2f && name.length - i - 1 <= 100) return [name.subarray(0, i), name.subarray(i + 1)];
  throw new Error(`${name} does not fit a USTAR header`);
}

/** The blocks of one entry (its extension records included). */
export function layerTarEntry(e: LayerTarEntry): Buffer {
  const format = e.format ?? 'pax';
  let name: Buffer = bytes(e.name);
  const link = bytes(e.linkname ?? '');
  const content = bytes(e.content ?? '');
  const size = e.size ?? content.length;
  const typeflag = e.typeflag ?? TYPEFLAGS[e.type ?? 'file'];
  const out: Buffer[] = [];
  const records: [Buffer, Buffer][] = [];
  let prefix: Buffer = Buffer.alloc(0);
  const nonAscii = (b: Buffer) => b.some((c) => c > 127);
  if (format === 'pax') {
    if (name.length > 100 || nonAscii(name)) records.push([bytes('path'), name]);
    if (link.length > 100 || nonAscii(link)) records.push([bytes('linkpath'), link]);
    for (const [k, v] of [
      ['uid', e.uid ?? 0],
      ['gid', e.gid ?? 0],
      ['size', size],
    ] as const)
      if (!fits(v, k === 'size' ? 12 : 8)) records.push([bytes(k), bytes(String(v))]);
    if (typeof e.mtime === 'object' && e.mtime.nsec > 0)
      records.push([bytes('mtime'), bytes(`${e.mtime.sec}.${String(e.mtime.nsec).padStart(9, '0')}`)]);
    else if (typeof e.mtime === 'number' && (!Number.isInteger(e.mtime) || e.mtime < 0))
      records.push([bytes('mtime'), bytes(String(e.mtime))]);
  }
  if (format === 'ustar') [prefix, name] = ustarSplit(name);
  for (const [k, v] of pairs(e.xattrs)) records.push([Buffer.concat([bytes('SCHILY.xattr.'), k]), v]);
  records.push(...pairs(e.pax));
  if (records.length > 0) {
    const data = Buffer.concat(records.map(([k, v]) => paxRecord(k, v)));
    const x = header({ name: '', format: 'pax' }, Buffer.from('PaxHeaders/x'), Buffer.alloc(0), 'x', data.length);
    checksum(x, 'unsigned');
    out.push(x, pad(data));
  }
  if (format === 'gnu') {
    for (const [flag, value] of [
      ['K', link],
      ['L', name],
    ] as const) {
      if (value.length <= 100) continue;
      const data = Buffer.concat([value, Buffer.alloc(1)]);
      const l = header({ name: '', format: 'gnu' }, Buffer.from('././@LongLink'), Buffer.alloc(0), flag, data.length);
      checksum(l, 'unsigned');
      out.push(l, pad(data));
    }
  }
  if (typeof e.mtime === 'number' && e.mtime < 0 && format === 'pax') e = { ...e, mtime: 0 };
  const h = header(e, name, link, typeflag, size);
  if (prefix.length > 0) prefix.copy(h, 345);
  e.patch?.(h);
  checksum(h, e.checksum ?? 'unsigned');
  out.push(h, pad(content));
  return Buffer.concat(out);
}

/** A whole tar of `entries`, in order, with the end-of-archive blocks unless `end: false`. */
export function layerTar(entries: readonly LayerTarEntry[], opts: LayerTarOptions = {}): Buffer {
  const parts = entries.map(layerTarEntry);
  if (opts.end !== false) parts.push(Buffer.alloc(1024));
  if (opts.trailing) parts.push(opts.trailing);
  return Buffer.concat(parts);
}
