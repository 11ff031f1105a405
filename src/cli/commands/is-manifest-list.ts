/**
 * `ocikit is-manifest-list FILE`: print `true` or `false`, osbuild's `is_manifest_list` on the
 * JSON in FILE (a Docker list or OCI index media type, or no media type but a `manifests` key).
 */
import { OcikitError } from '../../errors.js';
import { isManifestList } from '../../model/manifest.js';
import { type Command, parse, println, readManifestArg } from '../command.js';

export const command: Command = {
  name: 'is-manifest-list',
  usage: `Usage: ocikit is-manifest-list FILE

Prints "true" when the JSON document in FILE is a manifest list by osbuild's rule:
its "mediaType" is the Docker manifest list or OCI image index type, or it has no
"mediaType" (or null) and a "manifests" member that is not null. Prints "false" otherwise.
Files over 4 MiB are refused.

Exit status: 0 success (either answer), 1 unreadable file or invalid JSON, 2 usage error.`,
  async run(args, ctx) {
    const { positionals } = parse('is-manifest-list', args, {}, { min: 1, max: 1, names: 'FILE' });
    const file = positionals[0]!;
    const bytes = await readManifestArg(file, ctx.cwd, 'manifest file');
    let doc: unknown;
    try {
      // osbuild reads the file as strict UTF-8 (invalid bytes and a BOM are errors) and json.load()s it.
      doc = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes));
    } catch (err) {
      throw new OcikitError('INVALID_MANIFEST', `${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
    }
    println(ctx.stdout, String(isManifestList(doc)));
    return 0;
  },
};
