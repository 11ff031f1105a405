/**
 * What every CLI subcommand module provides, and the argument helpers they share: strict flag
 * parsing, reading a JSON or manifest file named on the command line, and rebasing the relative
 * paths of an inputs file.
 *
 * A subcommand parses its own arguments with {@link parse}, calls the library, and writes to the
 * streams in {@link CliContext}. It returns an exit status or throws; `main` turns thrown errors
 * into one `ocikit: …` line.
 */
import { type FileHandle, open } from 'node:fs/promises';
import * as path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { OcikitError, fromSystemError } from '../errors.js';
import { readNamedFile } from '../internal/fs.js';
import { MAX_MANIFEST_SIZE, manifestTooLarge } from '../model/manifest.js';

/** The process facilities a subcommand may use (injectable for tests). */
export interface CliContext {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** Aborted on SIGINT/SIGTERM. */
  readonly signal: AbortSignal;
}

/** A subcommand (its one-line summary for `ocikit --help` is in the table of `main.ts`). */
export interface Command {
  readonly name: string;
  /** The full `--help` text. */
  readonly usage: string;
  run(args: readonly string[], ctx: CliContext): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses `args` strictly (unknown flags are usage errors) and checks the positional count.
 * @throws OcikitError `USAGE`.
 */
export function parse<O extends Options>(
  cmd: string,
  args: readonly string[],
  options: O,
  positionals: { min: number; max: number; names: string },
): ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>> {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new OcikitError('USAGE', `${cmd}: ${(err as Error).message}`, { cause: err });
  }
  const n = parsed.positionals.length;
  if (n < positionals.min || n > positionals.max) {
    throw new OcikitError(
      'USAGE',
      `${cmd}: expected ${positionals.names}${n > positionals.max ? `, got ${n} arguments` : ''}`,
    );
  }
  return parsed;
}

/** Writes a line to a stream. */
export function println(stream: NodeJS.WritableStream, text = ''): void {
  stream.write(`${text}\n`);
}

/**
 * The value of a `--jobs N` option: undefined when absent, else a whole number from 1 to 64.
 * @throws OcikitError `USAGE`.
 */
export function parseJobs(command: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^[1-9][0-9]*$/.test(value) || n > 64)
    throw new OcikitError('USAGE', `${command}: --jobs ${JSON.stringify(value)} is not a number from 1 to 64`);
  return n;
}

/** The largest JSON document a command reads (inputs, options, sources are far smaller). */
export const MAX_JSON_ARG = 64 * 1024 * 1024;

/**
 * Reads and parses a JSON file named on the command line (`-` reads standard input), at most
 * {@link MAX_JSON_ARG} bytes. A named file must be a regular file or a device: a FIFO, socket or
 * directory is refused at once (its open never blocks, see `readNamedFile`).
 * @throws OcikitError `NOT_FOUND`, `IO`, `INVALID_INPUT` (too large, not a regular file, not
 *   JSON), each naming `what` and the file.
 */
export async function readJsonArg(file: string, cwd: string, what: string): Promise<unknown> {
  const tooLarge = () => new OcikitError('INVALID_INPUT', `${what} ${file} is larger than ${MAX_JSON_ARG} bytes`);
  let bytes: Buffer;
  if (file === '-') {
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const c of process.stdin) {
        size += (c as Buffer).length;
        if (size > MAX_JSON_ARG) {
          process.stdin.destroy();
          throw tooLarge();
        }
        chunks.push(c as Buffer);
      }
    } catch (err) {
      throw fromSystemError(err, what, file);
    }
    bytes = Buffer.concat(chunks);
  } else {
    bytes = await readNamedFile(path.resolve(cwd, file), what, {
      label: file,
      maxBytes: MAX_JSON_ARG,
      tooLarge,
      devices: true,
      hint: "use '-' to read standard input",
    });
  }
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new OcikitError('INVALID_INPUT', `${what} ${file} is not valid JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * Reads a file named on the command line, refusing anything over `limit` bytes without reading
 * more than one byte past the limit (pipes and devices included).
 * @throws OcikitError `NOT_FOUND`, `IO`; `MANIFEST_TOO_LARGE` over the limit.
 */
export async function readManifestArg(
  file: string,
  cwd: string,
  what: string,
  limit = MAX_MANIFEST_SIZE,
): Promise<Buffer> {
  const p = path.resolve(cwd, file);
  let handle: FileHandle;
  try {
    handle = await open(p, 'r');
  } catch (err) {
    throw fromSystemError(err, what, file);
  }
  try {
    const st = await handle.stat();
    const tooLarge = (n: number | string) => manifestTooLarge(`${what} ${file}`, n, limit);
    if (st.isFile() && st.size > limit) throw tooLarge(st.size);
    // Read at most limit + 1 bytes: a pipe or device (/dev/zero) has no size to check first.
    const buf = Buffer.allocUnsafe(limit + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, n, buf.length - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n > limit) throw tooLarge(`at least ${n}`);
    }
    return buf.subarray(0, n);
  } catch (err) {
    throw fromSystemError(err, what, file);
  } finally {
    await handle.close();
  }
}

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
