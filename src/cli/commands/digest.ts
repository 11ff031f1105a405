/**
 * `ocikit digest FILE`: print a manifest's digest exactly as `skopeo manifest-digest FILE` does
 * (`sha256:<hex>` and a newline; signed schema 1 manifests have their signatures stripped first).
 */
import { type FileHandle, open } from 'node:fs/promises';
import * as path from 'node:path';
import { OcikitError, fromSystemError } from '../../errors.js';
import { MAX_MANIFEST_SIZE, manifestDigest } from '../../model/manifest.js';
import { type Command, parse, println } from '../command.js';

/**
 * Reads a file named on the command line, refusing anything over `limit` bytes without reading
 * more than one byte past the limit (pipes and devices included).
 * @throws OcikitError `NOT_FOUND`, `IO`; `MANIFEST_TOO_LARGE` over the limit.
 */
export async function readManifestArg(
  file: string,
  cwd: string,
  what: string,
  limit = MAX_MANIFEST_SIZE,
): Promise<Buffer> {
  const p = path.resolve(cwd, file);
  let handle: FileHandle;
  try {
    handle = await open(p, 'r');
  } catch (err) {
    throw fromSystemError(err, what, file);
  }
  try {
    const st = await handle.stat();
    const tooLarge = (n: string) =>
      new OcikitError(
        'MANIFEST_TOO_LARGE',
        `${what} ${file} is ${n} bytes, more than the ${limit}-byte manifest limit`,
      );
    if (st.isFile() && st.size > limit) throw tooLarge(String(st.size));
    // Read at most limit + 1 bytes: a pipe or device (/dev/zero) has no size to check first.
    const buf = Buffer.allocUnsafe(limit + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, n, buf.length - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n > limit) throw tooLarge(`at least ${n}`);
    }
    return buf.subarray(0, n);
  } catch (err) {
    throw fromSystemError(err, what, file);
  } finally {
    await handle.close();
  }
}

export const command: Command = {
  name: 'digest',
  summary: 'print the manifest digest of a file (as skopeo manifest-digest)',
  usage: `Usage: ocikit digest FILE

Prints the digest of the manifest in FILE as "sha256:<hex>", byte for byte what
"skopeo manifest-digest FILE" prints: the sha256 of the raw bytes, except that a signed
Docker schema 1 manifest is hashed without its JWS signatures. Any file is accepted (a
file that is not a manifest is hashed as it is); a signed schema 1 manifest whose
signatures cannot be parsed is an error, as in skopeo. Files over 4 MiB are refused.

Exit status: 0 success, 1 unreadable file or invalid signed manifest, 2 usage error.`,
  async run(args, ctx) {
    const { positionals } = parse('digest', args, {}, { min: 1, max: 1, names: 'FILE' });
    const file = positionals[0]!;
    const bytes = await readManifestArg(file, ctx.cwd, 'manifest file');
    let digest: string;
    try {
      digest = manifestDigest(bytes);
    } catch (err) {
      if (err instanceof OcikitError) throw new OcikitError(err.code, `${file}: ${err.message}`, { cause: err });
      throw err;
    }
    println(ctx.stdout, digest);
    return 0;
  },
};
