/**
 * A fast streaming writer of huge tar archives for the scale tests: a valid one-image OCI layout
 * (`oci-layout`, `index.json`, blobs) after `count` empty files `x/<n>`, each one 512-byte USTAR
 * header (a million entries make about 512 MB of tar). One header is encoded through the project's
 * USTAR writer; the others are that header with the digits of the name and the checksum patched, so
 * a million entries take well under two seconds to write.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { createGzip } from 'node:zlib';
import { TAR_BLOCK, TAR_END, tarPadding, ustarHeader } from '../../src/internal/tar/ustar.js';
import { buildImage } from './images.js';

/** What {@link writeManyEntriesArchive} wrote. */
export interface ManyEntriesArchive {
  readonly file: string;
  /** Entries in all: the junk files, their directory and the layout's entries. */
  readonly entries: number;
  readonly manifestDigest: string;
}

const DIGITS = 7;

/**
 * Writes the archive `file`: `count` (at most 10^7) empty files `<dir>/0000000`… (`dir` default
 * `x`), then the layout of a small generated image; gzip-compressed when `gzip` is set.
 */
export async function writeManyEntriesArchive(
  file: string,
  count: number,
  opts: { gzip?: boolean; dir?: string } = {},
): Promise<ManyEntriesArchive> {
  const dir = opts.dir ?? 'x';
  const nameAt = dir.length + 1;
  const out = createWriteStream(file);
  const gz = opts.gzip ? createGzip({ level: 1 }) : undefined;
  if (gz) gz.pipe(out);
  const sink = gz ?? out;
  const write = async (b: Buffer): Promise<void> => {
    if (!sink.write(b)) await once(sink, 'drain');
  };
  const closed = once(out, 'close');

  await write(ustarHeader({ name: `${dir}/`, type: 'dir', size: 0, mode: 0o755, mtime: 0 }));
  const template = ustarHeader({ name: `${dir}/${'0'.repeat(DIGITS)}`, type: 'file', size: 0, mode: 0o644, mtime: 0 });
  // The checksum is over the header with its own field as spaces; the name's digits are added per entry.
  let baseSum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) baseSum += i >= 148 && i < 156 ? 0x20 : template[i]!;
  baseSum -= DIGITS * 0x30;
  const BATCH = 2048;
  for (let start = 0; start < count; start += BATCH) {
    const n = Math.min(BATCH, count - start);
    const chunk = Buffer.allocUnsafe(n * TAR_BLOCK);
    for (let k = 0; k < n; k++) {
      const at = k * TAR_BLOCK;
      template.copy(chunk, at);
      const digits = String(start + k).padStart(DIGITS, '0');
      chunk.write(digits, at + nameAt, 'latin1');
      let sum = baseSum;
      for (let d = 0; d < DIGITS; d++) sum += digits.charCodeAt(d);
      chunk.write(sum.toString(8).padStart(6, '0'), at + 148, 'latin1');
      chunk[at + 154] = 0;
      chunk[at + 155] = 0x20;
    }
    await write(chunk);
  }

  const img = await buildImage();
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: img.mediaType, digest: img.manifestDigest, size: img.manifest.length }],
    }),
  );
  const layout: [string, Buffer][] = [
    ['oci-layout', Buffer.from('{"imageLayoutVersion": "1.0.0"}')],
    ['index.json', index],
    [`blobs/sha256/${img.configDigest.slice(7)}`, img.config],
    [`blobs/sha256/${img.manifestDigest.slice(7)}`, img.manifest],
    ...img.layers.map((l): [string, Buffer] => [`blobs/sha256/${l.digest.slice(7)}`, l.bytes]),
  ];
  for (const dir of ['blobs/', 'blobs/sha256/'])
    await write(ustarHeader({ name: dir, type: 'dir', size: 0, mode: 0o755, mtime: 0 }));
  for (const [name, body] of layout) {
    await write(ustarHeader({ name, type: 'file', size: body.length, mode: 0o644, mtime: 0 }));
    await write(body);
    await write(tarPadding(body.length));
  }
  await write(TAR_END);
  sink.end();
  await closed;
  return { file, entries: count + 1 + 2 + layout.length, manifestDigest: img.manifestDigest };
}
