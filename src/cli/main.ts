/**
 * The `ocikit` command line: `main(argv)` dispatches to one subcommand and returns the exit status.
 *
 * Exit statuses: 0 success, 1 the operation failed, 2 usage error, 130/143/129 interrupted by
 * SIGINT/SIGTERM/SIGHUP.
 * Errors are one line on stderr starting `ocikit: `; `--debug` adds the stack and causes.
 * Subcommands are loaded lazily so that `ocikit digest` does not pay for the registry client.
 */
import { readFile } from 'node:fs/promises';
import { OcikitError, isOcikitError } from '../errors.js';
import { removeTrackedSync } from '../internal/cleanup.js';
import { escapeControl } from '../internal/text.js';
import { setNoteHandler } from '../internal/notes.js';
import { type CliContext, type Command, println } from './command.js';

/**
 * Every subcommand: its one line for `ocikit --help` and how to load it. The summary lives here,
 * not in the command module, so that `--help` loads no subcommand.
 */
const COMMANDS: Record<string, { readonly summary: string; readonly load: () => Promise<{ command: Command }> }> = {
  digest: {
    summary: 'print the manifest digest of a file (as skopeo manifest-digest)',
    load: () => import('./commands/digest.js'),
  },
  'is-manifest-list': {
    summary: 'print true when a JSON file is a manifest list',
    load: () => import('./commands/is-manifest-list.js'),
  },
  inputs: {
    summary: "resolve an osbuild stage's container inputs to JSON",
    load: () => import('./commands/inputs.js'),
  },
  merge: {
    summary: 'merge a manifest list into a dir: image, as a new linked directory',
    load: () => import('./commands/merge.js'),
  },
  'storage-conf': {
    summary: "print the host's containers storage configuration",
    load: () => import('./commands/storage-conf.js'),
  },
  install: {
    summary: 'install the images of container inputs into a tree',
    load: () => import('./commands/install.js'),
  },
  deploy: {
    summary: "deploy an image's root filesystem into a tree (its layers applied and verified)",
    load: () => import('./commands/deploy.js'),
  },
  fetch: {
    summary: 'fetch images and manifest lists from registries into a verified cache',
    load: () => import('./commands/fetch.js'),
  },
  resolve: {
    summary: 'resolve image names for a platform to digests, and to osbuild sources and inputs',
    load: () => import('./commands/resolve.js'),
  },
  embed: {
    summary: 'resolve, fetch and install images into a tree in one process',
    load: () => import('./commands/embed.js'),
  },
  registries: {
    summary: 'print where a pull of an image would go (mirrors, TLS, proxy, credentials): a dry run',
    load: () => import('./commands/registries.js'),
  },
  policy: {
    summary: 'print what the trust policy decides for a pull of an image, and why',
    load: () => import('./commands/policy.js'),
  },
};

const USAGE = `Usage: ocikit [--debug] <command> [options]

Take container images into OS image builds.

Commands:
${Object.entries(COMMANDS)
  .map(([k, v]) => `  ${k.padEnd(18)}${v.summary}`)
  .join('\n')}

Run 'ocikit <command> --help' for a command's options.
Exit status: 0 success, 1 failure, 2 usage error, 130/143/129 interrupted (SIGINT/SIGTERM/SIGHUP).`;

/**
 * Runs the CLI with `argv` (without the node and script paths).
 * @returns the exit status.
 */
export async function main(argv: readonly string[], ctx: CliContext): Promise<number> {
  let debug = false;
  const args = [...argv];
  while (args[0]?.startsWith('-')) {
    const flag = args.shift()!;
    if (flag === '--debug') debug = true;
    else if (flag === '--help' || flag === '-h') {
      println(ctx.stdout, USAGE);
      return 0;
    } else if (flag === '--version') {
      println(ctx.stdout, await version());
      return 0;
    } else {
      return usageError(ctx, `unknown option ${flag}`);
    }
  }
  const name = args.shift();
  if (name === undefined) {
    println(ctx.stderr, USAGE);
    return 2;
  }
  if (name === 'help') {
    println(ctx.stdout, USAGE);
    return 0;
  }
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!entry) return usageError(ctx, `unknown command ${JSON.stringify(name)} (see 'ocikit --help')`);
  try {
    const { command } = await entry.load();
    if (args.includes('--help') || args.includes('-h')) {
      println(ctx.stdout, command.usage);
      return 0;
    }
    return await command.run(args, ctx);
  } catch (err) {
    return reportError(ctx, err, debug);
  }
}

function usageError(ctx: CliContext, message: string): number {
  println(ctx.stderr, `ocikit: ${message}`);
  return 2;
}

