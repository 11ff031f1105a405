/**
 * skopeo, the engine for containers-storage: argv builders and runners.
 *
 * All knowledge of skopeo's flags lives here. The binary defaults to `skopeo` on PATH and can be
 * replaced (`OCIKIT_SKOPEO` in the environment, or the `binary` option) so tests can put a fake
 * program in its place. Targets skopeo 1.9.3 (Debian bookworm) and newer.
 *
 * Every run gets a temporary directory of its own, owned by this process
 * (`internal/ownership.ts`), as skopeo's `--tmpdir` (containers/image puts its big temporary files,
 * `container_images_*` and `storage*`, there instead of `/var/tmp`) and as its `TMPDIR`: whatever
 * a killed skopeo leaves is inside a directory the next run can tell is stale and remove.
 */
import { type RunOptions, type ToolResult, runTool } from '../internal/exec.js';
import { bigFilesTempDir, withTempDir } from '../internal/fs.js';

/**
 * Which skopeo to run.
 * @category Configuration
 */
export interface SkopeoOptions {
  /** Path or name of the skopeo binary (default: `$OCIKIT_SKOPEO`, else `skopeo`). */
  readonly binary?: string | undefined;
  /** Stops skopeo (SIGTERM; the run fails with `INTERRUPTED`). */
  readonly signal?: AbortSignal | undefined;
  /** Receives skopeo's stderr as it arrives. */
  readonly onStderr?: ((chunk: string) => void) | undefined;
  /** Receives skopeo's stdout as it arrives (`copy` reports its progress there). */
  readonly onStdout?: ((chunk: string) => void) | undefined;
  /**
   * Where each run's temporary directory is made (default: `/var/tmp`, containers/image's place
   * for big temporary files, else the OS temp dir).
   */
  readonly tmpdir?: string | undefined;
}

/** The platform skopeo should pick from a manifest list. */
export interface PlatformOverride {
  readonly architecture?: string | undefined;
  readonly os?: string | undefined;
  readonly variant?: string | undefined;
}

/** Options of {@link copyArgs}. */
export interface CopyOptions {
  readonly removeSignatures?: boolean | undefined;
  /** Select this instance of a list source instead of the host's platform. */
  readonly platform?: PlatformOverride | undefined;
  /** `false` adds `--src-tls-verify=false`. */
  readonly srcTlsVerify?: boolean | undefined;
  /** Suppress skopeo's progress output. */
  readonly quiet?: boolean | undefined;
}

/** The binary to run. */
export function skopeoBinary(opts: SkopeoOptions = {}): string {
  return opts.binary ?? process.env.OCIKIT_SKOPEO ?? 'skopeo';
}

/**
 * The global flags that go before the subcommand: `--override-arch/os/variant` are global in
 * skopeo, so they must precede `copy`.
 */
function platformFlags(p: PlatformOverride | undefined): string[] {
  const out: string[] = [];
  if (p?.architecture) out.push('--override-arch', p.architecture);
  if (p?.os) out.push('--override-os', p.os);
  if (p?.variant) out.push('--override-variant', p.variant);
  return out;
}

/** The argv of `skopeo copy SOURCE DEST` with the given options (without the binary). */
export function copyArgs(source: string, dest: string, opts: CopyOptions = {}): string[] {
  const args = [...platformFlags(opts.platform), 'copy'];
  if (opts.quiet) args.push('--quiet');
  if (opts.removeSignatures) args.push('--remove-signatures');
  if (opts.srcTlsVerify === false) args.push('--src-tls-verify=false');
  args.push(source, dest);
  return args;
}

/** The prefix of a run's temporary directory. */
export const SKOPEO_TMP_PREFIX = 'ocikit-skopeo-';

async function run(args: readonly string[], opts: SkopeoOptions, extra: RunOptions = {}): Promise<ToolResult> {
  const parent = opts.tmpdir ?? (await bigFilesTempDir());
  return withTempDir(
    SKOPEO_TMP_PREFIX,
    (tmp) =>
      // --tmpdir is a global flag: before the subcommand.
      runTool([skopeoBinary(opts), '--tmpdir', tmp, ...args], {
        ...extra,
        env: { ...extra.env, TMPDIR: tmp },
        signal: opts.signal,
        onStderr: opts.onStderr,
        onStdout: opts.onStdout,
      }),
    parent,
  );
}

/**
 * Runs `skopeo copy`.
 * @throws OcikitError `TOOL_FAILED` (with skopeo's stderr), `NOT_FOUND` when skopeo is missing.
 */
export async function skopeoCopy(source: string, dest: string, opts: CopyOptions & SkopeoOptions = {}): Promise<void> {
  await run(copyArgs(source, dest, opts), opts);
}

/**
 * Runs `skopeo inspect --raw [--config] REF` and returns the raw bytes printed.
 * @throws OcikitError `TOOL_FAILED`, `NOT_FOUND`.
 */
export async function skopeoInspectRaw(
  ref: string,
  opts: SkopeoOptions & { config?: boolean | undefined; tlsVerify?: boolean | undefined } = {},
): Promise<Buffer> {
  const args = ['inspect', '--raw'];
  if (opts.config) args.push('--config');
  if (opts.tlsVerify === false) args.push('--tls-verify=false');
  args.push(ref);
  return (await run(args, opts)).stdout;
}

/**
 * Like {@link skopeoInspectRaw} but never throws for a non-zero exit: returns the exit code and
 * stderr so the caller can classify the failure.
 */
export async function skopeoInspectRawResult(
  ref: string,
  opts: SkopeoOptions & { config?: boolean | undefined } = {},
): Promise<ToolResult> {
  const args = ['inspect', '--raw'];
  if (opts.config) args.push('--config');
  args.push(ref);
  return run(args, opts, { allowFailure: true });
}

/**
 * Runs `skopeo delete REF` (for `containers-storage:[…]@ID`: the image and the layers no other
 * image uses, as containers/image's storage transport deletes them).
 * @throws OcikitError `TOOL_FAILED`, `NOT_FOUND`.
 */
export async function skopeoDelete(ref: string, opts: SkopeoOptions = {}): Promise<void> {
  await run(['delete', ref], opts);
}
