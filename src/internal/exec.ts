/**
 * The subprocess gateway. Tools run as argv arrays (never through a shell); stdout is returned
 * as bytes, stderr is captured into the error when the tool fails.
 *
 * Children die with ocikit, even when ocikit is killed by SIGKILL and can clean nothing up: each
 * is started through util-linux `setpriv --pdeathsig KILL --`, which sets PR_SET_PDEATHSIG
 * (prctl(2)) and then executes the tool, so the kernel kills it when ocikit ends (Node.js cannot
 * call prctl itself). Where `setpriv` is missing or too old, tools are started directly, after a
 * one-time note.
 */
import { spawn } from 'node:child_process';
import { constants as fsc } from 'node:fs';
import { access } from 'node:fs/promises';
import * as path from 'node:path';
import { OcikitError, interrupted } from '../errors.js';
import { note } from './notes.js';

/** The first executable `name` on `PATH` (a name with a `/` is taken as it is), or undefined. */
async function findExecutable(name: string, envPath: string | undefined): Promise<string | undefined> {
  const usable = (p: string, mode = fsc.X_OK) =>
    access(p, mode).then(
      () => true,
      () => false,
    );
  // A path is run as given (spawning it reports what is wrong with it); only a missing one is not found.
  if (name.includes('/')) return (await usable(name, fsc.F_OK)) ? name : undefined;
  for (const dir of (envPath ?? '').split(':')) {
    const p = path.resolve(dir || '.', name);
    if (await usable(p)) return p;
  }
  return undefined;
}

let setpriv: Promise<string | undefined> | undefined;

/** `setpriv` when it is there and knows `--pdeathsig` (util-linux 2.33 and later), probed once. */
function deathSignalWrapper(): Promise<string | undefined> {
  setpriv ??= (async () => {
    const found = await findExecutable('setpriv', process.env.PATH);
    // Options are taken in order: an unknown --pdeathsig fails before --help would succeed.
    const works =
      found !== undefined &&
      (await new Promise<boolean>((resolve) => {
        const probe = spawn(found, ['--pdeathsig', 'KILL', '--help'], { stdio: 'ignore' });
        probe.on('error', () => resolve(false));
        probe.on('close', (code) => resolve(code === 0));
      }));
    if (works) return found;
    note(
      'setpriv (util-linux) with --pdeathsig was not found: tools ocikit runs will not be stopped if ocikit itself is killed',
    );
    return undefined;
  })();
  return setpriv;
}

/** What a finished tool run produced. */
export interface ToolResult {
  readonly stdout: Buffer;
  readonly stderr: string;
  readonly exitCode: number;
}

/** Options for {@link runTool}. */
export interface RunOptions {
  /** Extra environment variables (merged over `process.env`). */
  readonly env?: Readonly<Record<string, string>> | undefined;
  /** Aborts the run (the child gets SIGTERM). */
  readonly signal?: AbortSignal | undefined;
  /** Called with each stderr chunk as it arrives (for progress passthrough). */
  readonly onStderr?: ((chunk: string) => void) | undefined;
  /** Called with each stdout chunk as it arrives (stdout is still collected and returned). */
  readonly onStdout?: ((chunk: string) => void) | undefined;
  /** When true, a non-zero exit is returned instead of thrown. */
  readonly allowFailure?: boolean | undefined;
  /** Written to the tool's standard input, which is then closed (default: no standard input). */
  readonly input?: string | Uint8Array | undefined;
}

/**
 * Runs `argv[0]` with the rest as arguments.
 * @throws OcikitError `TOOL_FAILED` when the tool cannot be started or exits non-zero
 *   (with `command`, `exitCode` and `stderr`); `NOT_FOUND` when the binary does not exist.
 */
export async function runTool(argv: readonly string[], opts: RunOptions = {}): Promise<ToolResult> {
  const [bin, ...args] = argv;
  if (bin === undefined) throw new Error('runTool: empty argv');
  const env = opts.env ? { ...process.env, ...opts.env } : process.env;
  const [exe, wrapper] = await Promise.all([findExecutable(bin, env.PATH), deathSignalWrapper()]);
  if (exe === undefined) {
    throw new OcikitError('NOT_FOUND', `${bin} is not installed (not found on PATH)`, { command: argv });
  }
  const [file, ...spawnArgs] = wrapper ? [wrapper, '--pdeathsig', 'KILL', '--', exe, ...args] : [exe, ...args];
  return new Promise((resolve, reject) => {
    const stdin: 'ignore' | 'pipe' = opts.input === undefined ? 'ignore' : 'pipe';
    const child = spawn(file!, spawnArgs, { stdio: [stdin, 'pipe', 'pipe'] as const, env, signal: opts.signal });
    if (child.stdin) {
      // A tool that exits without reading its input must not fail the run with EPIPE.
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => {
      out.push(c);
      opts.onStdout?.(c.toString('utf8'));
    });
    child.stderr!.on('data', (c: Buffer) => {
      err.push(c);
      opts.onStderr?.(c.toString('utf8'));
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') {
        reject(
          new OcikitError('NOT_FOUND', `${bin} is not installed (not found on PATH)`, { cause: e, command: argv }),
        );
      } else if (e.name === 'AbortError') {
        reject(interrupted(bin, undefined, { cause: e, command: argv }));
      } else {
        reject(new OcikitError('TOOL_FAILED', `${bin} could not be run: ${e.message}`, { cause: e, command: argv }));
      }
    });
    child.on('close', (code, sig) => {
      const stdout = Buffer.concat(out);
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0 || (opts.allowFailure && code !== null)) {
        resolve({ stdout, stderr, exitCode: code ?? -1 });
        return;
      }
      const why = code === null ? `was killed by ${sig}` : `exited with status ${code}`;
      const last = stderr.trim().split('\n').filter(Boolean).pop() ?? '';
      reject(
        new OcikitError('TOOL_FAILED', `${argv.slice(0, 2).join(' ')} ${why}${last ? `: ${last}` : ''}`, {
          command: argv,
          exitCode: code,
          stderr,
        }),
      );
    });
  });
}
