/**
 * PLACEHOLDER (helper `layerstream`, issue 12): a minimal USTAR-only stand-in for the byte-exact
 * layer reader that the `tarread` helper writes in this file, so that `deploy` compiles and its
 * tests run before that lands. It knows plain USTAR headers (no PAX, GNU or sparse records), and
 * like the real one it stops after the end-of-archive blocks without draining `source`.
 * The real file replaces this one on merge.
 */
import { OcikitError } from '../../errors.js';
import type { LayerEntryType, LayerReadResult, LayerVisitor } from './entry.js';

/** Options of {@link readLayer} (none in the placeholder). */
export interface ReadLayerOptions {
  /** Names the layer in messages. */
  readonly what?: string;
}

const TYPES: Record<string, LayerEntryType> = {
  '0': 'file',
  '\0': 'file',
  '1': 'link',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'directory',
  '6': 'fifo',
};

/** PLACEHOLDER: reads USTAR entries of `source` into `visitor` (see the module header). */
export async function readLayer(
  source: AsyncIterable<Buffer>,
  visitor: LayerVisitor,
  opts: ReadLayerOptions = {},
): Promise<LayerReadResult> {
  const what = opts.what ?? 'layer';
  const it = source[Symbol.asyncIterator]();
  let buf = Buffer.alloc(0);
  const fill = async (n: number): Promise<boolean> => {
    while (buf.length < n) {
      const r = await it.next();
      if (r.done) return false;
      buf = Buffer.concat([buf, r.value]);
    }
    return true;
  };
  const take = (n: number) => {
    const b = buf.subarray(0, n);
    buf = buf.subarray(n);
    return b;
  };
  const str = (b: Buffer) => {
    const z = b.indexOf(0);
    return z < 0 ? b : b.subarray(0, z);
  };
  const num = (b: Buffer) => Number.parseInt(str(b).toString('latin1').trim() || '0', 8);
  let entries = 0;
  for (;;) {
    if (!(await fill(512))) {
      if (buf.length > 0) throw new OcikitError('INVALID_INPUT', `${what}: truncated tar header`);
      return { entries, endMarker: false };
    }
    const h = Buffer.from(take(512));
    if (h.every((x) => x === 0)) {
      if (!(await fill(512)) || !take(512).every((x) => x === 0))
        throw new OcikitError('INVALID_INPUT', `${what}: incomplete end-of-archive marker`);
      return { entries, endMarker: true };
    }
    const type = TYPES[String.fromCharCode(h[156]!)];
    if (type === undefined) throw new OcikitError('UNSUPPORTED', `${what}: tar type ${h[156]} (placeholder reader)`);
    const prefix = str(h.subarray(345, 500));
    const base = str(h.subarray(0, 100));
    const size = type === 'file' ? num(h.subarray(124, 136)) : 0;
    await visitor.entry({
      name: prefix.length > 0 ? Buffer.concat([prefix, Buffer.from('/'), base]) : Buffer.from(base),
      type,
      linkname: Buffer.from(str(h.subarray(157, 257))),
      mode: num(h.subarray(100, 108)) & 0o7777,
      uid: num(h.subarray(108, 116)),
      gid: num(h.subarray(116, 124)),
      size,
      mtime: { sec: num(h.subarray(136, 148)), nsec: 0 },
      devmajor: num(h.subarray(329, 337)),
      devminor: num(h.subarray(337, 345)),
      xattrs: [],
    });
    entries++;
    let left = size;
    while (left > 0) {
      if (buf.length === 0 && !(await fill(1))) throw new OcikitError('INVALID_INPUT', `${what}: truncated entry`);
      const piece = take(Math.min(left, buf.length));
      left -= piece.length;
      await visitor.data(piece);
    }
    const pad = (512 - (size % 512)) % 512;
    if (pad > 0 && !(await fill(pad))) throw new OcikitError('INVALID_INPUT', `${what}: truncated entry`);
    take(pad);
    await visitor.end();
  }
}
