// What the whole-process benchmarks share (first used by bench/install-storage.mjs): the
// `--name value` options, mean ± sd, and timing one child process that must succeed.
import { spawnSync } from 'node:child_process';

/** The number after `name` in `argv`, else `dflt`. */
export const numberOption = (argv, name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};

export const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
export const sd = (xs) => Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / Math.max(1, xs.length - 1));
/** `2.74 s ± 0.11`. */
export const meanSd = (xs) => `${mean(xs).toFixed(2)} s ± ${sd(xs).toFixed(2)}`;

/** Runs `argv` with exactly `env`; returns the seconds it took and its stdout; throws on failure. */
export function timed(argv, env) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
    env,
  });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}`);
  return { s, stdout: r.stdout };
}

/** The images of the vfs store at `root` as podman lists them: `NAMES ID DIGEST` lines, sorted. */
export const podmanImageLines = (root, runroot, env) =>
  JSON.parse(
    timed(
      ['podman', '--root', root, '--runroot', runroot, '--storage-driver', 'vfs', 'images', '--format', 'json'],
      env,
    ).stdout,
  )
    .map((x) => `${x.Names?.join(',')} ${x.Id} ${x.Digest}`)
    .sort();
