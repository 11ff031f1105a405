/**
 * Docker credential helpers: `docker-credential-<name> get` with the registry on standard input,
 * answering `{"ServerURL","Username","Secret"}` on standard output, as docker-credential-helpers
 * `client/client.go` `Get` runs them and containers/image `pkg/docker/config/config.go`
 * `getAuthFromCredHelper` reads the answer: the exact output `credentials not found in native
 * keychain` of a failing helper means "no credentials", `Username` `<token>` means `Secret` is an
 * identity token (an OAuth2 refresh token), and an empty answer means no credentials.
 *
 * Stricter than containers/image, because a helper's output and error text may hold secrets and a
 * hung helper would hang the build: no message quotes what a helper wrote (c/image puts its stdout
 * into the error and passes its stderr through); a helper gets {@link DEFAULT_HELPER_TIMEOUT_MS}
 * to answer and is killed after that; a helper name holding a `/` (which `exec.Command` would run
 * as a path) is refused.
 */
import { OcikitError, isOcikitError } from '../errors.js';
import { T, decodeGo, type GoStruct } from '../gojson/decode.js';
import { parseGoJSON } from '../gojson/parse.js';
import { runTool } from '../internal/exec.js';
import { type HostEnv, hostEnvVars } from '../internal/host-env.js';
import type { Credentials } from './auth-files.js';

/** How long a credential helper may take to answer before it is killed (60 s). */
export const DEFAULT_HELPER_TIMEOUT_MS = 60_000;

/** The answer of a helper that has no credentials for the server (docker-credential-helpers `credentials/error.go`). */
const NOT_FOUND_ANSWER = 'credentials not found in native keychain';

/** The `Username` by which a helper says that `Secret` is an identity token. */
const IDENTITY_TOKEN_USER = '<token>';

/** The `credentials.Credentials` JSON a helper answers with. */
const HELPER_ANSWER = T.struct({ ServerURL: T.string, Username: T.string, Secret: T.string });

/** Helper answers of one run, by helper and server: each helper is asked once per registry. */
export type HelperCache = Map<string, Promise<Credentials | undefined>>;

/** How a helper is run. */
export interface HelperRun {
  /** The host whose environment (`PATH` above all) the helper runs in. */
  readonly host: HostEnv;
  /** Milliseconds the helper may take (default {@link DEFAULT_HELPER_TIMEOUT_MS}). */
  readonly timeoutMs?: number | undefined;
  /** The run's answers so far. */
  readonly cache?: HelperCache | undefined;
  /** Aborts the run (`INTERRUPTED`). */
  readonly signal?: AbortSignal | undefined;
  /** Where the helper was named, for messages (`credHelpers of quay.io in FILE`). */
  readonly origin: string;
}

/**
 * Asks helper `name` (`docker-credential-<name>`) for the credentials of `server` (a registry
 * host such as `quay.io`, `docker.io`, `127.0.0.1:5000`; never a namespace), once per run.
 * @returns the credentials (an identity token when the helper's user is `<token>`), or undefined
 *   when the helper has none.
 * @throws OcikitError `CONFIG` naming the helper (and `origin`) when it is missing, fails, hangs or
 *   answers something that is not its JSON (never quoting what it wrote); `INTERRUPTED`.
 */
export function credentialsFromHelper(name: string, server: string, run: HelperRun): Promise<Credentials | undefined> {
  const key = `${name}\u0000${server}`;
  let p = run.cache?.get(key);
  if (!p) {
    p = askHelper(name, server, run);
    run.cache?.set(key, p);
  }
  return p;
}

async function askHelper(name: string, server: string, run: HelperRun): Promise<Credentials | undefined> {
  const bin = `docker-credential-${name}`;
  const fail = (why: string, cause?: unknown) =>
    new OcikitError('CONFIG', `credential helper ${bin} (${run.origin}) ${why}`, cause === undefined ? {} : { cause });
  if (name.includes('/')) throw fail('is not a helper name (it holds a "/")');
  const timeoutMs = run.timeoutMs ?? DEFAULT_HELPER_TIMEOUT_MS;
  const timer = AbortSignal.timeout(timeoutMs);
  const signal = run.signal ? AbortSignal.any([run.signal, timer]) : timer;
  let result: Awaited<ReturnType<typeof runTool>>;
  try {
    result = await runTool([bin, 'get'], {
      input: server,
      env: hostEnvVars(run.host) as Record<string, string>,
      signal,
      allowFailure: true,
    });
  } catch (err) {
    if (run.signal?.aborted) throw err;
    if (timer.aborted) throw fail(`did not answer within ${timeoutMs / 1000} s and was stopped`);
    if (isOcikitError(err, 'NOT_FOUND')) throw fail('is not installed (not found on PATH)');
    // No cause: the tool error carries the helper's stderr, which may hold a secret.
    const code = isOcikitError(err) ? err.exitCode : undefined;
    throw fail(code === null ? 'was killed by a signal' : 'could not be run');
  }
  if (result.exitCode !== 0) {
    if (result.stdout.toString('utf8').trim() === NOT_FOUND_ANSWER) return undefined;
    throw fail(`failed for ${server}: exited with status ${result.exitCode}`);
  }
  let answer: GoStruct;
  try {
    answer = decodeGo(parseGoJSON(result.stdout), HELPER_ANSWER) as GoStruct;
  } catch {
    throw fail(`answered for ${server} with something that is not its JSON credentials`);
  }
  const username = typeof answer.Username === 'string' ? answer.Username : '';
  const secret = typeof answer.Secret === 'string' ? answer.Secret : '';
  if (username === IDENTITY_TOKEN_USER) {
    return secret === '' ? undefined : { username: '', password: '', identityToken: secret };
  }
  return username === '' && secret === '' ? undefined : { username, password: secret };
}
