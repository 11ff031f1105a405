/** `ocikit inputs INPUTS.json`: resolve a stage's container inputs and print the JSON result. */
import * as path from 'node:path';
import { parseContainersInput } from '../../osbuild/inputs.js';
import { type Command, parse, println, readJsonArg } from '../command.js';

export const command: Command = {
  name: 'inputs',
  summary: "resolve an osbuild stage's container inputs to JSON",
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

/**
 * Returns a copy of `inputs` whose relative `images.path` and `manifest-lists.path` are made
 * absolute against `base`, so an inputs file can travel with its data (the bundled sample does).
 */
export function rebasePaths(inputs: unknown, base: string): unknown {
  if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs)) return inputs;
  const out: Record<string, unknown> = { ...(inputs as Record<string, unknown>) };
  for (const k of ['images', 'manifest-lists']) {
    const v = out[k];
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      const p = (v as { path?: unknown }).path;
      if (typeof p === 'string' && p !== '' && !path.isAbsolute(p)) out[k] = { ...v, path: path.resolve(base, p) };
    }
  }
  return out;
}
