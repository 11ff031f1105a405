/**
 * `src/internal/dir-handle.ts`: walking a path inside a root by descriptor (symlinks followed only
 * inside the root), writing through the held directory whatever happens to its path, removing only
 * the directories the walk created (rmdir, only while empty and still the same), verifying the path
 * afterwards, and `resolveInside`.
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, readdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { type ErrorCode, isOcikitError } from '../../src/errors.js';
import { openDirInside, resolveInside, withDirInside } from '../../src/internal/dir-handle.js';
import { tempDir } from '../helpers/tmp.js';

const code = (c: ErrorCode) => (e: unknown) => {
  assert.ok(isOcikitError(e, c), `expected ${c}, got ${String(e)}`);
  return true;
};

/** A root with an outside sibling and a few symlinks, inside and out. */
async function setup(t: TestContext) {
  const base = await tempDir(t);
  const root = join(base, 'root');
  const outside = join(base, 'outside');
  await mkdir(join(root, 'usr', 'lib'), { recursive: true });
  await mkdir(outside);
  await writeFile(join(root, 'file'), 'x');
  await symlink('usr/lib', join(root, 'lib')); // relative, inside
  await symlink(join(root, 'usr'), join(root, 'abs-in')); // absolute, into the root
  await symlink(outside, join(root, 'abs-out'));
  await symlink('../outside', join(root, 'rel-out'));
  await symlink('usr/../../outside', join(root, 'dotdot-out'));
  await symlink('nowhere/x', join(root, 'dangling'));
  await symlink('loop-b', join(root, 'loop-a'));
  await symlink('loop-a', join(root, 'loop-b'));
  return { base, root, outside };
}

describe('openDirInside', () => {
  it('creates missing directories (names beginning with ".." too) and writes through the held one', async (t) => {
    const { root } = await setup(t);
    const dir = join(root, '..data', '...', 'a..b');
    const held = await openDirInside(root, dir, 'dest', { create: true });
    try {
      assert.equal(held.path, dir);
      await writeFile(held.at('f'), 'hello');
    } finally {
      await held.close();
    }
    assert.equal(await readFile(join(dir, 'f'), 'utf8'), 'hello');
  });

  const followed: [string, string][] = [
    ['lib/x', 'usr/lib/x'],
    ['abs-in/lib/y', 'usr/lib/y'],
  ];
  for (const [rel, real] of followed) {
    it(`follows a symlink that stays inside (${rel})`, async (t) => {
      const { root } = await setup(t);
      const held = await openDirInside(root, join(root, rel), 'dest', { create: true });
      await writeFile(held.at('f'), 'in');
      await held.close();
      assert.equal(await readFile(join(root, real, 'f'), 'utf8'), 'in');
    });
  }

  const refused: [string, ErrorCode][] = [
    ['abs-out/x', 'UNSAFE_PATH'],
    ['rel-out/x', 'UNSAFE_PATH'],
    ['dotdot-out/x', 'UNSAFE_PATH'],
    ['dangling/y', 'UNSAFE_PATH'],
    ['loop-a/x', 'UNSAFE_PATH'],
    ['file/x', 'IO'],
  ];
  for (const [rel, want] of refused) {
    it(`refuses ${rel} as ${want}, creating nothing`, async (t) => {
      const { root, outside } = await setup(t);
      const before = (await readdir(root)).sort();
      await assert.rejects(openDirInside(root, join(root, rel), 'dest', { create: true }), code(want));
      assert.deepEqual((await readdir(root)).sort(), before);
      assert.deepEqual(await readdir(outside), []);
    });
  }

  it('keeps writing into the directory it holds when a parent is swapped for a symlink out', async (t) => {
    const { root, outside } = await setup(t);
    const held = await openDirInside(root, join(root, 'p', 'q'), 'dest', { create: true });
    try {
      await rename(join(root, 'p'), join(root, 'p.real'));
      await symlink(outside, join(root, 'p'));
      await writeFile(held.at('f'), 'held');
      await mkdir(held.at('d'));
      assert.deepEqual(await readdir(outside), []);
      assert.equal(await readFile(join(root, 'p.real', 'q', 'f'), 'utf8'), 'held');
      await assert.rejects(held.verify(), code('UNSAFE_PATH'));
      await rm(join(root, 'p'));
      await rename(join(root, 'p.real'), join(root, 'p'));
      await held.verify();
      await rename(join(root, 'p', 'q'), join(root, 'q-moved'));
      await assert.rejects(held.verify(), code('UNSAFE_PATH'));
    } finally {
      await held.close();
    }
  });

  it('lends the directory to a child process as /proc/<pid>/fd/<n>', async (t) => {
    const { root } = await setup(t);
    const held = await openDirInside(root, join(root, 'c'), 'dest', { create: true });
    try {
      execFileSync('sh', ['-c', 'echo child > "$1/f"', 'sh', held.procForChild]);
    } finally {
      await held.close();
    }
    assert.equal(await readFile(join(root, 'c', 'f'), 'utf8'), 'child\n');
  });

  it('names the path, not /proc/self/fd, in relabelled messages', async (t) => {
    const { root } = await setup(t);
    const held = await openDirInside(root, join(root, 'm'), 'dest', { create: true });
    try {
      const err = held.relabel(new Error(`writing ${held.at('x')} and ${held.procForChild}/y, not ${held.proc}7`));
      assert.equal(err.message, `writing ${join(root, 'm')}/x and ${join(root, 'm')}/y, not ${held.proc}7`);
    } finally {
      await held.close();
    }
  });
});

