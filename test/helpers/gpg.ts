/**
 * GnuPG and skopeo signing for the trust tests: a temporary `GNUPGHOME` with keys made by
 * `gpg --batch` (no passphrase), signatures made by real `skopeo standalone-sign` (or by `gpg
 * --sign` where skopeo cannot: a faked time, several signers, an arbitrary payload), and
 * `skopeo standalone-verify` as the reference verdict. The agent of the home is killed when the
 * test ends.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { tempDir } from './tmp.js';

/** A temporary GnuPG home and the environment that runs gpg and skopeo in it. */
export interface GpgHome {
  readonly dir: string;
  /** `PATH`, `HOME` (a temporary one with a permissive policy) and `GNUPGHOME`. */
  readonly env: NodeJS.ProcessEnv;
}

/** The result of one command. */
export interface RunResult {
  readonly status: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: Uint8Array): RunResult {
  const r = spawnSync(cmd, args, { env, input, timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout ?? Buffer.alloc(0), stderr: (r.stderr ?? Buffer.alloc(0)).toString() };
}

function check(r: RunResult, what: string): RunResult {
  if (r.status !== 0) throw new Error(`${what} failed (${r.status}): ${r.stderr}`);
  return r;
}

/** Makes a temporary GnuPG home (and HOME with a permissive containers policy) for the test. */
export async function makeGpgHome(t: TestContext): Promise<GpgHome> {
  const root = await tempDir(t, 'ocikit-gpg-');
  const dir = join(root, 'g');
  const home = join(root, 'home');
  await mkdir(dir, { mode: 0o700 });
  await mkdir(join(home, '.config', 'containers'), { recursive: true });
  await writeFile(
    join(home, '.config', 'containers', 'policy.json'),
    '{"default":[{"type":"insecureAcceptAnything"}]}',
  );
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, GNUPGHOME: dir };
  t.after(() => {
    run('gpgconf', ['--kill', 'all'], env);
  });
  return { dir, env };
}

/** Options of {@link genKey}. */
export interface KeyOptions {
  /** `ed25519` (default) or `rsa2048`. */
  readonly algo?: string;
  /** gpg's expire argument (`never`, `1d`, an ISO date); default `never`. */
  readonly expire?: string;
  /** `--faked-system-time` value (e.g. `20200101T000000`). */
  readonly fakedTime?: string;
}

function faked(opts: { fakedTime?: string | undefined }): string[] {
  return opts.fakedTime ? ['--faked-system-time', opts.fakedTime] : [];
}

/** The fingerprints (primary first, then subkeys) of the key with `uid`. */
export function fingerprints(g: GpgHome, uid: string): string[] {
  const r = check(run('gpg', ['--with-colons', '--list-keys', uid], g.env), 'gpg --list-keys');
  return r.stdout
    .toString()
    .split('\n')
    .filter((l) => l.startsWith('fpr:'))
    .map((l) => l.split(':')[9] ?? '');
}

/** Generates a signing key for `uid` (an email address) and returns its fingerprint. */
export function genKey(g: GpgHome, uid: string, opts: KeyOptions = {}): string {
  check(
    run(
      'gpg',
      [
        '--batch',
        ...faked(opts),
        '--passphrase',
        '',
        '--quick-gen-key',
        `Test <${uid}>`,
        opts.algo ?? 'ed25519',
        'sign',
        opts.expire ?? 'never',
      ],
      g.env,
    ),
    'gpg --quick-gen-key',
  );
  const fpr = fingerprints(g, uid)[0];
  if (!fpr) throw new Error(`no key for ${uid}`);
  return fpr;
}

/** Adds a signing subkey to `fpr` and returns the subkey's fingerprint. */
export function addSigningSubkey(g: GpgHome, fpr: string, uid: string): string {
  check(
    run('gpg', ['--batch', '--passphrase', '', '--quick-add-key', fpr, 'ed25519', 'sign', 'never'], g.env),
    'add key',
  );
  const all = fingerprints(g, uid);
  const sub = all[all.length - 1];
  if (!sub || sub === fpr) throw new Error('no subkey');
  return sub;
}

/** Revokes the primary key `fpr` with the revocation certificate gpg stored when making it. */
export function revokeKey(g: GpgHome, fpr: string): void {
  const cert = spawnSync('sed', ['s/^:-----/-----/', join(g.dir, 'openpgp-revocs.d', `${fpr}.rev`)]).stdout;
  check(run('gpg', ['--batch', '--import'], g.env, cert), 'gpg --import revocation');
}

/** The public keys `ids` exported (binary, or armored). */
export function exportKeys(g: GpgHome, ids: string[], armor = false): Buffer {
  return check(run('gpg', ['--export', ...(armor ? ['--armor'] : []), ...ids], g.env), 'gpg --export').stdout;
}

/** `skopeo standalone-sign MANIFEST REF FPR --output OUT`; returns the signature bytes. */
export function skopeoSign(g: GpgHome, manifestFile: string, ref: string, fpr: string, out: string): Buffer {
  check(run('skopeo', ['standalone-sign', manifestFile, ref, fpr, '--output', out], g.env), 'skopeo standalone-sign');
  return spawnSync('cat', [out]).stdout;
}

/** `gpg --sign` of `payload` by `signers` (each `FPR!`, exact key), as an OpenPGP signed message. */
export function gpgSign(
  g: GpgHome,
  payload: Uint8Array,
  signers: string[],
  opts: { fakedTime?: string; sigExpire?: string; compress?: boolean } = {},
): Buffer {
  const args = ['--batch', ...faked(opts), ...signers.flatMap((s) => ['--local-user', `${s}!`])];
  if (opts.sigExpire) args.push('--default-sig-expire', opts.sigExpire);
  if (opts.compress === false) args.push('--compress-algo', 'none');
  return check(run('gpg', [...args, '--sign'], g.env, payload), 'gpg --sign').stdout;
}

/** `skopeo standalone-verify`: true when skopeo accepts; the stderr otherwise. */
export function skopeoVerify(
  g: GpgHome,
  manifestFile: string,
  ref: string,
  fpr: string,
  sigFile: string,
): { ok: boolean; stderr: string } {
  const r = run('skopeo', ['standalone-verify', manifestFile, ref, fpr, sigFile], g.env);
  return { ok: r.status === 0, stderr: r.stderr };
}

/** `gpg --verify` of a signed message: its exit status. */
export function gpgVerifyStatus(g: GpgHome, sigFile: string): number | null {
  return run('gpg', ['--batch', '--verify', sigFile], g.env).status;
}

/** Runs skopeo with the home's environment plus `extra` arguments first (e.g. `--policy FILE`). */
export function skopeo(g: GpgHome, args: string[]): RunResult {
  return run('skopeo', args, g.env);
}

/**
 * Makes `skopeo copy --sign-by` in `g`'s HOME write its signatures into a new staging directory
 * `<dir>/stage` (registries.d `default-docker: lookaside-staging: file://…`), and returns that
 * directory, whose files a lookaside server can serve.
 */
export async function stageSignatures(g: GpgHome, dir: string): Promise<string> {
  const stage = join(dir, 'stage');
  await mkdir(stage);
  const signD = join(g.env.HOME ?? '', '.config', 'containers', 'registries.d');
  await mkdir(signD, { recursive: true });
  await writeFile(join(signD, 'sign.yaml'), `default-docker:\n  lookaside-staging: file://${stage}\n`);
  return stage;
}
