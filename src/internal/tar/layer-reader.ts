/**
 * The byte-exact streaming reader of image layer tars: it parses the decompressed stream and
 * drives a {@link LayerVisitor} (./entry.ts), with the semantics of Go's `archive/tar` reader
 * (golang/go `src/archive/tar/reader.go`), which containers/storage and umoci read layers with.
 *
 * - Formats: USTAR (with `prefix`), V7, GNU (`L`/`K` long name and link records, base-256
 *   numbers), star, PAX `x` records (`path`, `linkpath`, `size`, `uid`, `gid`, `mtime`, `atime`,
 *   `SCHILY.xattr.*`, `GNU.sparse.*`; an empty value keeps the header's; a later `x` replaces an
 *   earlier one). A GNU long name wins over a PAX `path`, a `GNU.sparse.name` over both. `g`
 *   global records are checked and ignored, and like Go they end the current entry's pending
 *   records. `hdrcharset` changes nothing: names, link targets and xattr values stay bytes.
 * - Sparse files (GNU `S`, PAX 0.0/0.1/1.0) come out expanded to their real size, holes as zeros
 *   (./layer-sparse.ts).
 * - Types: `0`/NUL regular (a NUL-type name ending in `/` is a directory, as in Go), `1`–`6`;
 *   `7` (contiguous) and every other type are `UNSUPPORTED`. Type `1`–`6` entries have no data
 *   whatever their size field says (Go's `isHeaderOnlyType`).
 * - Malformed input is `INVALID_INPUT` naming the byte offset of the entry's first header: a
 *   checksum mismatch, a bad numeric field or PAX record, a PAX/GNU record over 1 MiB (Go's
 *   limit), a zero block followed by a non-zero one, an archive ending inside an entry or after
 *   an extended header without its entry (Go would end cleanly there; ocikit is stricter). A clean
 *   EOF at a header boundary (or where only padding is missing, as Go allows) ends the archive
 *   with `endMarker: false`.
 * - After the two end-of-archive blocks the reader returns without pulling more from `source` and
 *   without ending it: the caller drains it (a layer's DiffID covers the bytes after the tar).
 *
 * Speed: a chunk is parsed synchronously; content is handed out as subarrays of the incoming
 * chunks; the reader awaits only when a visitor call returns a promise, and it pulls the next
 * chunk only then and once the chunk is used up. Memory is bounded by the record limits.
 */
import { OcikitError } from '../../errors.js';
import type { LayerReadResult, LayerVisitor } from './entry.js';
import {
  type RawHeader,
  type SparseFragment,
  TarFormatError,
  type Assembled,
  META_TYPES,
  TYPES,
  blockSum,
  layerEntry,
  mergePax,
  oldGnuSparseFragments,
  parseHeader,
  parseNumeric,
  parsePaxRecords,
} from './layer-header.js';
import { SparseMap1Reader, paxSparse, sparseSegments } from './layer-sparse.js';

/** Options of {@link readLayer}. */
export interface LayerReadOptions {
  /** Names the stream in error messages (e.g. `layer sha256:…`); default `layer`. */
  readonly label?: string;
  /** The largest PAX record set, GNU long name or link accepted, in bytes; default 1 MiB (Go's). */
  readonly maxRecordSize?: number;
}

const MAX_RECORD = 1 << 20;
/** The one buffer holes are handed out from (visitors must not write to data buffers). */
const ZEROS = Buffer.alloc(64 * 1024);
const EMPTY = Buffer.alloc(0);

// Parser states.
const HEADER = 0;
const ZERO2 = 1;
const META = 2;
const SPARSE_EXT = 3;
const SPARSE_MAP = 4;
const DATA = 5;
const PAD = 6;
const DONE = 7;

type Step = Promise<void> | undefined;

function padding(size: number): number {
  return (512 - (size % 512)) % 512;
}

