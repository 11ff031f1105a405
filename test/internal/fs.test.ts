/**
 * `src/internal/fs.ts`: lexical containment (`isInside`, `joinInside`) against a table of names
 * that begin with `..` without being `..`, and a property test over arbitrary segment lists; the
 * untrusted-file openers ({@link openRegularFile} and the two readers built on it) against a table
 * of hostile paths (a final symlink, a FIFO, a directory, a file over the limit, a missing file, a
 * symlink out of the root).
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type ErrorCode, OcikitError, isOcikitError } from '../../src/errors.js';
import { isInside, joinInside, openRegularFile, openRegularFileStream, readFileInside } from '../../src/internal/fs.js';
import { tempDir } from '../helpers/tmp.js';

describe('isInside', () => {
  // [child, inside /r?]: only a first component that is exactly ".." leaves the root.
  const table: [string, boolean][] = [
    ['/r', true],
    ['/r/a', true],
    ['/r/..data', true],
    ['/r/..data/out', true],
    ['/r/...', true],
    ['/r/..foo/bar', true],
    ['/r/a/..b', true],
    ['/', false],
    ['/x', false],
    ['/r2', false],
    ['/..data', false],
  ];
  for (const [child, want] of table) {
    it(`${child} is ${want ? '' : 'not '}inside /r`, () => assert.equal(isInside('/r', child), want));
  }
});

describe('joinInside', () => {
  const ok: [string, string][] = [
    ['/..data/out', '/r/..data/out'],
    ['..data', '/r/..data'],
    ['/...', '/r/...'],
    ['..foo/bar', '/r/..foo/bar'],
    ['a/..b', '/r/a/..b'],
    ['./a//b/.', '/r/a/b'],
    ['/', '/r'],
  ];
  for (const [rel, want] of ok) it(`joins ${rel} as ${want}`, () => assert.equal(joinInside('/r', rel, 'p'), want));
  for (const rel of ['..', '/..', 'a/../b', 'a/..', '../..data', 'a\0b']) {
    it(`refuses ${JSON.stringify(rel)} as UNSAFE_PATH`, () =>
      assert.throws(
        () => joinInside('/r', rel, 'p'),
        (e) => isOcikitError(e, 'UNSAFE_PATH'),
      ));
  }

  it('returns a path inside the root, or throws UNSAFE_PATH, for any segment list (property)', () => {
    const name = fc.string({ minLength: 1, maxLength: 6 }).filter((s) => !s.includes('/'));
    const segment = fc.oneof(fc.constantFrom('..', '.', '...', '..x', '', '..data', 'a\0b'), name);
    const root = '/base/..r';
    fc.assert(
      fc.property(fc.boolean(), fc.array(segment, { maxLength: 8 }), (lead, segs) => {
        const rel = (lead ? '/' : '') + segs.join('/');
        // The model: refused exactly when a segment is ".." or holds a NUL byte; else the names
        // that are not "" or "." joined under the root.
        const refused = segs.some((s) => s === '..' || s.includes('\0'));
        const names = segs.filter((s) => s !== '' && s !== '.');
        let got: string;
        try {
          got = joinInside(root, rel, 'p');
        } catch (err) {
          assert.ok(isOcikitError(err, 'UNSAFE_PATH'), String(err));
          assert.ok(refused, `${JSON.stringify(rel)} was refused: ${(err as Error).message}`);
          return;
        }
        assert.ok(!refused, `${JSON.stringify(rel)} was accepted as ${got}`);
        assert.equal(got, names.length === 0 ? root : `${root}/${names.join('/')}`);
        assert.ok(got === root || got.startsWith(`${root}/`));
        assert.ok(isInside(root, got));
      }),
      { seed: 42, numRuns: 500 },
    );
  });
});

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

  it('reads through a root that is itself a symlink, and files below subdirectories', async (t) => {
    const root = await tempDir(t);
    const dir = await hostileDir(root);
    await symlink('in', join(root, 'via'));
    await writeFile(join(dir, 'subdir', 'deep'), 'below');
    const via = join(root, 'via');
    assert.equal((await readFileInside(via, join(via, 'good'), 'f', 10, tooLarge)).toString(), 'hello');
    assert.equal((await readFileInside(via, join(via, 'link'), 'f', 10, tooLarge)).toString(), 'hello');
    assert.equal((await readFileInside(via, join(via, 'subdir', 'deep'), 'f', 10, tooLarge)).toString(), 'below');
    await rejectsWith(readFileInside(via, join(via, 'escape'), 'f', 10, tooLarge), 'UNSAFE_PATH', 'outside');
  });

  for (const name of ['..', '.', '../outside', 'subdir/../../outside']) {
    it(`refuses ${JSON.stringify(name)}, which leaves the root or is the root itself`, async (t) => {
      const dir = await hostileDir(await tempDir(t));
      const code: ErrorCode = name === '.' ? 'INVALID_INPUT' : 'UNSAFE_PATH';
      await rejectsWith(readFileInside(dir, `${dir}/${name}`, 'f', 10, tooLarge), code, `${dir}/${name}`);
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
