/**
 * The subprocess gateway. Tools run as argv arrays (never through a shell); stdout is returned
 * as bytes, stderr is captured into the error when the tool fails.
 */
import { spawn } from 'node:child_process';
import { OcikitError, interrupted } from '../errors.js';

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
}

/**
 * Runs `argv[0]` with the rest as arguments.
 * @throws OcikitError `TOOL_FAILED` when the tool cannot be started or exits non-zero
 *   (with `command`, `exitCode` and `stderr`); `NOT_FOUND` when the binary does not exist.
 */
export function runTool(argv: readonly string[], opts: RunOptions = {}): Promise<ToolResult> {
  const [bin, ...args] = argv;
  if (bin === undefined) throw new Error('runTool: empty argv');
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
      signal: opts.signal,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => {
      out.push(c);
      opts.onStdout?.(c.toString('utf8'));
    });
    child.stderr.on('data', (c: Buffer) => {
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
