/**
 * The real tools as deploy oracles (docs/deploy.md "The differential check"): an image copied by
 * skopeo into a throwaway vfs store and mounted with `podman image mount`, or unpacked by
 * `umoci unpack`, then listed canonically; and the normalisations of the check (the `.` line
 * dropped, mtimes truncated to the microsecond). Every store is removed (`system reset`) when the
 * test ends.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { deploy, type DeployOptions } from '../../src/deploy/deploy.js';
import type { DeploySummary } from '../../src/deploy/types.js';
import { runTool } from '../../src/internal/exec.js';
import { tempDir } from './tmp.js';
import { listTree } from './tree-listing.js';

/** A throwaway vfs store and the skopeo/podman that use it. */
export interface VfsStore {
  /** `containers-storage:[vfs@ROOT+RUNROOT]` */
  readonly spec: string;
  /** skopeo with a permissive policy in a temporary HOME. */
  skopeo(args: readonly string[], allowFailure?: boolean): ReturnType<typeof runTool>;
  /** podman on this store. */
  podman(args: readonly string[], allowFailure?: boolean): ReturnType<typeof runTool>;
}

/** A fresh vfs store under a temporary directory, reset when `t` ends. */
export async function vfsStore(t: TestContext): Promise<VfsStore> {
  // Not tempDir: the store must be reset before its directory is removed (a reset afterwards
  // would write podman's configuration directory again).
  const dir = await mkdtemp(join(tmpdir(), 'ocikit-vfs-'));
  const home = join(dir, 'home');
  await mkdir(join(home, '.config/containers'), { recursive: true });
  const policy = join(home, '.config/containers/policy.json');
  await writeFile(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  const root = join(dir, 'store');
  const run = join(dir, 'run');
  await mkdir(join(run, 'tmp'), { recursive: true });
  const env = { HOME: home, TMPDIR: join(run, 'tmp') };
  const base = ['--root', root, '--runroot', run, '--storage-driver', 'vfs', '--tmpdir', join(run, 'tmp')];
  const store: VfsStore = {
    spec: `containers-storage:[vfs@${root}+${run}]`,
    skopeo: (args, allowFailure = false) => runTool(['skopeo', '--policy', policy, ...args], { env, allowFailure }),
    podman: (args, allowFailure = false) =>
      runTool(['podman', ...base, '--events-backend', 'none', ...args], { env, allowFailure }),
  };
  t.after(async () => {
    await store.podman(['system', 'reset', '--force'], true);
    await rm(dir, { recursive: true, force: true });
  });
  return store;
}

/** What podman made of an image: its mount's listing, or the copy's failure. */
export type PodmanResult =
  | { readonly ok: true; readonly lines: string[] }
  | { readonly ok: false; readonly error: string };

/**
 * Copies `source` (a skopeo source, `dir:…` or `oci:…`) into the store, mounts it, lists the mount,
 * unmounts and removes the image. A failing copy is returned, not thrown.
 */
export async function podmanListing(
  store: VfsStore,
  source: string,
  name = 'localhost/deploy-test:latest',
): Promise<PodmanResult> {
  const copy = await store.skopeo(['copy', '--quiet', source, `${store.spec}${name}`], true);
  if (copy.exitCode !== 0) return { ok: false, error: copy.stderr.trim() };
  const mount = (await store.podman(['image', 'mount', name])).stdout.toString().trim();
  try {
    return { ok: true, lines: listTree(mount) };
  } finally {
    await store.podman(['image', 'umount', name]);
    await store.podman(['rmi', name]);
  }
}

/** `umoci unpack --image LAYOUT:TAG BUNDLE`, listed (BUNDLE/rootfs); a failure is returned. */
export async function umociListing(t: TestContext, image: string): Promise<PodmanResult> {
  const bundle = join(await tempDir(t, 'ocikit-umoci-'), 'bundle');
  const r = await runTool(['umoci', 'unpack', '--image', image, bundle], { allowFailure: true });
  if (r.exitCode !== 0) return { ok: false, error: r.stderr.trim() };
  return { ok: true, lines: listTree(join(bundle, 'rootfs')) };
}

/** `deploy()` into a fresh empty tree, listed; a failure is returned as its code. */
export async function ocikitListing(
  t: TestContext,
  inputs: unknown,
  options: DeployOptions = {},
): Promise<
  | { ok: true; lines: string[]; summary: DeploySummary; tree: string }
  | { ok: false; code: string; message: string; tree: string }
> {
  const tree = join(await tempDir(t, 'ocikit-tree-'), 'tree');
  await mkdir(tree);
  try {
    const summary = await deploy(inputs, tree, options);
    return { ok: true, lines: listTree(tree), summary, tree };
  } catch (err) {
    const e = err as { code?: string; message: string };
    return { ok: false, code: e.code ?? 'unknown', message: e.message, tree };
  }
}

/** The fields of a listing line. */
export interface ListingLine {
  readonly path: string;
  readonly type: string;
  readonly mode: string;
  readonly owner: string;
  readonly size: string;
  readonly content: string;
  readonly mtime: string;
  readonly xattrs: string;
  readonly hardlink: string;
}

/** A listing line split into its fields. */
export function fields(line: string): ListingLine {
  const [path, type, mode, owner, size, content, mtime, xattrs, hardlink] = line.split('\t') as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  return { path, type, mode, owner, size, content, mtime, xattrs, hardlink };
}

/** A listing by path. */
export function byPath(lines: readonly string[]): Map<string, ListingLine> {
  return new Map(lines.map((l) => [fields(l).path, fields(l)]));
}

/** Normalisations 1 and 2 of the differential check: no `.` line, mtimes to the microsecond. */
export function normalise(lines: readonly string[]): string[] {
  return lines
    .filter((l) => !l.startsWith('.\t'))
    .map((l) => {
      const f = l.split('\t');
      if (f[6] !== '-') f[6] = f[6]!.slice(0, f[6]!.length - 3);
      return f.join('\t');
    });
}

/** `line` with its mtime replaced by `-` (a mtime the rules leave unspecified). */
export function noMtime(line: string): string {
  const f = line.split('\t');
  f[6] = '-';
  return f.join('\t');
}

/** Asserts `stderr` is one `ocikit:` line (notes aside) matching `re`. */
export function oneLine(stderr: string, re: RegExp): void {
  const lines = stderr
    .trim()
    .split('\n')
    .filter((l) => !l.startsWith('ocikit: note:'));
  if (lines.length !== 1 || !/^ocikit: /.test(lines[0]!) || !re.test(lines[0]!))
    throw new Error(`expected one ocikit: line matching ${re}, got:\n${stderr}`);
}
