/** Runs a Node.js script as a whole process for tests, collecting its exit status and output. */
import { spawn } from 'node:child_process';

/** What a finished process produced. */
export interface ProcessResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `node ARGS…` with `env` merged over the current environment; `onSpawn` receives the pid
 * (to send signals).
 */
export function runNode(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; onSpawn?: (pid: number) => void } = {},
): Promise<ProcessResult> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, args, {
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', rej);
    child.on('close', (status) => res({ status, stdout, stderr }));
    if (child.pid !== undefined) opts.onSpawn?.(child.pid);
  });
}
