/**
 * The untrusted-file openers of `src/internal/fs.ts`: {@link openRegularFile} and the two readers
 * built on it, against a table of hostile paths (a final symlink, a FIFO, a directory, a file over
 * the limit, a missing file, a symlink out of the root).
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type ErrorCode, OcikitError, isOcikitError } from '../../src/errors.js';
import { openRegularFile, openRegularFileStream, readFileInside } from '../../src/internal/fs.js';
import { tempDir } from '../helpers/tmp.js';

/** A directory holding one of every hostile kind of path, plus a good file. */
async function hostileDir(root: string): Promise<string> {
  const dir = join(root, 'in');
  await mkdir(dir);
  await writeFile(join(dir, 'good'), 'hello');
  await writeFile(join(dir, 'big'), 'x'.repeat(11));
  await symlink('good', join(dir, 'link'));
  await mkdir(join(dir, 'subdir'));
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  await writeFile(join(root, 'outside'), 'secret');
  await symlink('../outside', join(dir, 'escape'));
  return dir;
}

const tooLarge = (size: number) => new OcikitError('MANIFEST_TOO_LARGE', `too large: ${size}`);

async function rejectsWith(p: Promise<unknown>, code: ErrorCode, inMessage: string): Promise<void> {
  await assert.rejects(p, (e) => {
    assert.ok(isOcikitError(e, code), `expected ${code}, got ${String(e)}`);
    assert.ok(e.message.includes(inMessage), `message ${JSON.stringify(e.message)} lacks ${inMessage}`);
    return true;
  });
}

describe('openRegularFile', () => {
  it('opens a regular file and returns its handle', async (t) => {
    const dir = await hostileDir(await tempDir(t));
    const fh = await openRegularFile(join(dir, 'good'), 'test file');
    try {
      assert.equal((await fh.readFile()).toString(), 'hello');
    } finally {
      await fh.close();
    }
  });

  // [name, expected code]; every message names the path (or the label given).
  const hostile: [string, ErrorCode][] = [
    ['link', 'IO'], // O_NOFOLLOW: ELOOP
    ['fifo', 'INVALID_INPUT'], // opened without blocking, refused by fstat
    ['subdir', 'INVALID_INPUT'],
    ['missing', 'NOT_FOUND'],
  ];
  for (const [name, code] of hostile) {
    it(`refuses ${name} as ${code}`, async (t) => {
      const dir = await hostileDir(await tempDir(t));
      await rejectsWith(openRegularFile(join(dir, name), 'test file'), code, join(dir, name));
    });
  }

  it('names the label in messages when one is given', async (t) => {
    const dir = await hostileDir(await tempDir(t));
    await rejectsWith(openRegularFile(join(dir, 'subdir'), 'test file', 'the-label'), 'INVALID_INPUT', 'the-label');
  });
});

describe('openRegularFileStream', () => {
  it('streams a regular file', async (t) => {
    const dir = await hostileDir(await tempDir(t));
    const chunks: Buffer[] = [];
    for await (const c of await openRegularFileStream(join(dir, 'good'), 'blob')) chunks.push(c as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), 'hello');
  });

  for (const [name, code] of [
    ['link', 'IO'],
    ['fifo', 'INVALID_INPUT'],
    ['subdir', 'INVALID_INPUT'],
    ['missing', 'NOT_FOUND'],
  ] as [string, ErrorCode][]) {
    it(`refuses ${name} as ${code}`, async (t) => {
      const dir = await hostileDir(await tempDir(t));
      await rejectsWith(openRegularFileStream(join(dir, name), 'blob'), code, join(dir, name));
    });
  }
});

describe('readFileInside', () => {
  it('reads a file inside the root, and follows a symlink that stays inside', async (t) => {
    const dir = await hostileDir(await tempDir(t));
    assert.equal((await readFileInside(dir, join(dir, 'good'), 'f', 10, tooLarge)).toString(), 'hello');
    assert.equal((await readFileInside(dir, join(dir, 'link'), 'f', 10, tooLarge)).toString(), 'hello');
  });

  it('accepts exactly the limit', async (t) => {
    const dir = await hostileDir(await tempDir(t));
    assert.equal((await readFileInside(dir, join(dir, 'big'), 'f', 11, tooLarge)).length, 11);
  });

  const hostile: [string, ErrorCode, string][] = [
    ['big', 'MANIFEST_TOO_LARGE', 'too large: 11'], // the caller's error
    ['fifo', 'INVALID_INPUT', 'is not a regular file'],
    ['subdir', 'INVALID_INPUT', 'is not a regular file'],
    ['missing', 'NOT_FOUND', 'does not exist'],
    ['escape', 'UNSAFE_PATH', 'outside'],
  ];
  for (const [name, code, text] of hostile) {
    it(`refuses ${name} as ${code}`, async (t) => {
      const dir = await hostileDir(await tempDir(t));
      await rejectsWith(readFileInside(dir, join(dir, name), 'f', 10, tooLarge), code, text);
    });
  }

  it('names the path it was given, not the real path, in messages', async (t) => {
    const root = await tempDir(t);
    const dir = await hostileDir(root);
    await symlink('subdir', join(dir, 'to-subdir'));
    await rejectsWith(
      readFileInside(dir, join(dir, 'to-subdir'), 'f', 10, tooLarge),
      'INVALID_INPUT',
      `f ${join(dir, 'to-subdir')} is not a regular file`,
    );
  });
});
