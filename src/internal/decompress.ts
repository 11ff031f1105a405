/**
 * Decompressing an image layer by its magic bytes (deploy R4, R5, deploy corpus case 52), streaming with bounded
 * memory:
 * - gzip `1f 8b` through `node:zlib`, with the member framing done here (header, raw deflate,
 *   CRC-32 and size trailer, RFC 1952) so that what follows each member is known exactly:
 *   concatenated members are decoded in turn, zero bytes to the end are padding, anything else is
 *   {@link TrailingDataError}, raised only after every byte of the last member was handed out
 *   (Node's own gunzip drops the last output of a write that ends in such bytes);
 * - zstd `28 b5 2f fd`, or a skippable frame `5? 2a 4d 18` first: concatenated frames and
 *   skippable frames (zstd:chunked's TOC and tar-split data, R5) decode to the tar. Decoders, in
 *   order of preference: the `zstd` binary (`zstd -dc` as a filter), Node's
 *   `zlib.createZstdDecompress` (Node ≥ 22.15), fzstd's streaming `Decompress` (pure JS);
 * - anything else is plain (bzip2 and xz are named and refused: R3).
 * Sources: containers/storage `pkg/archive/archive.go` (`DetectCompression`), containers/storage
 * `pkg/chunked/internal/minimal/compression.go` (skippable frames), RFC 1952, RFC 8878 §3.1.2.
 */
import * as zlib from 'node:zlib';
import { Decompress as FzstdDecompress } from 'fzstd';
import { OcikitError } from '../errors.js';
import { findToolOnPath, streamTool } from './exec.js';

/** What a layer's bytes are. */
export type LayerCompression = 'gzip' | 'zstd' | 'none';

/** The zstd decoders, forcible for tests. */
export type ZstdDecoder = 'binary' | 'node' | 'fzstd';

/** Options of {@link decompressLayer}. */
export interface DecompressOptions {
  /** Names the stream in messages (e.g. `layer 2 (sha256:…)`). */
  readonly what: string;
  /** Which zstd decoder to use (default: the first available, in the order of the module header). */
  readonly zstd?: ZstdDecoder | undefined;
  /** Stops the `zstd` binary. */
  readonly signal?: AbortSignal | undefined;
  /**
   * Check each gzip member's CRC-32 (default true). A caller that hashes the whole decompressed
   * stream and compares it with a digest it trusts (a layer's DiffID, deploy R7) may turn it off:
   * that check is strictly stronger and covers the same bytes, and the CRC is one more pass over
   * them on the main thread. The member's length (ISIZE) is checked either way.
   */
  readonly gzipCrc?: boolean | undefined;
}

/** A decompressed stream. */
export interface Decompressed {
  readonly compression: LayerCompression;
  /** The zstd decoder used; undefined for gzip and plain streams. */
  readonly decoder: ZstdDecoder | undefined;
  /** The decompressed bytes. */
  readonly chunks: AsyncIterable<Buffer>;
  /** Reads what is left of the compressed source to its end (after a {@link TrailingDataError}). */
  drainSource(): Promise<void>;
}

/**
 * Bytes after the last gzip member that are neither another member nor zero padding (deploy corpus case 52). Every
 * byte of the members before was handed out; the caller decides: a warning once the tar has
 * ended, an error otherwise.
 */
export class TrailingDataError extends OcikitError {
  constructor(what: string) {
    super('INVALID_INPUT', `${what}: data after the last gzip member is not gzip`);
  }
}

/** Input handed to a decoder at once, at most (deflate expands at most ~1032:1). */
const PIECE = 64 * 1024;
/**
 * Compressed input handed to zlib per write: large, so that zlib keeps decompressing in the thread
 * pool (up to {@link INFLATE_AHEAD}) while the reader is busy, without waiting for the next write;
 * zlib's output stays in chunks of {@link INFLATE_CHUNK} and under backpressure whatever the piece.
 */
const INFLATE_PIECE = 1024 * 1024;

/** A pull source over an async iterable that can put bytes back and stay drainable after a decoder stops. */
class ByteSource {
  readonly #it: AsyncIterator<Buffer>;
  readonly #head: Buffer[] = [];
  #eof = false;

  constructor(source: AsyncIterable<Buffer>) {
    this.#it = source[Symbol.asyncIterator]();
  }

  unshift(b: Buffer): void {
    if (b.length > 0) this.#head.unshift(b);
  }

