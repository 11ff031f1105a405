/**
 * ARCHITECTURE.md maps every file: each file of `src/` (named relative to `src/`), `test/`,
 * `bench/` and `scripts/` (named from the repository root) must appear in it as a backticked path,
 * and every backticked path in its file tables must exist, so the map can neither miss a new file
 * nor keep a removed one.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAP = readFileSync(join(ROOT, 'ARCHITECTURE.md'), 'utf8');

function files(dir: string, skip: (rel: string) => boolean = () => false): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const rel = relative(ROOT, p);
      if (skip(rel)) continue;
      if (e.isDirectory()) walk(p);
      else out.push(rel);
    }
  };
  walk(join(ROOT, dir));
  return out.sort();
}

/** The backticked first cell of every table row: `| \`path\` | … |`. */
function mappedPaths(): string[] {
  const out: string[] = [];
  for (const line of MAP.split('\n')) {
    const m = /^\| `([^`]+)`(?:, `([^`]+)`)? \|/.exec(line);
    if (m?.[1]) out.push(m[1]);
    if (m?.[2]) out.push(m[2]);
  }
  return out;
}

describe('ARCHITECTURE.md', () => {
  it('names every source, test, benchmark and script file', () => {
    const named = new Set(mappedPaths());
    const want = [
      ...files('src').map((f) => f.slice('src/'.length)),
      ...files('test', (rel) => rel === join('test', 'fixtures', 'upstream')),
      ...files('bench', (rel) => rel === join('bench', 'work')),
      ...files('scripts'),
    ];
    assert.ok(want.length > 100, `expected the project's files, found ${want.length}`);
    assert.deepEqual(
      want.filter((f) => !named.has(f)),
      [],
    );
  });

  it('names no file that does not exist', () => {
    const missing = mappedPaths().filter((p) => {
      if (p.includes(' ') || p.endsWith('/')) return false;
      return !existsSync(join(ROOT, p)) && !existsSync(join(ROOT, 'src', p));
    });
    assert.deepEqual(missing, []);
  });
});
