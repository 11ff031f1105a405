/**
 * Sparse files for the layer reader (./layer-reader.ts), as Go's `archive/tar` reads them
 * (golang/go `src/archive/tar/reader.go`: `readOldGNUSparseMap`, `readGNUSparsePAXHeaders`,
 * `readGNUSparseMap1x0`, `readGNUSparseMap0x1`; `common.go`: `validateSparseEntries`):
 *
 * - GNU old sparse (type `S`): up to 4 fragments in the header, 21 more per extension block
 *   while the "is extended" byte is set; the real size in the header's `realsize` field.
 * - PAX 0.0 (`GNU.sparse.offset`/`numbytes` pairs, gathered into a map by the PAX parser) and 0.1
 *   (`GNU.sparse.numblocks` + `GNU.sparse.map`); PAX 1.0 (`GNU.sparse.major=1`, `minor=0`): the map
 *   is decimal lines at the start of the data, in whole 512-byte blocks. `GNU.sparse.name` is the
 *   real name, `GNU.sparse.size` or `GNU.sparse.realsize` the real size. An unknown version is not
 *   sparse (Go reads it as a plain file).
 *
 * The fragments must be in order, not overlap and end within the real size; their lengths must add
 * up to the stored data (Go fails the read with "missing"/"unreferenced" data otherwise).
 */
import { type SparseFragment, TarFormatError, parseDecimal } from './layer-header.js';

/** At most this many fragments per file (Go has no bound; a hostile map would only cost memory). */
export const MAX_SPARSE_FRAGMENTS = 1 << 20;

/** What a PAX-sparse entry's records say. */
export interface PaxSparse {
  /** The map comes from the records (0.x) or, for 1.0, from the start of the data. */
  readonly fragments: SparseFragment[] | 'in-data';
  readonly name?: Buffer;
  readonly realSize?: number;
}

function latin1(b: Buffer | undefined): string {
  return b === undefined ? '' : b.toString('latin1');
}

function checkCount(n: number): void {
  if (n < 0 || n > MAX_SPARSE_FRAGMENTS) throw new TarFormatError(`a sparse map has ${n} entries`);
}

/** The PAX sparse description of an entry's records, or undefined when it is not PAX sparse. */
export function paxSparse(pax: ReadonlyMap<string, Buffer>): PaxSparse | undefined {
  const major = latin1(pax.get('GNU.sparse.major'));
  const minor = latin1(pax.get('GNU.sparse.minor'));
  let v1 = false;
  if (major === '0' && (minor === '0' || minor === '1')) v1 = false;
  else if (major === '1' && minor === '0') v1 = true;
  else if (major !== '' || minor !== '') return undefined;
  else if (latin1(pax.get('GNU.sparse.map')) === '') return undefined;
  const name = pax.get('GNU.sparse.name');
  const size = latin1(pax.get('GNU.sparse.size')) || latin1(pax.get('GNU.sparse.realsize'));
  let fragments: PaxSparse['fragments'] = 'in-data';
  if (!v1) {
    const count = parseDecimal(latin1(pax.get('GNU.sparse.numblocks')));
    checkCount(count);
    const text = latin1(pax.get('GNU.sparse.map'));
    const nums = text === '' ? [] : text.split(',');
    if (nums.length !== 2 * count) throw new TarFormatError('GNU.sparse.map does not match GNU.sparse.numblocks');
    fragments = [];
    for (let i = 0; i < nums.length; i += 2)
      fragments.push({ offset: parseDecimal(nums[i]!), length: parseDecimal(nums[i + 1]!) });
  }
  return {
    fragments,
    ...(name !== undefined && name.length > 0 ? { name } : {}),
    ...(size !== '' ? { realSize: parseDecimal(size) } : {}),
  };
}

/**
 * Parses a PAX 1.0 map from the blocks read so far: the fragment count, then an offset and a
 * length per fragment, one decimal per line.
 * @returns the fragments, or undefined when more blocks are needed.
 */
export function parseSparseMap1(text: Buffer): SparseFragment[] | undefined {
  let pos = 0;
  const next = (): string | undefined => {
    const nl = text.indexOf(0x0a, pos);
    if (nl === -1) return undefined;
    const tok = text.toString('latin1', pos, nl);
    pos = nl + 1;
    return tok;
  };
  const first = next();
  if (first === undefined) return undefined;
  const count = parseDecimal(first);
  checkCount(count);
  const fragments: SparseFragment[] = [];
  for (let i = 0; i < count; i++) {
    const o = next();
    const l = o === undefined ? undefined : next();
    if (l === undefined) return undefined;
    fragments.push({ offset: parseDecimal(o!), length: parseDecimal(l) });
  }
  return fragments;
}

/** A PAX 1.0 sparse map (decimal text at the start of the data) is read up to this size. */
const MAX_SPARSE_MAP = 16 << 20;

/**
 * Gathers a PAX 1.0 map block by block, as Go does: blocks are read until they hold the count's
 * line and two lines per fragment; the text is parsed (at most twice) only then.
 */
export class SparseMap1Reader {
  private readonly blocks: Buffer[] = [];
  private newlines = 0;
  private need = 1;

  /** Adds the next 512-byte block; returns the fragments once the map is complete. */
  add(block: Buffer): SparseFragment[] | undefined {
    this.blocks.push(Buffer.from(block));
    if (this.blocks.length * 512 > MAX_SPARSE_MAP) throw new TarFormatError('the sparse map is too large');
    for (let i = 0; i < 512; i++) if (block[i] === 0x0a) this.newlines++;
    if (this.newlines < this.need) return undefined;
    const text = Buffer.concat(this.blocks);
    const parsed = parseSparseMap1(text);
    if (parsed !== undefined) return parsed;
    const count = parseDecimal(text.toString('latin1', 0, text.indexOf(0x0a)));
    checkCount(count);
    this.need = 2 * count + 1;
    return undefined;
  }
}

/**
 * Checks the fragments against the real size and the stored data length and turns them into the
 * file's content as segments in order: a positive number is that many bytes of stored data, a
 * negative one a hole of that many zero bytes.
 */
export function sparseSegments(fragments: readonly SparseFragment[], realSize: number, stored: number): number[] {
  if (fragments.length > MAX_SPARSE_FRAGMENTS) checkCount(fragments.length);
  if (realSize < 0) throw new TarFormatError('a sparse file has a negative size');
  const segs: number[] = [];
  let end = 0;
  let data = 0;
  for (const f of fragments) {
    if (f.offset < 0 || f.length < 0) throw new TarFormatError('a sparse map entry is negative');
    if (f.offset + f.length > realSize) throw new TarFormatError('a sparse map entry ends after the file');
    if (f.offset < end) throw new TarFormatError('sparse map entries overlap or are out of order');
    if (f.offset > end) segs.push(end - f.offset);
    if (f.length > 0) segs.push(f.length);
    end = f.offset + f.length;
    data += f.length;
  }
  if (realSize > end) segs.push(end - realSize);
  if (data !== stored)
    throw new TarFormatError(`a sparse map references ${data} bytes of data, the entry stores ${stored}`);
  return segs;
}
