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

/** The path of the first executable `name` on `PATH`, or undefined (e.g. to choose between a tool and a fallback). */
export function findToolOnPath(name: string): Promise<string | undefined> {
  return findExecutable(name, process.env.PATH);
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

/** Options for {@link streamTool}. */
export interface StreamToolOptions {
  /** Aborts the run: the child is killed and the stream fails with `INTERRUPTED`. */
  readonly signal?: AbortSignal | undefined;
  /** The most stderr bytes kept for the error message (default 64 KiB; the rest is dropped). */
  readonly maxStderr?: number | undefined;
}

/**
 * Runs `argv[0]` as a filter: `input` is piped to its standard input, its standard output is
 * yielded chunk by chunk (back-pressured: the tool waits while the consumer does), stderr is kept
 * up to a bound. The stream ends only after the tool exited with status 0 and every byte of
 * `input` was written; a consumer that stops early, an abort, an input error or a write error
 * kills the tool (SIGKILL) before the generator returns.
 * @throws OcikitError `NOT_FOUND` (no such tool), `TOOL_FAILED` (exit status, killed, input left
 *   unread), `INTERRUPTED`; an error of `input` as it is.
 */
export async function* streamTool(
  argv: readonly string[],
  input: AsyncIterable<Uint8Array>,
  opts: StreamToolOptions = {},
): AsyncGenerator<Buffer, void, undefined> {
  const [bin, ...args] = argv;
  if (bin === undefined) throw new Error('streamTool: empty argv');
  const [exe, wrapper] = await Promise.all([findExecutable(bin, process.env.PATH), deathSignalWrapper()]);
  if (exe === undefined) {
    throw new OcikitError('NOT_FOUND', `${bin} is not installed (not found on PATH)`, { command: argv });
  }
  if (opts.signal?.aborted) throw interrupted(bin, opts.signal, { command: argv });
  const [file, ...spawnArgs] = wrapper ? [wrapper, '--pdeathsig', 'KILL', '--', exe, ...args] : [exe, ...args];
  const child = spawn(file!, spawnArgs, { stdio: ['pipe', 'pipe', 'pipe'] });
  const maxStderr = opts.maxStderr ?? 64 * 1024;
  let stderr = Buffer.alloc(0);
  child.stderr.on('data', (c: Buffer) => {
    if (stderr.length < maxStderr) stderr = Buffer.concat([stderr, c.subarray(0, maxStderr - stderr.length)]);
  });
  let spawnError: Error | undefined;
  const exited = new Promise<{ code: number | null; sig: NodeJS.Signals | null }>((resolve) => {
    child.on('error', (e) => {
      spawnError ??= e;
      resolve({ code: null, sig: null });
    });
    child.on('close', (code, sig) => resolve({ code, sig }));
  });
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  opts.signal?.addEventListener('abort', kill, { once: true });
  // The input is fed concurrently; its own errors are told apart from the pipe's (EPIPE when the tool exits early).
  let inputError: { error: unknown } | undefined;
  let pipeError: Error | undefined;
  const feeding = (async () => {
    const it = input[Symbol.asyncIterator]();
    for (;;) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await it.next();
      } catch (err) {
        inputError = { error: err };
        kill();
        return;
      }
      if (next.done) break;
      if (child.stdin.destroyed || !child.stdin.write(next.value)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            child.stdin.off('drain', done).off('close', done).off('error', done);
            resolve();
          };
          child.stdin.on('drain', done).on('close', done).on('error', done);
          if (child.stdin.destroyed) done();
        });
        if (child.stdin.destroyed) {
          pipeError ??= new Error('the tool closed its input');
          kill();
          return;
        }
      }
    }
    child.stdin.end();
  })();
  child.stdin.on('error', (e) => {
    pipeError ??= e;
  });
  try {
    for await (const chunk of child.stdout) yield chunk as Buffer;
    await feeding;
    const { code, sig } = await exited;
    if (opts.signal?.aborted) throw interrupted(bin, opts.signal, { command: argv });
    if (inputError) throw inputError.error;
    if (spawnError) {
      throw new OcikitError('TOOL_FAILED', `${bin} could not be run: ${spawnError.message}`, {
        cause: spawnError,
        command: argv,
      });
    }
    const text = stderr.toString('utf8');
    if (code !== 0) {
      const why = code === null ? `was killed by ${sig}` : `exited with status ${code}`;
      const last = text.trim().split('\n').filter(Boolean).pop() ?? '';
      throw new OcikitError('TOOL_FAILED', `${argv.slice(0, 2).join(' ')} ${why}${last ? `: ${last}` : ''}`, {
        command: argv,
        exitCode: code,
        stderr: text,
      });
    }
    if (pipeError) {
      throw new OcikitError('TOOL_FAILED', `${bin} exited before reading all of its input`, { command: argv });
    }
  } finally {
    kill();
    opts.signal?.removeEventListener('abort', kill);
    await exited;
  }
}
