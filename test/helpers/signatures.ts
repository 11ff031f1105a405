/**
 * Signature files for the trust tests: the `dir:` transport's `signature-N` reader with the
 * trust codec on top (what install and fetch use), and a plain writer for test fixtures.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { digestHex, type Digest } from '../../src/model/digest.js';
import { readDirSignatures } from '../../src/transports/dir/read.js';
import {
  type StoredSignature,
  decodeSignatureBlob,
  encodeSignatureBlob,
  signatureFileName,
} from '../../src/trust/signature-files.js';

/** The decoded signatures of the `dir:` image at `dir` (of `instance` of a list when given). */
export async function readSignatures(dir: string, instance?: Digest): Promise<StoredSignature[]> {
  const prefix = instance === undefined ? '' : `${digestHex(instance)}.`;
  return (await readDirSignatures(dir, prefix)).map((b, i) =>
    decodeSignatureBlob(b, `signature ${join(dir, `${prefix}signature-${i + 1}`)}`),
  );
}

/** Writes `sigs` as new files `signature-1`, … (of `instance`) into `dir`. */
export async function writeSignatures(dir: string, sigs: readonly StoredSignature[], instance?: Digest): Promise<void> {
  for (const [i, s] of sigs.entries()) {
    await writeFile(join(dir, signatureFileName(i + 1, instance)), encodeSignatureBlob(s), { flag: 'wx' });
  }
}
