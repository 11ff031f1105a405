/**
 * Layer entries made by hand, and a driver that feeds them to a deploy tree's layer appliers the
 * way the layer reader does (entry, data chunks, end; promises awaited), for the deploy tests.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { openDeployTree } from '../../src/deploy/tree.js';
import type { DeployTree, DeployWarning } from '../../src/deploy/types.js';
import type { LayerEntry, LayerEntryType } from '../../src/internal/tar/entry.js';
import { tempDir } from './tmp.js';

/** A layer entry plus the content of a file. */
export interface TestEntry extends LayerEntry {
  readonly content?: Buffer;
}

/** Fields a test may set. */
export interface EntryOpts {
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number | { sec: number; nsec: number };
  atime?: { sec: number; nsec: number };
  xattrs?: Record<string, Buffer | string>;
  devmajor?: number;
  devminor?: number;
}

const b = (s: string | Buffer) => (typeof s === 'string' ? Buffer.from(s) : s);

function make(
  type: LayerEntryType,
  name: string | Buffer,
  linkname: string | Buffer,
  o: EntryOpts,
  content?: Buffer,
): TestEntry {
  const m = o.mtime ?? 1600000000;
  return {
    name: b(name),
    type,
    linkname: b(linkname),
    mode: o.mode ?? (type === 'directory' ? 0o755 : 0o644),
    uid: o.uid ?? 0,
    gid: o.gid ?? 0,
    size: content?.length ?? 0,
    mtime: typeof m === 'number' ? { sec: m, nsec: 0 } : m,
    ...(o.atime ? { atime: o.atime } : {}),
    devmajor: o.devmajor ?? 0,
    devminor: o.devminor ?? 0,
    xattrs: Object.entries(o.xattrs ?? {}).map(([k, v]) => ({ name: Buffer.from(k), value: b(v) })),
    ...(content ? { content } : {}),
  };
}

/** A regular file. */
export const file = (name: string | Buffer, content: string | Buffer = '', o: EntryOpts = {}) =>
  make('file', name, '', o, b(content));
/** A directory. */
export const dir = (name: string | Buffer, o: EntryOpts = {}) => make('directory', name, '', o);
/** A symlink. */
export const symlink = (name: string | Buffer, target: string | Buffer, o: EntryOpts = {}) =>
  make('symlink', name, target, { mode: 0o777, ...o });
/** A hard link. */
export const hardlink = (name: string | Buffer, target: string | Buffer, o: EntryOpts = {}) =>
  make('link', name, target, o);
/** A char/block device or FIFO. */
export const node = (type: 'char' | 'block' | 'fifo', name: string, o: EntryOpts = {}) => make(type, name, '', o);

/** Feeds `layers` to `tree`, one applier per layer, as the reader would (data in 2 chunks). */
export async function applyLayers(
  tree: DeployTree,
  layers: readonly (readonly TestEntry[])[],
  first = 0,
): Promise<void> {
  let i = first;
  for (const entries of layers) {
    const a = tree.layer(i++);
    for (const e of entries) {
      await a.entry(e);
      const c = e.content;
      if (c && c.length > 0) {
        const half = Math.ceil(c.length / 2);
        await a.data(c.subarray(0, half));
        if (half < c.length) await a.data(c.subarray(half));
      }
      await a.end();
    }
    await a.finish();
  }
}

/** A fresh `tree/` (and a `victim/` directory beside it, which hostile cases must not touch). */
export async function freshTree(
  t: TestContext,
  opts: { rootless?: boolean } = {},
): Promise<{ root: string; victim: string; tree: DeployTree; warnings: DeployWarning[] }> {
  const base = await tempDir(t, 'ocikit-deploy-');
  const root = join(base, 'tree');
  const victim = join(base, 'victim');
  fs.mkdirSync(root);
  fs.mkdirSync(victim);
  fs.writeFileSync(join(victim, 'keep'), 'victim');
  const warnings: DeployWarning[] = [];
  const tree = await openDeployTree(root, { rootless: opts.rootless ?? false, warn: (w) => warnings.push(w) });
  return { root, victim, tree, warnings };
}

/** Deploys `layers` into a fresh tree and finishes it. */
export async function deployLayers(
  t: TestContext,
  layers: readonly (readonly TestEntry[])[],
  opts: { rootless?: boolean } = {},
) {
  const r = await freshTree(t, opts);
  await applyLayers(r.tree, layers);
  await r.tree.finish();
  return r;
}
