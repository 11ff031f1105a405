/**
 * The one error shape of ocikit.
 *
 * Every failure the library raises is an {@link OcikitError} with a stable `code` from the closed
 * set {@link ErrorCode}. Callers branch on `code`, never on message text. The message names the
 * offending value (a path, a key, a digest); the lower error, when there is one, is kept as `cause`.
 * The CLI maps `USAGE` to exit status 2 and everything else to 1.
 */

/**
 * The closed set of error codes. Adding one is an API change: document it in docs/errors.md.
 * @category Errors
 */
export const ERROR_CODES = [
  /** The command line was wrong (unknown subcommand, missing argument, bad flag). */
  'USAGE',
  /** Untrusted input (osbuild inputs, options, sources) does not have the expected shape. */
  'INVALID_INPUT',
  /** A string is not a valid digest (`sha256:` + 64 lowercase hex, anchored). */
  'INVALID_DIGEST',
  /** A manifest could not be parsed, or its digest could not be computed (skopeo fails too). */
  'INVALID_MANIFEST',
  /** A manifest is larger than the 4 MiB limit containers/image enforces. */
  'MANIFEST_TOO_LARGE',
  /** A path, blob, image or registry object does not exist. */
  'NOT_FOUND',
  /** A path from input would leave its root (`..`, absolute, or a symlink out). */
  'UNSAFE_PATH',
  /** The target of a write exists already and will not be overwritten. */
  'EXISTS',
  /** Content does not match the digest, size or ID it was declared or requested with. */
  'DIGEST_MISMATCH',
  /** Manifest lists and images do not fit together (unmatched list, image in two lists, …). */
  'LIST_MISMATCH',
  /**
   * An image is for another platform than the one asked for: its config's os or architecture
   * differ from the wanted ones (`resolve`).
   */
  'PLATFORM_MISMATCH',
  /** A format, media type or feature ocikit does not handle. */
  'UNSUPPORTED',
  /** A configuration file (storage.conf, auth.json, policy.json) is missing or malformed. */
  'CONFIG',
  /**
   * The trust policy (policy.json) refuses the image: a `reject` requirement, a signature required
   * but missing or invalid, or a requirement ocikit does not implement (it fails closed).
   */
  'POLICY',
  /** An external tool (skopeo, podman) failed; `stderr` and `command` are attached. */
  'TOOL_FAILED',
  /** A registry refused or failed a request after retries. */
  'REGISTRY',
  /** The operation was interrupted (SIGINT, SIGTERM, abort signal). */
  'INTERRUPTED',
  /** Any other I/O failure (permissions, I/O errors, …). */
  'IO',
  /** A write failed because the device is full or the disk quota is exhausted (ENOSPC, EDQUOT). */
  'NO_SPACE',
  /**
   * An image signature is invalid: not a signature, a bad one, by a key that is not trusted or not
   * valid now, or its payload is malformed.
   */
  'SIGNATURE',
] as const;

/**
 * A stable, machine-readable error code.
 * @category Errors
 */
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * Extra fields a caller may branch on.
 * @category Errors
 */
export interface ErrorDetails {
  /** The lower error this one wraps. */
  readonly cause?: unknown;
  /** For `TOOL_FAILED`: the argv that was run. */
  readonly command?: readonly string[];
  /** For `TOOL_FAILED`: the tool's exit status (null when killed by a signal). */
  readonly exitCode?: number | null;
  /** For `TOOL_FAILED`: what the tool wrote to stderr. */
  readonly stderr?: string;
  /** For `DIGEST_MISMATCH`: the expected value. */
  readonly expected?: string;
  /** For `DIGEST_MISMATCH`: the actual value. */
  readonly actual?: string;
  /**
   * For errors about several values at once (`LIST_MISMATCH` for unmatched or shared lists,
   * `INVALID_INPUT` for stage options, `CONFIG`/`NOT_FOUND` for storage.conf): every offending value.
   */
  readonly values?: readonly string[];
}

/**
 * The fields of {@link ErrorDetails} but `cause` (which `Error` keeps): an error has the ones it
 * was given and no others.
 */
export interface OcikitError extends Omit<ErrorDetails, 'cause'> {}

/**
 * The error every ocikit function throws.
 * @category Errors
 */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface declares the optional detail fields the constructor sets
export class OcikitError extends Error {
  /** Always `'OcikitError'`, so logs and `util.inspect` name the class. */
  override readonly name = 'OcikitError';
  /** What went wrong, from {@link ERROR_CODES}; the field to branch on (the message may change). */
  readonly code: ErrorCode;

  /**
   * Creates an error; only `details` fields that are given become properties.
   * @param code the error code
   * @param message for people: names the offending value; not stable across releases
   * @param details the lower error (`cause`) and the fields of {@link ErrorDetails}
   */
  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    const { cause, ...fields } = details;
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    // Only the fields given become own properties (no `stderr: undefined` on every error).
    for (const [key, value] of Object.entries(fields)) if (value !== undefined) Object.assign(this, { [key]: value });
  }
}

/**
 * True when `err` is an {@link OcikitError}, optionally with the given code.
 * @category Errors
 */
export function isOcikitError(err: unknown, code?: ErrorCode): err is OcikitError {
  return err instanceof OcikitError && (code === undefined || err.code === code);
}

/** What a full device or an exhausted quota is called in messages, by errno code. */
const NO_SPACE_REASONS: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on the device (ENOSPC)',
  EDQUOT: 'the disk quota is exhausted (EDQUOT)',
};

/**
 * True when `err` is a system error saying the device is full or the quota exhausted (ENOSPC,
 * EDQUOT): a write failed, so the path to name is the one being written.
 */
export function isNoSpace(err: unknown): err is NodeJS.ErrnoException {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && Object.hasOwn(NO_SPACE_REASONS, code);
}

/**
 * Wraps a Node.js system error (ENOENT, EACCES, …) from an operation on `path` into an
 * {@link OcikitError}: ENOENT becomes `NOT_FOUND`, ENOSPC and EDQUOT `NO_SPACE`, anything else
 * `IO`. An OcikitError passes through.
 */
export function fromSystemError(err: unknown, what: string, path: string): OcikitError {
  if (err instanceof OcikitError) return err;
  const sys = err as NodeJS.ErrnoException;
  const reason = sys && typeof sys.code === 'string' ? sys.code : String(err);
  if (sys?.code === 'ENOENT' || sys?.code === 'ENOTDIR') {
    return new OcikitError('NOT_FOUND', `${what}: ${path} does not exist`, { cause: err });
  }
  if (isNoSpace(err))
    return new OcikitError('NO_SPACE', `${what}: ${path}: ${NO_SPACE_REASONS[reason]}`, { cause: err });
  return new OcikitError('IO', `${what}: ${path}: ${reason}`, { cause: err });
}

/**
 * The one `INTERRUPTED` error: `what` was stopped by `signal` (SIGINT, SIGTERM, an abort). The
 * signal's reason is kept as `cause` unless `details` gives another; `details` adds fields such as
 * `command`.
 */
export function interrupted(
  what: string,
  signal?: AbortSignal,
  details: Omit<ErrorDetails, 'cause'> & { readonly cause?: unknown } = {},
): OcikitError {
  return new OcikitError('INTERRUPTED', `${what}: interrupted`, { cause: signal?.reason, ...details });
}

/** Throws {@link interrupted} when `signal` has been aborted; otherwise does nothing. */
export function throwIfInterrupted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw interrupted(what, signal);
}
