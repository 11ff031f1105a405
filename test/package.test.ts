/**
 * What `npm pack` would publish: the file list of `npm pack --dry-run --json` in the repository
 * root, checked against the `files` promise of package.json — the CLI and its docs, the compiled
 * library with its type declarations, the TypeScript sources the source maps point at, and nothing
 * of the test suite, its fixtures, the benchmarks or the development scripts.
 *
 * `--ignore-scripts` keeps npm from running `prepack` (a clean build) under the running tests; the
 * check is of the build `npm test` made. A dry run writes no tarball, so nothing is left behind.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface PackedFile {
  readonly path: string;
  readonly mode: number;
}

/** Files a package may hold at its root, besides the folders in {@link FOLDERS}. */
const ROOT_FILES = ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'ARCHITECTURE.md'];
/** Folders a package may hold. */
const FOLDERS = ['bin/', 'dist/src/', 'src/', 'docs/'];

/** Every file under `dir` (relative to the repository root, `/`-separated). */
function walk(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(posix.join(dir, e.name)) : [posix.join(dir, e.name)],
  );
}

describe('npm pack', () => {
  let files: readonly PackedFile[] = [];
  let paths = new Set<string>();

  before(() => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const [pack] = JSON.parse(out) as [{ files: PackedFile[] }];
    files = pack.files;
    paths = new Set(files.map((f) => f.path));
  });

  it('ships the CLI, executable, and its documentation', () => {
    for (const p of ['bin/ocikit', 'dist/src/cli/main.js', 'README.md', 'LICENSE', 'CHANGELOG.md', 'ARCHITECTURE.md'])
      assert.ok(paths.has(p), p);
    const bin = files.find((f) => f.path === 'bin/ocikit')!;
    assert.ok(bin.mode & 0o111, `bin/ocikit has mode ${bin.mode.toString(8)}`);
    for (const doc of walk('docs')) assert.ok(paths.has(doc), doc);
    assert.ok(paths.has('docs/cli.md') && paths.has('docs/api.md'));
  });

  it('ships the library entry point with its type declarations, for every compiled module', () => {
    assert.ok(paths.has('dist/src/index.js') && paths.has('dist/src/index.d.ts'));
    for (const p of paths) {
      if (p.startsWith('dist/src/') && p.endsWith('.js')) assert.ok(paths.has(p.replace(/\.js$/, '.d.ts')), p);
    }
    for (const src of walk('src')) {
      assert.ok(paths.has(`dist/${src.replace(/\.ts$/, '.js')}`), `${src} is compiled and shipped`);
    }
  });

  it('ships nothing but bin/, dist/src/, src/, docs/ and the root documents', () => {
    const stray = [...paths].filter((p) => !ROOT_FILES.includes(p) && !FOLDERS.some((f) => p.startsWith(f)));
    assert.deepEqual(stray, []);
    for (const p of paths) {
      assert.ok(!/(^|\/)(test|fixtures)\//.test(p), `${p}: no tests or fixtures`);
      assert.ok(!/\.test\.(js|d\.ts|ts)(\.map)?$/.test(p), `${p}: no compiled tests`);
    }
  });

  it('ships TypeScript sources only under src/, the ones the source maps name', () => {
    for (const p of paths) {
      if (p.endsWith('.ts') && !p.endsWith('.d.ts')) assert.ok(p.startsWith('src/'), p);
    }
    for (const src of walk('src')) assert.ok(paths.has(src), `${src} is shipped`);
  });

  it('ships source maps only when every source they name is shipped too', () => {
    const maps = [...paths].filter((p) => p.endsWith('.map'));
    for (const map of maps) {
      const { sources, sourceRoot } = JSON.parse(readFileSync(join(ROOT, map), 'utf8')) as {
        sources: string[];
        sourceRoot?: string;
      };
      assert.ok(sources.length > 0, map);
      for (const s of sources) {
        const resolved = posix.normalize(posix.join(posix.dirname(map), sourceRoot ?? '', s));
        assert.ok(paths.has(resolved), `${map} names ${s} (${resolved}), which is not shipped`);
      }
    }
    for (const p of paths) {
      if (!p.endsWith('.js')) continue;
      const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(readFileSync(join(ROOT, p), 'utf8'))?.[1];
      if (url !== undefined) assert.ok(paths.has(posix.join(posix.dirname(p), url)), `${p} points at ${url}`);
    }
  });
});
