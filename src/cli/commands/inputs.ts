/** `ocikit inputs INPUTS.json`: resolve a stage's container inputs and print the JSON result. */
import * as path from 'node:path';
import { parseContainersInput } from '../../osbuild/inputs.js';
import { type Command, parse, println, readJsonArg, rebasePaths } from '../command.js';

export const command: Command = {
  name: 'inputs',
  usage: `Usage: ocikit inputs INPUTS.json

Reads the "inputs" object of an osbuild container stage (images, and optionally
manifest-lists), validates it, matches each dir image to its manifest list by manifest
digest, and prints, per archive key, {filepath, manifest-list, data, checksum} as JSON —
the result of osbuild's parse_containers_input. Relative "path" values are taken
relative to the directory of INPUTS.json.`,
  async run(args, ctx) {
    const { positionals } = parse('inputs', args, {}, { min: 1, max: 1, names: 'INPUTS.json' });
    const file = positionals[0]!;
    const inputs = await readJsonArg(file, ctx.cwd, 'inputs file');
    const rebased = rebasePaths(inputs, path.dirname(path.resolve(ctx.cwd, file)));
    const result = await parseContainersInput(rebased);
    println(ctx.stdout, JSON.stringify(result, null, 2));
    return 0;
  },
};