/** Prints `err` as one `ocikit:` line (plus details with `--debug`) and returns its exit status. */
export function reportError(ctx: CliContext, err: unknown, debug: boolean): number {
  if (ctx.signal.aborted || isOcikitError(err, 'INTERRUPTED')) {
    println(ctx.stderr, 'ocikit: interrupted');
    return 130;
  }
  const message = err instanceof Error ? err.message : String(err);
  // Messages may quote what a registry or a tool sent: no control character reaches the terminal.
  println(ctx.stderr, `ocikit: ${escapeControl(message.replace(/\s*\n\s*/g, ' '))}`);
  if (debug) {
    const lines = (text: string) => text.split('\n').map(escapeControl).join('\n');
    let e: unknown = err;
    while (e instanceof Error) {
      println(ctx.stderr, lines(e.stack ?? String(e)));
      if (e instanceof OcikitError && e.stderr) println(ctx.stderr, `stderr:\n${lines(e.stderr)}`);
      e = e.cause;
      if (e !== undefined) println(ctx.stderr, 'caused by:');
    }
  }
  return isOcikitError(err, 'USAGE') ? 2 : 1;
}

async function version(): Promise<string> {
  const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return `ocikit ${pkg.version}`;
}

/** The exit status after each signal ocikit handles: 128 + the signal number. */
export const SIGNAL_STATUS = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;

/**
 * The exit status when the reader of stdout or stderr went away (`ocikit inputs … | head`):
 * 128 + SIGPIPE's number, what a program killed by SIGPIPE reports (skopeo, as a Go program, is).
 */
export const PIPE_STATUS = 141;

/** How long an interrupted operation may take to unwind before the process ends regardless. */
export const GRACE_MS = 2000;

/**
 * Ends the process now, after a signal, when the operation did not unwind in time: removes the
 * tracked temporary paths and exits with `status`. A file-system request still pending in libuv's
 * thread pool may be blocked in the kernel for good (an open(2) of a FIFO waits for a writer), and
 * `process.exit` waits for those threads to finish; then the process ends by the signal itself,
 * at its default action, which its parent sees as 128 + the signal number all the same.
 */
function endNow(sig: keyof typeof SIGNAL_STATUS, reported: boolean): never {
  removeTrackedSync();
  if (!reported) process.stderr.write('ocikit: interrupted\n');
  if (process.getActiveResourcesInfo().some((r) => r.startsWith('FSReq'))) {
    process.removeAllListeners(sig);
    process.kill(process.pid, sig);
  }
  process.exit(SIGNAL_STATUS[sig]);
}

/**
 * The process entry point used by `bin/ocikit`: wires real streams and signals and exits with the
 * status. SIGINT, SIGTERM and SIGHUP abort the operation, which removes what it created as it
 * unwinds; the tracked temporary paths are removed and the status is 130, 143 or 129. An operation
 * that has not unwound after {@link GRACE_MS} (or a second signal) ends the process at once. A
 * closed stdout or stderr ends it quietly with {@link PIPE_STATUS}.
 */
export async function run(argv: readonly string[]): Promise<void> {
  const controller = new AbortController();
  let caught: keyof typeof SIGNAL_STATUS | undefined;
  let returned = false;
  const onSignal = (sig: keyof typeof SIGNAL_STATUS) => {
    if (caught) endNow(caught, returned);
    caught = sig;
    process.exitCode = SIGNAL_STATUS[sig];
    controller.abort(new OcikitError('INTERRUPTED', `interrupted by ${sig}`));
    setTimeout(() => endNow(sig, returned), GRACE_MS).unref();
  };
  for (const sig of Object.keys(SIGNAL_STATUS) as (keyof typeof SIGNAL_STATUS)[]) process.on(sig, onSignal);
  // Node ignores SIGPIPE, so writing to a pipe nobody reads any more is an EPIPE error on the
  // stream (unhandled, a stack trace): end quietly instead, as a program killed by SIGPIPE
  // would, after removing what is tracked.
  const onStreamError = (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    removeTrackedSync();
    process.exit(PIPE_STATUS);
  };
  process.stdout.on('error', onStreamError);
  process.stderr.on('error', onStreamError);
  setNoteHandler((message) => process.stderr.write(`ocikit: note: ${message}\n`));
  const ctx: CliContext = {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    signal: controller.signal,
  };
  let status = await main(argv, ctx);
  returned = true;
  if (caught) {
    removeTrackedSync();
    status = SIGNAL_STATUS[caught];
  }
  process.exitCode = status;
}