/** The entry being assembled while its sparse extension blocks or 1.0 map are read. */
interface Pending extends Assembled {
  readonly fragments: SparseFragment[];
  realSize: number;
  /** Stored bytes still to read (the physical size). */
  stored: number;
}

class LayerParser {
  entries = 0;
  endMarker = false;
  done = false;

  private chunk: Buffer = EMPTY;
  private pos = 0;
  /** Absolute offset of `chunk[0]` in the stream. */
  private base = 0;
  private state = HEADER;
  private readonly blk = Buffer.alloc(512);
  private fill = 0;
  private entryOffset = 0;
  private pendingMeta = false;
  private pax: Map<string, Buffer> | undefined;
  private longName: Buffer | undefined;
  private longLink: Buffer | undefined;
  private metaType = 0;
  private metaBuf: Buffer = EMPTY;
  private metaFill = 0;
  private padLeft = 0;
  private pending: Pending | undefined;
  private map: SparseMap1Reader | undefined;
  private segs: number[] | null = null;
  private segIdx = 0;
  private segLeft = 0;
  private segHole = false;
  private readonly resume = (): Step => this.run();

  constructor(
    private readonly visitor: LayerVisitor,
    private readonly label: string,
    private readonly maxRecord: number,
  ) {}

  push(chunk: Buffer): Step {
    this.base += this.chunk.length;
    this.chunk = chunk;
    this.pos = 0;
    return this.run();
  }

  finish(): void {
    const s = this.state;
    if (s === DONE) return;
    if ((s === HEADER || s === ZERO2) && this.fill > 0) {
      if (!this.pendingMeta) this.entryOffset = this.base + this.chunk.length - this.fill;
      throw this.invalid('the archive ends inside a header');
    }
    if (s !== HEADER && s !== ZERO2 && s !== PAD) throw this.invalid('the archive ends inside an entry');
    if (this.pendingMeta) throw this.invalid('the archive ends after an extended header without its entry');
    this.state = DONE;
  }

  private invalid(msg: string): OcikitError {
    return new OcikitError('INVALID_INPUT', `${this.label}: ${msg} (entry at offset ${this.entryOffset})`);
  }

  /** The next 512-byte block: a subarray of the chunk when it holds one whole, else gathered. */
  private takeBlock(): Buffer | undefined {
    const avail = this.chunk.length - this.pos;
    if (this.fill === 0 && avail >= 512) {
      this.pos += 512;
      return this.chunk.subarray(this.pos - 512, this.pos);
    }
    const n = Math.min(avail, 512 - this.fill);
    this.chunk.copy(this.blk, this.fill, this.pos, this.pos + n);
    this.pos += n;
    this.fill += n;
    if (this.fill < 512) return undefined;
    this.fill = 0;
    return this.blk;
  }

  private run(): Step {
    try {
      return this.loop();
    } catch (e) {
      if (e instanceof TarFormatError) throw this.invalid(e.message);
      throw e;
    }
  }

