/** `ocikit merge LIST IMAGE_DIR OUT_DIR`: build the merged list view of a dir: image. */
import * as path from 'node:path';
import { mergeManifest } from '../../transports/dir/merge.js';
import { type Command, parse, println } from '../command.js';

export const command: Command = {
  name: 'merge',
  usage: `Usage: ocikit merge [--json] LIST IMAGE_DIR OUT_DIR

Creates OUT_DIR (which must not exist) holding the manifest list LIST as manifest.json and
IMAGE_DIR's manifest as <hex>.manifest.json, with every other file of IMAGE_DIR hard-linked
(symlinked across file systems). IMAGE_DIR is never modified; no blob is copied. OUT_DIR
appears complete or not at all. Copying OUT_DIR with skopeo keeps the list digest.

Options:
  --json   print {dir, listDigest, imageDigest, linked, symlinked} as JSON`,
  async run(args, ctx) {
    const { values, positionals } = parse(
      'merge',
      args,
      { json: { type: 'boolean' } },
      { min: 3, max: 3, names: 'LIST IMAGE_DIR OUT_DIR' },
    );
    const [list, image, out] = positionals.map((p) => path.resolve(ctx.cwd, p)) as [string, string, string];
    const r = await mergeManifest(list, image, out);
    if (values.json) {
      const { entry: _entry, ...rest } = r;
      println(ctx.stdout, JSON.stringify(rest, null, 2));
    } else {
      println(
        ctx.stdout,
        `${r.dir}: list ${r.listDigest}, image ${r.imageDigest} (${r.linked} linked, ${r.symlinked} symlinked)`,
      );
    }
    return 0;
  },
};
