/**
 * Trust policies for tests: every fetch in the tests names its policy, as skopeo needs one too, so
 * that no test depends on the host's `/etc/containers/policy.json` (Debian's accepts anything; a
 * CI host's may not). {@link ACCEPT_ANYTHING_POLICY} is a permissive policy file made once per test
 * process and removed when it exits; {@link writePolicy} puts a policy into a test's own directory.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** The permissive policy skopeo's `--insecure-policy` stands for, as JSON text. */
export const ACCEPT_ANYTHING_JSON = '{"default":[{"type":"insecureAcceptAnything"}]}';

function makeOnce(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ocikit-policy-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'policy.json');
  writeFileSync(file, ACCEPT_ANYTHING_JSON);
  return file;
}

/** A permissive policy file (`default: [insecureAcceptAnything]`), the same for the whole test process. */
export const ACCEPT_ANYTHING_POLICY = makeOnce();

/** Writes `policy` (an object as JSON, a string as it is) to `file`, creating its directory. */
export async function writePolicy(file: string, policy: unknown): Promise<string> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, typeof policy === 'string' ? policy : JSON.stringify(policy));
  return file;
}
