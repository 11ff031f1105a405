/**
 * `ocikit deploy --inputs INPUTS.json --tree TREE [--options OPTIONS.json] [--exclude PATH]...
 * [--rootless] [--json]`: the `org.osbuild.container-deploy` stage as a command (library:
 * `deploy/deploy.ts`).
 *
 * Relative `path` values in INPUTS.json are taken relative to the file's directory. `--exclude`
 * entries are added after the options' `exclude`. Progress (per layer: bytes and entries) goes to
 * stderr when it is a terminal (`progress.ts`); the summary goes to stdout, as text or, with
 * `--json`, as the `DeploySummary`. SIGINT aborts the deploy; a staged tree is left empty.
 */
import * as path from 'node:path';
import { type DeployProgress, type DeploySummary, deploy } from '../../deploy/deploy.js';
import { parseDeployStageOptions } from '../../deploy/options.js';
import { OcikitError } from '../../errors.js';
import { type Command, parse, println, readJsonArg, rebasePaths } from '../command.js';
import { type ProgressStream, createProgressRenderer, formatBytes } from '../progress.js';

/** The text summary printed without `--json`. */
export function formatDeploySummary(s: DeploySummary): string {
  const entries = s.layers.reduce((n, l) => n + l.entries, 0);
  const bytes = s.layers.reduce((n, l) => n + l.bytes, 0);
  const lines = [
    `Deployed ${s.image.name} into ${s.tree}${s.rootless ? ' (rootless)' : ''}:`,
    `  image ID   ${s.image.imageId}`,
    `  manifest   ${s.image.manifestDigest}`,
    `  layers     ${s.layers.length}, ${entries} entries, ${formatBytes(bytes)} read`,
  ];
  for (const [i, l] of s.layers.entries())
    lines.push(`    ${i + 1}. ${l.digest}  ${l.compression}  ${l.entries} entries  ${formatBytes(l.bytes)}`);
  if (s.excluded.length > 0) lines.push(`  excluded   ${s.excluded.join(', ')}`);
  for (const w of s.warnings) lines.push(`  warning    ${w.path ? `${w.path}: ` : ''}${w.detail}`);
  return lines.join('\n');
}

/**
 * The deploy's progress line on a terminal (nothing otherwise): per layer, `[layer i/n]`, the
 * compressed bytes read of the blob's size, and the entries applied so far.
 */
export function deployProgressRenderer(stream: ProgressStream) {
  const r = createProgressRenderer(stream);
  return {
    onProgress: (e: DeployProgress) =>
      r.onProgress({
        index: e.layer,
        count: e.layers,
        name: `layer ${e.digest.slice(7, 19)}`,
        phase: e.phase,
        bytes: e.bytes,
        total: e.total,
        status: `${e.entries} entries`,
      }),
    finish: () => r.finish(),
  };
}

export const command: Command = {
  name: 'deploy',
  usage: `Usage: ocikit deploy --inputs INPUTS.json --tree TREE [--options OPTIONS.json]
                     [--exclude PATH]... [--rootless] [--json]

Applies the layers of the one image of an osbuild container stage's inputs to TREE, as the
org.osbuild.container-deploy stage does, natively: every blob digest and DiffID verified,
compression detected from the bytes. OPTIONS.json holds the stage options:
  {"exclude": ["/var/cache", "usr/share/doc/"], "remove-signatures": false}
("remove-signatures" is accepted and does nothing, as in the stage).

TREE is created when missing. An empty TREE is filled all or nothing (a failure leaves it
empty); a TREE with content is written over as a layer would be.

Options:
  --inputs FILE    the stage's "inputs" object (exactly one image); relative paths in it are
                   relative to FILE's directory
  --tree DIR       the tree to deploy into
  --options FILE   the stage's options
  --exclude PATH   a path inside TREE to remove after the last layer (repeatable)
  --rootless       write as an unprivileged user (automatic when not root)
  --json           print the summary as JSON

Progress is shown on stderr when it is a terminal. Exit status: 0 deployed, 1 failed,
2 usage error, 130 interrupted.`,
  async run(args, ctx) {
    const { values } = parse(
      'deploy',
      args,
      {
        inputs: { type: 'string' },
        tree: { type: 'string' },
        options: { type: 'string' },
        exclude: { type: 'string', multiple: true },
        rootless: { type: 'boolean' },
        json: { type: 'boolean' },
      },
      { min: 0, max: 0, names: 'no positional arguments' },
    );
    for (const flag of ['inputs', 'tree'] as const) {
      if (values[flag] === undefined || values[flag] === '')
        throw new OcikitError('USAGE', `deploy: --${flag} is required`);
    }
    const inputsFile = values.inputs as string;
    const inputs = rebasePaths(
      await readJsonArg(inputsFile, ctx.cwd, 'inputs file'),
      path.dirname(path.resolve(ctx.cwd, inputsFile)),
    );
    const stage = parseDeployStageOptions(
      values.options === undefined ? {} : await readJsonArg(values.options, ctx.cwd, 'options file'),
    );
    const progress = deployProgressRenderer(ctx.stderr);
    let summary: DeploySummary;
    try {
      summary = await deploy(
        inputs,
        path.resolve(ctx.cwd, values.tree as string),
        { exclude: [...stage.exclude, ...(values.exclude ?? [])], rootless: values.rootless ? true : undefined },
        {
          signal: ctx.signal,
          tmpdir: ctx.env.TMPDIR ? path.resolve(ctx.cwd, ctx.env.TMPDIR) : undefined,
          onProgress: progress.onProgress,
        },
      );
    } finally {
      progress.finish();
    }
    println(ctx.stdout, values.json ? JSON.stringify(summary, null, 2) : formatDeploySummary(summary));
    return 0;
  },
};
