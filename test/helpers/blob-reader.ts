/**
 * An ImageReader over loose blob files in one directory (named by their digest's hex), for the
 * tests of the blob copy and placement: with `blobPath` (a local file per blob) or streams only.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Descriptor } from '../../src/model/descriptor.js';
import type { ImageReader } from '../../src/transports/reader.js';

/** A reader over the blob files in `dir`; `positional` gives it `blobPath`. */
export function blobDirReader(dir: string, positional = true): ImageReader {
  const file = (d: Descriptor) => join(dir, d.digest.slice(7));
  return {
    source: `test:${dir}`,
    manifest: undefined as never,
    config: Buffer.alloc(0),
    openBlob: async (d) => Readable.from([await readFile(file(d))]),
    ...(positional ? { blobPath: file } : {}),
    close: async () => {},
  };
}
