/**
 * `ocikit install --inputs INPUTS.json --options OPTIONS.json --tree TREE [--runroot DIR] [--cache DIR] [--jobs N] [--link-inputs] [--json]`:
 * the `org.osbuild.skopeo` stage as a command (library: `install.ts`).
 *
 * INPUTS.json is the runtime form osbuild hands the stage, or the manifest form (`origin:
 * org.osbuild.source`, what `ocikit resolve --json` prints as `inputs`) together with `--cache`,
 * the cache `ocikit fetch` filled: then the step of `osbuild/runtime-inputs.ts` makes the runtime
 * form, pointing into that cache, as osbuild does before it runs the stage.
 *
 * Relative `path` values in INPUTS.json are taken relative to the file's directory. Progress goes
 * to stderr when it is a terminal (`progress.ts`); the summary goes to stdout, as text or, with
 * `--json`, as `{tree, destination, removeSignatures, images: [{name, imageId, manifestDigest,
 * listDigest, destination}]}`. SIGINT aborts the install: temporary files and a partly written
 * destination are removed and the exit status is 130 (the frame in `main.ts`).
 */
import * as path from 'node:path';
import { type InstallSummary, install } from '../../install/install.js';
import { OcikitError } from '../../errors.js';
import { manifestFormInputs, readHostStore, withRuntimeInputs } from '../../osbuild/runtime-inputs.js';
import { type Command, parse, parseJobs, println, readJsonArg, rebasePaths } from '../command.js';
import { createProgressRenderer } from '../progress.js';

/** The text summary printed without `--json`. */
export function formatSummary(s: InstallSummary): string {
  const d = s.destination;
  const where =
    d.type === 'containers-storage'
      ? `containers-storage at ${d.location} (driver ${d.storageDriver})`
      : `${d.type} at ${d.location}`;
  const lines = [`Installed ${s.images.length} image${s.images.length === 1 ? '' : 's'} into ${where}:`];
  for (const i of s.images) {
    lines.push(`  ${i.name}`);
    lines.push(`    image ID   ${i.imageId}`);
    lines.push(`    manifest   ${i.manifestDigest}`);
    if (i.listDigest) lines.push(`    list       ${i.listDigest}`);
    lines.push(`    written    ${i.destination}`);
  }
  return lines.join('\n');
}

export const command: Command = {
  name: 'install',
  usage: `Usage: ocikit install --inputs INPUTS.json --options OPTIONS.json --tree TREE [--runroot DIR]
                      [--cache DIR] [--jobs N] [--link-inputs] [--json]

Copies every image of an osbuild container stage's inputs into TREE, as the
org.osbuild.skopeo stage does. OPTIONS.json holds the stage options:
  {"destination": {"type": "containers-storage",
                   "storage-path": "/var/lib/containers/storage", "storage-driver": "overlay"},
   "remove-signatures": false}
or a destination {"type": "oci" | "oci-archive" | "dir", "path": "/inside/the/tree"}.

containers-storage is written by skopeo; an image that came with a manifest list keeps the
list digest (RepoDigests) and is installed for its own platform, whatever the host's.
oci, oci-archive and dir destinations are written natively, every blob verified.

Options:
  --inputs FILE    the stage's "inputs" object (images, optional manifest-lists); relative
                   paths in it are relative to FILE's directory; or the manifest form
                   (origin org.osbuild.source, as ocikit resolve --json prints) with --cache
  --cache DIR      the cache manifest-form inputs were fetched into (ocikit fetch --cache)
  --options FILE   the stage's options
  --tree DIR       the tree to install into (must exist)
  --runroot DIR    run root of the destination store (default /run/containers/storage)
  --jobs N         containers-storage: images copied at once, one skopeo each (default 2;
                   1 copies them one after another); progress stays per image, the summary
                   in input order, and after a failure no further copy starts
  --link-inputs    oci and dir destinations: hard-link the blob files of dir and oci inputs
                   instead of copying them, where the system allows it (same file system and
                   mount), each still verified; the inputs must never change afterwards
  --json           print the summary as JSON

Progress is shown on stderr when it is a terminal. Exit status: 0 installed, 1 failed,
2 usage error, 130 interrupted (nothing partial is left behind).`,
  async run(args, ctx) {
    const { values } = parse(
      'install',
      args,
      {
        inputs: { type: 'string' },
        options: { type: 'string' },
        tree: { type: 'string' },
        runroot: { type: 'string' },
        cache: { type: 'string' },
        jobs: { type: 'string' },
        'link-inputs': { type: 'boolean' },
        json: { type: 'boolean' },
      },
      { min: 0, max: 0, names: 'no positional arguments' },
    );
    for (const flag of ['inputs', 'options', 'tree'] as const) {
      if (values[flag] === undefined || values[flag] === '')
        throw new OcikitError('USAGE', `install: --${flag} is required`);
    }
    const jobs = parseJobs('install', values.jobs);
    const inputsFile = values.inputs as string;
    const raw = await readJsonArg(inputsFile, ctx.cwd, 'inputs file');
    const groups = manifestFormInputs(raw, inputsFile);
    if (groups !== undefined && !values.cache)
      throw new OcikitError(
        'USAGE',
        'install: manifest-form inputs (origin org.osbuild.source) need --cache, the cache they were fetched into',
      );
    if (groups === undefined && values.cache)
      throw new OcikitError(
        'USAGE',
        'install: --cache is for manifest-form inputs; these inputs are in the runtime form',
      );
    const cache = values.cache ? path.resolve(ctx.cwd, values.cache) : undefined;
    const tmpdir = ctx.env.TMPDIR ? path.resolve(ctx.cwd, ctx.env.TMPDIR) : undefined;
    const withInputs = <T>(fn: (inputs: unknown) => Promise<T>): Promise<T> =>
      groups === undefined
        ? fn(rebasePaths(raw, path.dirname(path.resolve(ctx.cwd, inputsFile))))
        : withRuntimeInputs(groups, cache!, () => readHostStore(ctx.env), fn, tmpdir);
    const options = await readJsonArg(values.options as string, ctx.cwd, 'options file');
    const progress = createProgressRenderer(ctx.stderr);
    let summary: InstallSummary;
    try {
      summary = await withInputs((inputs) =>
        install({
          inputs,
          options,
          tree: path.resolve(ctx.cwd, values.tree as string),
          runroot: values.runroot ? path.resolve(ctx.cwd, values.runroot) : undefined,
          tmpdir,
          signal: ctx.signal,
          jobs,
          linkInputs: values['link-inputs'] === true,
          onProgress: progress.onProgress,
        }),
      );
    } finally {
      progress.finish();
    }
    println(ctx.stdout, values.json ? JSON.stringify(summary, null, 2) : formatSummary(summary));
    return 0;
  },
};
