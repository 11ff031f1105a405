/**
 * Which trust policy applies, as skopeo 1.9.3 (containers/image 5.23 `signature/policy_config.go`
 * `DefaultPolicy`) finds it: an explicit file (`--policy`), else
 * `$HOME/.config/containers/policy.json` when it exists — `$HOME`, never `$XDG_CONFIG_HOME`, and for
 * root as well (containers/storage `pkg/homedir.Get`) — else `/etc/containers/policy.json`.
 * `insecurePolicy` (skopeo `--insecure-policy`) wins over everything and accepts every image.
 * A missing, unreadable or malformed policy is a `CONFIG` error naming the file: skopeo refuses to
 * copy anything then ("Error loading trust policy: …").
 */
import { stat } from 'node:fs/promises';
import * as path from 'node:path';
import { OcikitError, isOcikitError } from '../errors.js';
import { readNamedFile } from '../internal/fs.js';
import { type HostEnv, hostHome, hostPath } from '../internal/host-env.js';
import { type Policy, parsePolicy } from './policy-parse.js';

/**
 * The system-wide policy file.
 * @category Trust
 */
export const SYSTEM_POLICY_PATH = '/etc/containers/policy.json';

/**
 * Where to look for the policy. The host fields are the shared {@link HostEnv}: `home` (or
 * `$HOME`) locates the per-user file, `cwd` resolves a relative `policyFile`.
 * @category Trust
 */
export interface PolicyLookupOptions extends HostEnv {
  /** An explicit policy file (skopeo `--policy`); only it is read. The empty string counts as unset, as in skopeo. */
  readonly policyFile?: string | undefined;
  /** Accept every image without reading any file (skopeo `--insecure-policy`). */
  readonly insecurePolicy?: boolean | undefined;
  /** The system file (default {@link SYSTEM_POLICY_PATH}); tests inject their own. */
  readonly systemPath?: string | undefined;
}

/**
 * The policy skopeo's `--insecure-policy` uses: `default: [insecureAcceptAnything]`.
 * @category Trust
 */
export const INSECURE_POLICY: Policy = Object.freeze({
  file: null,
  default: Object.freeze([Object.freeze({ type: 'insecureAcceptAnything' as const })]),
  transports: new Map(),
});

/**
 * The policy file that applies (without reading it): `policyFile`, else the per-user file when
 * it exists (anything `stat` succeeds on, as containers/image checks), else the system file. A
 * host without a home directory has no per-user file.
 * @category Trust
 */
export async function policyFilePath(opts: PolicyLookupOptions = {}): Promise<string> {
  if (opts.policyFile !== undefined && opts.policyFile !== '') return hostPath(opts, opts.policyFile);
  const home = hostHome(opts);
  if (home !== undefined) {
    const user = path.join(hostPath(opts, home), '.config', 'containers', 'policy.json');
    try {
      await stat(user);
      return user;
    } catch {
      // containers/image: any stat failure means "no per-user file".
    }
  }
  return opts.systemPath ?? SYSTEM_POLICY_PATH;
}

/**
 * Reads and parses the policy that applies (see {@link policyFilePath}), or returns
 * {@link INSECURE_POLICY} when `insecurePolicy` is set.
 * @throws OcikitError `CONFIG`: `cannot load the trust policy FILE: …` for a missing or unreadable
 *   file, `invalid trust policy in FILE: …` for a malformed one.
 * @category Trust
 */
export async function loadPolicy(opts: PolicyLookupOptions = {}): Promise<Policy> {
  if (opts.insecurePolicy) return INSECURE_POLICY;
  const file = await policyFilePath(opts);
  let bytes: Uint8Array;
  try {
    bytes = await readNamedFile(file, 'trust policy');
  } catch (err) {
    const why = isOcikitError(err, 'NOT_FOUND') ? 'no such file' : (err as Error).message;
    throw new OcikitError('CONFIG', `cannot load the trust policy ${file}: ${why}`, { cause: err });
  }
  return parsePolicy(bytes, file);
}
