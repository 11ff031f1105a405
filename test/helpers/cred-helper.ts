/**
 * A `docker-credential-<name>` test helper: a shell script written into a directory (put it first
 * on `PATH`) that logs each call (its arguments and standard input, the server name) to
 * `<name>.log` and answers as told: credentials, the "not found" answer, a failure with a status
 * and output, or hanging. The log holds no secret: helpers get only the server on stdin.
 */
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** What the helper answers. */
export type HelperAnswer =
  | { readonly username: string; readonly secret: string }
  | { readonly status: number; readonly stdout: string; readonly stderr?: string }
  | 'not-found'
  | 'hang';

/** A written helper. */
export interface TestCredHelper {
  /** The helper's name (without `docker-credential-`). */
  readonly name: string;
  /** The calls so far, each `"<args> <stdin>"`. */
  calls(): Promise<string[]>;
  /** Changes the answer. */
  answer(a: HelperAnswer): Promise<void>;
}

/** Writes `docker-credential-<name>` into `dir`, answering `answer`. */
export async function writeCredHelper(dir: string, name: string, answer: HelperAnswer): Promise<TestCredHelper> {
  const log = join(dir, `${name}.log`);
  const file = (ext: string) => join(dir, `${name}.${ext}`);
  const script = join(dir, `docker-credential-${name}`);
  await writeFile(
    script,
    [
      '#!/bin/sh',
      'input=$(cat)',
      `printf '%s %s\\n' "$*" "$input" >> '${log}'`,
      `if [ -e '${file('hang')}' ]; then exec sleep 30; fi`,
      `cat '${file('out')}'`,
      `cat '${file('err')}' >&2`,
      `exit "$(cat '${file('status')}')"`,
      '',
    ].join('\n'),
  );
  await chmod(script, 0o755);
  const set = async (a: HelperAnswer) => {
    const { rm } = await import('node:fs/promises');
    await rm(file('hang'), { force: true });
    let status = 0;
    let out = '';
    let err = '';
    if (a === 'hang') await writeFile(file('hang'), '');
    else if (a === 'not-found') {
      status = 1;
      out = 'credentials not found in native keychain\n';
    } else if ('status' in a) {
      status = a.status;
      out = a.stdout;
      err = a.stderr ?? '';
    } else out = JSON.stringify({ ServerURL: '', Username: a.username, Secret: a.secret });
    await writeFile(file('status'), String(status));
    await writeFile(file('out'), out);
    await writeFile(file('err'), err);
  };
  await set(answer);
  return {
    name,
    answer: set,
    calls: async () => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter((l) => l !== ''),
  };
}
