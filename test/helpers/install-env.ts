/**
 * The environment of the install() integration suites: a temporary tree, store run root, temp dir
 * and osbuild-style inputs per test, builders for the request, and checks that nothing was left.
 */
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import tar from 'tar-stream';
import { isOcikitError } from '../../src/errors.js';
import type { InstallRequest } from '../../src/install/install.js';
import { runTool } from '../../src/internal/exec.js';
import { UPSTREAM } from './fixtures.js';
import { type GeneratedImage, makeDirImage, makeList } from './images.js';
import { tempDir } from './tmp.js';

export const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
export const SIGNATURE = join(UPSTREAM, 'containers-image', 'signature', 'fixtures', 'dir-img-valid', 'signature-1');

export interface Env {
  readonly root: string;
  readonly tree: string;
  readonly runroot: string;
  readonly tmpdir: string;
  readonly images: string;
  readonly lists: string;
}

export async function env(t: TestContext): Promise<Env> {
  const root = await tempDir(t);
  const e = {
    root,
    tree: join(root, 'tree'),
    runroot: join(root, 'run'),
    tmpdir: join(root, 'tmp'),
    images: join(root, 'in', 'images'),
    lists: join(root, 'in', 'lists'),
  };
  for (const d of [e.tree, e.tmpdir, e.images, e.lists]) await mkdir(d, { recursive: true });
  return e;
}

/** Writes a generated dir image under `images/<image id>` (the osbuild key) and returns it. */
export async function addDirImage(e: Env, opts: Parameters<typeof makeDirImage>[1] = {}): Promise<GeneratedImage> {
  const tmp = join(e.root, `gen-${Math.random().toString(36).slice(2)}`);
  const img = await makeDirImage(tmp, opts);
  const dir = join(e.images, img.configDigest);
  await rename(tmp, dir);
  return { ...img, dir };
}

export async function addList(e: Env, images: Parameters<typeof makeList>[0]): Promise<string> {
  const list = makeList(images);
  await writeFile(join(e.lists, list.digest), list.bytes);
  return list.digest;
}

export function inputs(e: Env, archives: Record<string, { format: string; name: string }>): unknown {
  return { images: { path: e.images, data: { archives } } };
}

export async function listInputs(e: Env): Promise<unknown> {
  const files = Object.fromEntries((await readdir(e.lists)).map((f) => [f, {}]));
  return { path: e.lists, data: { files } };
}

export function storageOptions(extra: Record<string, unknown> = {}) {
  return { destination: { type: 'containers-storage', 'storage-driver': 'vfs' }, ...extra };
}

export function req(e: Env, inputs: unknown, options: unknown, more: Partial<InstallRequest> = {}): InstallRequest {
  return { inputs, options, tree: e.tree, runroot: e.runroot, tmpdir: e.tmpdir, ...more };
}

export const store = (e: Env) => join(e.tree, 'var/lib/containers/storage');

export async function podmanInspect(e: Env, name: string, root = store(e)): Promise<Record<string, unknown>> {
  const r = await runTool([
    'podman',
    '--root',
    root,
    '--runroot',
    e.runroot,
    '--storage-driver',
    'vfs',
    'image',
    'inspect',
    name,
  ]);
  const arr = JSON.parse(r.stdout.toString('utf8')) as Record<string, unknown>[];
  assert.equal(arr.length, 1);
  return arr[0]!;
}

/** Everything below `dir`, as sorted relative paths. */
export async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string) => {
    for (const ent of await readdir(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${ent.name}` : ent.name;
      out.push(r);
      if (ent.isDirectory()) await walk(join(d, ent.name), r);
    }
  };
  await walk(dir, '');
  return out.sort();
}

export async function assertCode(p: Promise<unknown>, code: string): Promise<Error> {
  try {
    await p;
  } catch (err) {
    assert.ok(isOcikitError(err), `expected an OcikitError ${code}, got ${String(err)}`);
    assert.equal((err as { code: string }).code, code, (err as Error).message);
    return err as Error;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

/** Asserts nothing was left: an empty tree and an empty temp dir. */
export async function assertNothingLeft(e: Env): Promise<void> {
  assert.deepEqual(await listTree(e.tree), [], 'the tree must be left empty');
  assert.deepEqual(await readdir(e.tmpdir), [], 'no temporary file may remain');
}

/** Flips one byte near the end of `file` (same size, wrong content). */
export async function flipByte(file: string): Promise<void> {
  const b = await readFile(file);
  const i = b.length - 10;
  b.writeUInt8(b.readUInt8(i) ^ 0xff, i);
  await writeFile(file, b);
}

/** Packs `entries` (name → content) into a tar file. */
export async function writeTar(file: string, entries: [string, Buffer | string][]): Promise<void> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((res, rej) => {
    pack.on('end', res);
    pack.on('error', rej);
  });
  for (const [name, content] of entries) {
    const body = typeof content === 'string' ? Buffer.from(content) : content;
    await new Promise<void>((res, rej) =>
      pack.entry({ name, size: body.length, mode: 0o644, mtime: new Date(0) }, body, (err) => (err ? rej(err) : res())),
    );
  }
  pack.finalize();
  await done;
  await writeFile(file, Buffer.concat(chunks));
}
