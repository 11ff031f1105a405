/**
 * The deterministic USTAR header writer: one 512-byte header laid out the way Go's `archive/tar`
 * lays out a header that fits USTAR (what skopeo 1.9.3 writes through c/storage's
 * `archive.TarWithOptions` for `oci-archive:`). Identical inputs give identical bytes:
 * - octal fields are zero-padded to their width minus one and NUL-terminated;
 * - the mode carries the file-type bits `0100000` (file) or `0040000` (directory);
 * - the checksum is six octal digits, NUL, space;
 * - the archive ends with two zero blocks ({@link TAR_END}), without padding to a 10 KiB record.
 */
import { OcikitError } from '../../errors.js';

/** The size of a tar block. */
export const TAR_BLOCK = 512;

/** The end-of-archive marker Go writes: two zero blocks (no padding to a 10 KiB record). */
export const TAR_END = Buffer.alloc(2 * TAR_BLOCK);

/** A header to write. */
export interface TarHeader {
  /** Relative name without `./`; a directory's name ends with `/`. At most 100 bytes. */
  readonly name: string;
  readonly type: 'file' | 'dir';
  /** Content size (0 for directories). */
  readonly size: number;
  /** Permission bits (the type bits are added). */
  readonly mode: number;
  /** Seconds since the epoch. */
  readonly mtime: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly uname?: string;
  readonly gname?: string;
}

function octal(buf: Buffer, offset: number, width: number, value: number, what: string): void {
  const digits = value.toString(8);
  if (!Number.isSafeInteger(value) || value < 0 || digits.length > width - 1) {
    throw new OcikitError('UNSUPPORTED', `tar header field ${what}=${value} does not fit a USTAR header`);
  }
  buf.write(digits.padStart(width - 1, '0'), offset, 'latin1');
  buf[offset + width - 1] = 0;
}

function text(buf: Buffer, offset: number, width: number, value: string, what: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > width)
    throw new OcikitError(
      'UNSUPPORTED',
      `tar header field ${what} ${JSON.stringify(value)} is longer than ${width} bytes`,
    );
  bytes.copy(buf, offset);
}

/**
 * Encodes one USTAR header the way Go's `archive/tar` does for a header that fits USTAR.
 * @throws OcikitError `UNSUPPORTED` when a field does not fit (long names, huge sizes).
 */
export function ustarHeader(h: TarHeader): Buffer {
  const buf = Buffer.alloc(TAR_BLOCK);
  text(buf, 0, 100, h.name, 'name');
  octal(buf, 100, 8, (h.type === 'dir' ? 0o040000 : 0o100000) | (h.mode & 0o7777), 'mode');
  octal(buf, 108, 8, h.uid ?? 0, 'uid');
  octal(buf, 116, 8, h.gid ?? 0, 'gid');
  octal(buf, 124, 12, h.type === 'dir' ? 0 : h.size, 'size');
  octal(buf, 136, 12, h.mtime, 'mtime');
  buf[156] = h.type === 'dir' ? 0x35 : 0x30;
  buf.write('ustar\u000000', 257, 'latin1');
  text(buf, 265, 32, h.uname ?? 'root', 'uname');
  text(buf, 297, 32, h.gname ?? 'root', 'gname');
  octal(buf, 329, 8, 0, 'devmajor');
  octal(buf, 337, 8, 0, 'devminor');
  // The checksum is computed with its own field as eight spaces, then written as 6 digits, NUL, space.
  buf.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of buf) sum += b;
  buf.write(sum.toString(8).padStart(6, '0'), 148, 'latin1');
  buf[154] = 0;
  buf[155] = 0x20;
  return buf;
}

/** The zero bytes that pad `size` bytes of content to a whole block. */
export function tarPadding(size: number): Buffer {
  const rest = size % TAR_BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : TAR_BLOCK - rest);
}
