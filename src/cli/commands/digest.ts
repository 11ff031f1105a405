/**
 * `ocikit digest FILE`: print a manifest's digest exactly as `skopeo manifest-digest FILE` does
 * (`sha256:<hex>` and a newline; signed schema 1 manifests have their signatures stripped first).
 */
import { OcikitError } from '../../errors.js';
import { manifestDigest } from '../../model/manifest.js';
import { type Command, parse, println, readManifestArg } from '../command.js';

export const command: Command = {
  name: 'digest',
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
