/**
 * Owned temporaries against real processes: the owner written into a temporary name, liveness
 * (alive, exited, PID reused, another boot, another PID namespace), and sweeping, which removes
 * only what a provably dead process owned, only under the given prefix, never through a symlink,
 * never another user's, never into a mount.
 */
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chown, lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  type OwnerRecord,
  createOwnedTempDir,
  currentOwner,
  isOwnerAlive,
  ownerOf,
  sweepStale,
} from '../../src/internal/ownership.js';
import { tempDir } from '../helpers/tmp.js';

const PREFIX = 'ocikit-test-owned-';

/** Field 22 of /proc/<pid>/stat. */
async function startTime(pid: number): Promise<string> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ')[19]!;
}

/** The record of a process that ran and has been reaped: its PID is free (or reused by another). */
async function deadOwner(): Promise<OwnerRecord> {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  const pid = child.pid!;
  const start = await startTime(pid);
  const closed = new Promise((r) => child.on('close', r));
  child.kill('SIGKILL');
  await closed;
  const me = (await currentOwner())!;
  return { pid, start, boot: me.boot, pidns: me.pidns };
}

/** The name a process with `o` would give a temporary directory. */
const nameOf = (o: OwnerRecord, prefix = PREFIX) => `${prefix}${o.pid}-${o.start}-${o.boot}-${o.pidns}-AbC123`;

/** A directory with a file and a subdirectory in it. */
async function filled(dir: string): Promise<string> {
  await mkdir(join(dir, 'sub'), { recursive: true });
  await writeFile(join(dir, 'sub', 'partial-blob'), 'x'.repeat(1000));
  return dir;
}

describe('owners', () => {
  it('describes this process as /proc does', async () => {
    const me = (await currentOwner())!;
    assert.equal(me.pid, process.pid);
    assert.equal(me.start, await startTime(process.pid));
    assert.equal(me.boot, (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).replace(/-/g, '').slice(0, 8));
    assert.equal(`pid:[${me.pidns}]`, await readlink('/proc/self/ns/pid'));
  });

  it('writes the owner into the name of a new temporary directory', async (t) => {
    const dir = await tempDir(t);
    const made = await createOwnedTempDir(dir, PREFIX);
    const name = made.slice(dir.length + 1);
    assert.deepEqual(ownerOf(name, PREFIX), await currentOwner());
    assert.deepEqual(await readdir(made), [], 'nothing is put inside');
    assert.equal(ownerOf(`${PREFIX}AbC123`, PREFIX), undefined, 'a name without an owner');
    assert.equal(ownerOf(name, 'other-'), undefined);
  });

  it('tells a live process from an exited one, a reused PID, another boot, another PID namespace', async (t) => {
    const me = (await currentOwner())!;
    assert.equal(await isOwnerAlive(me), true);
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    t.after(() => sleeper.kill('SIGKILL'));
    const live = { ...me, pid: sleeper.pid!, start: await startTime(sleeper.pid!) };
    assert.equal(await isOwnerAlive(live), true, 'a running process');
    assert.equal(await isOwnerAlive({ ...live, start: String(Number(live.start) + 1) }), false, 'PID reused');
    assert.equal(await isOwnerAlive({ ...live, boot: me.boot === '00000000' ? '11111111' : '00000000' }), false);
    assert.equal(await isOwnerAlive({ ...live, start: '1', pidns: '1' }), true, 'another namespace: cannot tell');
    assert.equal(await isOwnerAlive(await deadOwner()), false, 'an exited process');
  });
});

describe('sweepStale', () => {
  it("removes a dead owner's directory with what is in it, and only that", async (t) => {
    const dir = await tempDir(t);
    const dead = await deadOwner();
    const stale = await filled(join(dir, nameOf(dead)));
    const mine = await createOwnedTempDir(dir, PREFIX);
    const other = await filled(join(dir, nameOf(dead, 'other-prefix-')));
    const file = join(dir, nameOf(dead).replace('AbC123', 'FiLe00'));
    await writeFile(file, 'a file with an owner name is never ocikit work');
    const legacy = await filled(join(dir, `${PREFIX}OlDnAm`));
    const elsewhere = await filled(join(await tempDir(t), 'target'));
    const link = join(dir, nameOf(dead).replace('AbC123', 'LiNk00'));
    await symlink(elsewhere, link);

    assert.deepEqual(await sweepStale(dir, PREFIX), [stale]);
    assert.deepEqual(
      (await readdir(dir)).sort(),
      [mine, other, file, legacy, link].map((p) => p.slice(dir.length + 1)).sort(),
    );
    assert.deepEqual(await readdir(join(elsewhere, 'sub')), ['partial-blob'], 'never through a symlink');
  });

  it('removes a directory without an owner only once nothing in it changed for the age limit', async (t) => {
    const dir = await tempDir(t);
    const legacy = await filled(join(dir, `${PREFIX}OlDnAm`));
    assert.deepEqual(await sweepStale(dir, PREFIX), [], 'fresh: a live writer of an older ocikit may own it');
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(await sweepStale(dir, PREFIX, { unownedAgeMs: 10 }), [legacy]);
    assert.deepEqual(await readdir(dir), []);
  });

  it("leaves another user's directory, even with a dead owner", async (t) => {
    if (process.getuid?.() !== 0) {
      if (process.env.CI === 'true') throw new Error('needs root to chown; CI must allow it');
      return t.skip('needs root to chown');
    }
    const dir = await tempDir(t);
    const theirs = await filled(join(dir, nameOf(await deadOwner())));
    await chown(theirs, 65534, 65534);
    assert.deepEqual(await sweepStale(dir, PREFIX), []);
    assert.ok((await lstat(theirs)).isDirectory());
  });

  it('never enters a mount point inside a stale directory', async (t) => {
    if (process.getuid?.() !== 0) {
      if (process.env.CI === 'true') throw new Error('needs root to mount; CI must allow it');
      return t.skip('needs root to mount');
    }
    const dir = await tempDir(t);
    const stale = await filled(join(dir, nameOf(await deadOwner())));
    const mnt = join(stale, 'mnt');
    await mkdir(mnt);
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt]);
    if (r.status !== 0) {
      if (process.env.CI === 'true') throw new Error('cannot mount a tmpfs here; CI must allow it');
      return t.skip('cannot mount a tmpfs here');
    }
    try {
      await writeFile(join(mnt, 'keep'), 'not ours');
      assert.deepEqual(await sweepStale(dir, PREFIX), []);
      assert.equal(await readFile(join(mnt, 'keep'), 'utf8'), 'not ours');
    } finally {
      // Before the temporary directory is removed (after hooks run later).
      if (spawnSync('umount', [mnt]).status !== 0) spawnSync('umount', ['-l', mnt]);
    }
  });

  it('is harmless on a missing directory', async () => {
    assert.deepEqual(await sweepStale('/nonexistent/ocikit', PREFIX), []);
  });
});