describe('removeCreated', () => {
  it('removes only the empty directories this walk created, deepest first', async (t) => {
    const { root } = await setup(t);
    const held = await openDirInside(root, join(root, 'usr', 'a', 'b', 'c'), 'dest', { create: true });
    // Another process puts its result into a directory this walk created.
    await writeFile(join(root, 'usr', 'a', 'theirs'), 'keep');
    await held.removeCreated();
    await held.close();
    await assert.rejects(stat(join(root, 'usr', 'a', 'b')), { code: 'ENOENT' });
    assert.deepEqual((await readdir(join(root, 'usr', 'a'))).sort(), ['theirs']);
    assert.ok((await stat(join(root, 'usr', 'lib'))).isDirectory(), 'what existed before stays');
  });

  it('leaves a directory that is no longer the one it created, and what existed before', async (t) => {
    const { root } = await setup(t);
    const held = await openDirInside(root, join(root, 'n'), 'dest', { create: true });
    await rename(join(root, 'n'), join(root, 'n.old'));
    await mkdir(join(root, 'n')); // someone else's, empty
    await held.removeCreated();
    await held.close();
    assert.ok((await stat(join(root, 'n'))).isDirectory());
    const again = await openDirInside(root, join(root, 'usr', 'lib'), 'dest', { create: true });
    await again.removeCreated();
    await again.close();
    assert.ok((await stat(join(root, 'usr', 'lib'))).isDirectory());
  });

  it('withDirInside removes what it created when the function fails, and keeps it when it succeeds', async (t) => {
    const { root } = await setup(t);
    await assert.rejects(
      withDirInside(root, join(root, 'w', 'x'), 'dest', async () => {
        throw new Error('late failure');
      }),
      /late failure/,
    );
    await assert.rejects(stat(join(root, 'w')), { code: 'ENOENT' });
    await withDirInside(root, join(root, 'w', 'x'), 'dest', async (held) => writeFile(held.at('ok'), ''));
    assert.deepEqual(await readdir(join(root, 'w', 'x')), ['ok']);
  });
});

describe('resolveInside', () => {
  it('accepts missing paths, symlinks that stay inside, names beginning with "..", an existing file', async (t) => {
    const { root } = await setup(t);
    for (const rel of ['/new/x', 'lib/x', '/abs-in/x', '/..data/out', '...', 'file']) {
      assert.equal(await resolveInside(root, rel, 'dest'), join(root, rel));
    }
    assert.deepEqual((await readdir(root)).includes('new'), false, 'nothing is created');
  });

  for (const rel of ['/abs-out/x', 'rel-out', '/dotdot-out/x', 'dangling/x', 'dangling', 'loop-a', '../x', 'a/../b']) {
    it(`refuses ${rel}`, async (t) => {
      const { root } = await setup(t);
      await assert.rejects(resolveInside(root, rel, 'dest'), code('UNSAFE_PATH'));
    });
  }
});