  private loop(): Step {
    for (;;) {
      switch (this.state) {
        case DATA: {
          if (this.segLeft === 0 && !this.nextSegment()) {
            this.state = PAD;
            this.entries++;
            const r = this.visitor.end();
            if (r) return r.then(this.resume);
            continue;
          }
          let piece: Buffer;
          if (this.segHole) {
            piece = ZEROS.subarray(0, Math.min(this.segLeft, ZEROS.length));
          } else {
            const avail = this.chunk.length - this.pos;
            if (avail === 0) return undefined;
            const n = Math.min(avail, this.segLeft);
            piece = this.chunk.subarray(this.pos, this.pos + n);
            this.pos += n;
          }
          this.segLeft -= piece.length;
          const r = this.visitor.data(piece);
          if (r) return r.then(this.resume);
          continue;
        }
        case HEADER: {
          const b = this.takeBlock();
          if (b === undefined) return undefined;
          if (!this.pendingMeta) this.entryOffset = this.base + this.pos - 512;
          const sum = blockSum(b);
          if (sum === 0) {
            this.state = ZERO2;
            continue;
          }
          const r = this.onHeader(parseHeader(b, sum), b);
          if (r) return r.then(this.resume);
          continue;
        }
        case PAD: {
          const n = Math.min(this.padLeft, this.chunk.length - this.pos);
          this.pos += n;
          this.padLeft -= n;
          if (this.padLeft > 0) return undefined;
          this.state = HEADER;
          continue;
        }
        case META: {
          const n = Math.min(this.metaBuf.length - this.metaFill, this.chunk.length - this.pos);
          this.chunk.copy(this.metaBuf, this.metaFill, this.pos, this.pos + n);
          this.pos += n;
          this.metaFill += n;
          if (this.metaFill < this.metaBuf.length) return undefined;
          this.state = PAD;
          this.onMeta();
          continue;
        }
        case ZERO2: {
          const b = this.takeBlock();
          if (b === undefined) return undefined;
          if (blockSum(b) !== 0) throw this.invalid('a zero block is followed by a non-zero block');
          if (this.pendingMeta) throw this.invalid('the archive ends after an extended header without its entry');
          this.endMarker = true;
          this.state = DONE;
          this.done = true;
          return undefined;
        }
        case SPARSE_EXT: {
          const b = this.takeBlock();
          if (b === undefined) return undefined;
          const p = this.pending!;
          oldGnuSparseFragments(b, 0, 21, p.fragments);
          if (b[504]! > 0) continue;
          const r = this.emitSparse(p);
          if (r) return r.then(this.resume);
          continue;
        }
        case SPARSE_MAP: {
          const r = this.readSparseMap();
          if (r === null) return undefined;
          if (r) return r.then(this.resume);
          continue;
        }
        default:
          return undefined;
      }
    }
  }

  private nextSegment(): boolean {
    const segs = this.segs;
    if (segs === null || this.segIdx >= segs.length) return false;
    const v = segs[this.segIdx++]!;
    this.segHole = v < 0;
    this.segLeft = Math.abs(v);
    return true;
  }

  private onMeta(): void {
    const buf = this.metaBuf;
    this.metaBuf = EMPTY;
    switch (this.metaType) {
      case 0x78: // x: replaces earlier records, as Go does
        this.pax = parsePaxRecords(buf);
        break;
      case 0x67: // g: checked, then ignored; like Go's Next returning it, it ends what was pending
        parsePaxRecords(buf);
        this.pax = undefined;
        this.longName = undefined;
        this.longLink = undefined;
        this.pendingMeta = false;
        break;
      default: {
        const nul = buf.indexOf(0);
        const value = nul === -1 ? buf : buf.subarray(0, nul);
        if (this.metaType === 0x4c) this.longName = value;
        else this.longLink = value;
      }
    }
  }