  /** The next bytes (at most `max`), or undefined at the end. */
  async next(max = Number.POSITIVE_INFINITY): Promise<Buffer | undefined> {
    let b = this.#head.shift();
    while (b === undefined || b.length === 0) {
      if (this.#eof) return undefined;
      const r = await this.#it.next();
      if (r.done) {
        this.#eof = true;
        return undefined;
      }
      b = r.value;
    }
    if (b.length > max) {
      this.#head.unshift(b.subarray(max));
      b = b.subarray(0, max);
    }
    return b;
  }

  /** Exactly `n` bytes, or fewer at the end. */
  async read(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let got = 0;
    while (got < n) {
      const b = await this.next(n - got);
      if (b === undefined) break;
      parts.push(b);
      got += b.length;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  async *chunks(max = Number.POSITIVE_INFINITY): AsyncGenerator<Buffer> {
    for (let b = await this.next(max); b !== undefined; b = await this.next(max)) yield b;
  }

  async drain(): Promise<void> {
    while ((await this.next()) !== undefined);
  }
}

/** R4: the compression the first bytes show. */
export function detectLayerCompression(head: Uint8Array): LayerCompression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd && head[0] === 0x28) return 'zstd';
  if (head.length >= 4 && (head[0]! & 0xf0) === 0x50 && head[1] === 0x2a && head[2] === 0x4d && head[3] === 0x18)
    return 'zstd';
  return 'none';
}

/** bzip2 (`BZh`) and xz (`fd 37 7a 58 5a 00`), which c/storage would decode and ocikit refuses (R3). */
function refusedCompression(head: Buffer): string | undefined {
  if (head.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  return undefined;
}

let nodeZstd: boolean | undefined;

/** The decoder used when none is forced. */
async function defaultZstdDecoder(): Promise<ZstdDecoder> {
  if ((await findToolOnPath('zstd')) !== undefined) return 'binary';
  nodeZstd ??= typeof (zlib as { createZstdDecompress?: unknown }).createZstdDecompress === 'function';
  return nodeZstd ? 'node' : 'fzstd';
}

/**
 * Decompresses `source` by its magic bytes (rules in the module header). Nothing is read before
 * the returned stream is consumed, except the first bytes.
 * @throws OcikitError `UNSUPPORTED` (bzip2, xz; a forced decoder that is missing); the stream
 *   throws `INVALID_INPUT` for corrupt data, {@link TrailingDataError}, `TOOL_FAILED`.
 */
export async function decompressLayer(source: AsyncIterable<Buffer>, opts: DecompressOptions): Promise<Decompressed> {
  const src = new ByteSource(source);
  const head = await src.read(6);
  src.unshift(head);
  const refused = refusedCompression(head);
  if (refused) throw new OcikitError('UNSUPPORTED', `${opts.what} is ${refused}-compressed, which is not supported`);
  const compression = detectLayerCompression(head);
  const drainSource = () => src.drain();
  if (compression === 'none') return { compression, decoder: undefined, chunks: src.chunks(), drainSource };
  if (compression === 'gzip')
    return { compression, decoder: undefined, chunks: gunzip(src, opts.what, opts.gzipCrc ?? true), drainSource };
  const decoder = opts.zstd ?? (await defaultZstdDecoder());
  return { compression, decoder, chunks: unzstd(src, decoder, opts), drainSource };
}

function corrupt(what: string, kind: string, err?: unknown): OcikitError {
  const why = err instanceof Error ? `: ${err.message}` : '';
  return new OcikitError('INVALID_INPUT', `${what}: ${kind} data is corrupt${why}`, { cause: err });
}

async function* unzstd(src: ByteSource, decoder: ZstdDecoder, opts: DecompressOptions): AsyncGenerator<Buffer> {
  if (decoder === 'binary') {
    try {
      yield* streamTool(['zstd', '-d', '-c', '-q'], src.chunks(), { signal: opts.signal });
    } catch (err) {
      if (err instanceof OcikitError && err.code === 'TOOL_FAILED') throw corrupt(opts.what, 'zstd', err);
      throw err;
    }
    return;
  }
  if (decoder === 'node') {
    const create = (zlib as { createZstdDecompress?: () => zlib.Zlib & NodeJS.ReadWriteStream }).createZstdDecompress;
    if (create === undefined)
      throw new OcikitError('UNSUPPORTED', `Node ${process.version} has no zstd decoder (zlib.createZstdDecompress)`);
    yield* viaZlibStream(src, create() as unknown as import('node:stream').Transform, opts.what, 'zstd');
    return;
  }
  const out: Buffer[] = [];
  const d = new FzstdDecompress((chunk) => {
    out.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
  });
  const push = (b: Uint8Array, final: boolean) => {
    try {
      d.push(b, final);
    } catch (err) {
      throw corrupt(opts.what, 'zstd', err);
    }
  };
  for await (const b of src.chunks(PIECE)) {
    push(b, false);
    // fzstd may reuse its window buffer: what it handed out is copied before the next push.
    while (out.length > 0) yield Buffer.from(out.shift()!);
  }
  push(new Uint8Array(0), true);
  while (out.length > 0) yield Buffer.from(out.shift()!);
}

/** Feeds `src` into a zlib transform and yields its output; the transform's errors become `INVALID_INPUT`. */
async function* viaZlibStream(
  src: ByteSource,
  t: import('node:stream').Transform,
  what: string,
  kind: string,
): AsyncGenerator<Buffer> {
  const feeding = (async () => {
    for await (const b of src.chunks(PIECE)) {
      if (!t.write(b)) await new Promise<void>((resolve) => t.once('drain', resolve).once('close', resolve));
      if (t.destroyed) return;
    }
    t.end();
  })().catch((err: unknown) => t.destroy(err as Error));
  try {
    for await (const b of t) yield b as Buffer;
  } catch (err) {
    throw err instanceof OcikitError ? err : corrupt(what, kind, err);
  } finally {
    t.destroy();
    await feeding;
  }
}

/** Reads one gzip member header (RFC 1952 §2.3). */
async function readGzipHeader(src: ByteSource, what: string): Promise<void> {
  const fixed = await src.read(10);
  if (fixed.length < 10) throw corrupt(what, 'gzip', new Error('truncated header'));
  if (fixed[2] !== 8) throw corrupt(what, 'gzip', new Error('unknown compression method'));
  const flags = fixed[3]!;
  if (flags & 0xe0) throw corrupt(what, 'gzip', new Error('unknown header flags set'));
  const parts = [fixed];
  const need = async (n: number) => {
    const b = await src.read(n);
    if (b.length < n) throw corrupt(what, 'gzip', new Error('truncated header'));
    parts.push(b);
    return b;
  };
  const zeroTerminated = async () => {
    for (;;) if ((await need(1))[0] === 0) return;
  };
  if (flags & 0x04) await need((await need(2)).readUInt16LE(0)); // FEXTRA
  if (flags & 0x08) await zeroTerminated(); // FNAME
  if (flags & 0x10) await zeroTerminated(); // FCOMMENT
  if (flags & 0x02) {
    const sum = zlib.crc32(Buffer.concat(parts)) & 0xffff;
    if ((await need(2)).readUInt16LE(0) !== sum) throw corrupt(what, 'gzip', new Error('header crc mismatch'));
  }
}

/**
 * zlib's output chunk: 256 KiB rather than its 16 KiB default, so a layer reaches the tar reader
 * in a few thousand pieces per GB (each piece is one turn through the async pipeline).
 */
const INFLATE_CHUNK = 256 * 1024;
/**
 * How far zlib may decompress ahead of the reader: while the reader applies many small files it
 * is the slower side and zlib fills this; while it writes big files it is the faster one and
 * drains it. A few chunks of lookahead leave the reader idle far less (bounded memory: 16 MiB).
 */
const INFLATE_AHEAD = 16 * 1024 * 1024;

/** The raw deflate data of one member; the bytes after it are put back into `src`. */
async function* inflateMember(src: ByteSource, what: string): AsyncGenerator<Buffer> {
  const inf = zlib.createInflateRaw({
    chunkSize: INFLATE_CHUNK,
    readableHighWaterMark: INFLATE_AHEAD,
  } as zlib.ZlibOptions);
  let fed = 0;
  const feeding = (async () => {
    for (;;) {
      const b = await src.next(INFLATE_PIECE);
      if (b === undefined) {
        inf.end();
        return;
      }
      // A zlib error never calls the write callback: the stream's close ends the wait too.
      await new Promise<void>((resolve, reject) => {
        const closed = () => reject(new Error('inflate stream closed'));
        inf.once('close', closed);
        inf.write(b, (e) => {
          inf.off('close', closed);
          if (e) reject(e);
          else resolve();
        });
      });
      fed += b.length;
      // zlib reports how much input the deflate stream took; less than given means it ended.
      if (inf.bytesWritten < fed) {
        src.unshift(b.subarray(b.length - (fed - inf.bytesWritten)));
        inf.end();
        return;
      }
    }
  })().catch((err: unknown) => inf.destroy(err as Error));
  try {
    for await (const b of inf) yield b as Buffer;
  } catch (err) {
    throw err instanceof OcikitError ? err : corrupt(what, 'gzip', err);
  } finally {
    inf.destroy();
    await feeding;
  }
}

async function* gunzip(src: ByteSource, what: string, checkCrc: boolean): AsyncGenerator<Buffer> {
  for (let member = 0; ; member++) {
    if (member > 0) {
      const next = await src.read(2);
      if (next.length === 0) return;
      src.unshift(next);
      if (next[0] === 0) {
        // Zero padding to the end is fine; zeros and then anything else are trailing data.
        for await (const b of src.chunks()) {
          const nz = b.findIndex((x) => x !== 0);
          if (nz >= 0) {
            src.unshift(b.subarray(nz));
            throw new TrailingDataError(what);
          }
        }
        return;
      }
      if (next[0] !== 0x1f || next[1] !== 0x8b) throw new TrailingDataError(what);
    }
    await readGzipHeader(src, what);
    let crc = 0;
    let size = 0;
    for await (const b of inflateMember(src, what)) {
      if (checkCrc) crc = zlib.crc32(b, crc);
      size = (size + b.length) % 0x100000000;
      yield b;
    }
    const trailer = await src.read(8);
    if (trailer.length < 8) throw corrupt(what, 'gzip', new Error('unexpected end of file'));
    if (checkCrc && trailer.readUInt32LE(0) !== crc >>> 0) throw corrupt(what, 'gzip', new Error('crc mismatch'));
    if (trailer.readUInt32LE(4) !== size) throw corrupt(what, 'gzip', new Error('length mismatch'));
  }
}