  private onHeader(h: RawHeader, b: Buffer): Step {
    const t = h.typeflag;
    if (META_TYPES.has(t)) {
      if (h.size < 0 || h.size > this.maxRecord)
        throw this.invalid(`an extended header of ${h.size} bytes exceeds the limit of ${this.maxRecord}`);
      this.pendingMeta = true;
      this.metaType = t;
      this.metaBuf = Buffer.allocUnsafe(h.size);
      this.metaFill = 0;
      this.padLeft = padding(h.size);
      this.state = META;
      return undefined;
    }
    let type = TYPES.get(t);
    if (type === undefined) {
      const flag = t >= 0x21 && t < 0x7f ? `'${String.fromCharCode(t)}'` : `0x${t.toString(16)}`;
      throw new OcikitError(
        'UNSUPPORTED',
        `${this.label}: entry type ${flag} at offset ${this.entryOffset} is not supported` +
          (t === 0x37 ? ' (contiguous file)' : ''),
      );
    }
    const { xattrs, atime } = mergePax(h, this.pax);
    if (this.longName !== undefined && this.longName.length > 0) h.name = this.longName;
    if (this.longLink !== undefined && this.longLink.length > 0) h.linkname = this.longLink;
    if (t === 0 && h.name.length > 0 && h.name[h.name.length - 1] === 0x2f) type = 'directory';
    const headerOnly = type !== 'file';
    if (h.size < 0 && !headerOnly) throw this.invalid('the entry has a negative size');
    const stored = headerOnly ? 0 : h.size;
    this.padLeft = padding(stored);
    const pax = this.pax;
    this.pax = undefined;
    this.longName = undefined;
    this.longLink = undefined;
    this.pendingMeta = false;
    if (t === 0x53) {
      if (h.format !== 'gnu') throw this.invalid('a GNU sparse entry without a GNU header');
      const p: Pending = { h, type, xattrs, atime, fragments: [], realSize: parseNumeric(b, 483, 495), stored };
      oldGnuSparseFragments(b, 386, 4, p.fragments);
      if (b[482]! > 0) {
        this.pending = p;
        this.state = SPARSE_EXT;
        return undefined;
      }
      return this.emitSparse(p);
    }
    const ps = pax === undefined ? undefined : paxSparse(pax);
    if (ps === undefined) {
      this.segs = null;
      this.segLeft = stored;
      this.segHole = false;
      return this.emit({ h, type, xattrs, atime }, stored);
    }
    if (headerOnly) throw this.invalid('a sparse map on an entry that is not a regular file');
    if (ps.name !== undefined) h.name = ps.name;
    const p: Pending = {
      h,
      type,
      xattrs,
      atime,
      fragments: ps.fragments === 'in-data' ? [] : ps.fragments,
      realSize: ps.realSize ?? stored,
      stored,
    };
    if (ps.fragments !== 'in-data') return this.emitSparse(p);
    this.pending = p;
    this.map = new SparseMap1Reader();
    this.state = SPARSE_MAP;
    return undefined;
  }

  /** Reads PAX 1.0 map blocks from the data; null when the chunk ran out. */
  private readSparseMap(): Step | null {
    const p = this.pending!;
    if (p.stored < 512) throw this.invalid('the sparse map runs past the entry data');
    const b = this.takeBlock();
    if (b === undefined) return null;
    p.stored -= 512;
    const fragments = this.map!.add(b);
    if (fragments === undefined) return undefined;
    this.map = undefined;
    p.fragments.push(...fragments);
    return this.emitSparse(p);
  }

  private emitSparse(p: Pending): Step {
    this.pending = undefined;
    this.segs = sparseSegments(p.fragments, p.realSize, p.stored);
    this.segIdx = 0;
    this.segLeft = 0;
    return this.emit(p, p.realSize);
  }

  private emit(a: Assembled, size: number): Step {
    const entry = layerEntry(a, size);
    if (a.type !== 'file') this.segLeft = 0;
    this.state = DATA;
    return this.visitor.entry(entry) || undefined;
  }
}

/**
 * Reads one layer tar from `source` (the decompressed stream, in chunks) and drives `visitor`
 * through its entries (see the module comment for the formats and rules).
 * @returns the number of entries and whether the end-of-archive blocks were there.
 * @throws OcikitError `INVALID_INPUT` for a malformed or truncated archive, `UNSUPPORTED` for an
 *   entry type a layer may not hold; a visitor's own error as it is.
 */
export async function readLayer(
  source: AsyncIterable<Buffer>,
  visitor: LayerVisitor,
  opts: LayerReadOptions = {},
): Promise<LayerReadResult> {
  const parser = new LayerParser(visitor, opts.label ?? 'layer', opts.maxRecordSize ?? MAX_RECORD);
  // Not `for await`: leaving that loop would end the source, which the caller still drains.
  const it = source[Symbol.asyncIterator]();
  while (!parser.done) {
    const r = await it.next();
    if (r.done) {
      parser.finish();
      break;
    }
    const step = parser.push(r.value);
    if (step) await step;
  }
  return { entries: parser.entries, endMarker: parser.endMarker };
}
