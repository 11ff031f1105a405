/**
 * Tests for scripts/bundle.mjs and bin/ocikit's choice of entry: the build makes the one-file
 * bundle of the CLI, bin/ocikit runs it (and loads no compiled CLI module one by one), and the
 * bundle answers exactly as the compiled modules do, for success, usage errors and refusals.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { tempDir } from '../helpers/tmp.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'ocikit');
const MAIN = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const BUNDLE = join(ROOT, 'dist', 'src', 'cli', 'main.bundle.mjs');

/** Runs `run(args)` of the ES module `entry` in a fresh Node process. */
function runEntry(entry: string, args: string[], cwd: string) {
  const code = `const { run } = await import(${JSON.stringify(pathToFileURL(entry).href)}); await run(${JSON.stringify(args)});`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the CLI bundle', () => {
  it('is made by the build, beside main.js and not older than it', () => {
    assert.ok(existsSync(BUNDLE), `${BUNDLE} missing: npm run build makes it (scripts/bundle.mjs)`);
    assert.ok(statSync(BUNDLE).mtimeMs >= statSync(MAIN).mtimeMs);
  });

  it('is what bin/ocikit runs: no compiled CLI module is loaded one by one', async (t) => {
    const dir = await tempDir(t);
    // A module hook that reports every URL loaded from dist/src/cli/.
    const hooks = join(dir, 'hooks.mjs');
    await writeFile(
      hooks,
      "export async function load(url, context, next) { if (url.includes('/dist/src/')) process.stderr.write(`LOADED ${url}\\n`); return next(url, context); }\n",
    );
    const register = join(dir, 'register.mjs');
    await writeFile(
      register,
      `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
    );
    const r = spawnSync(process.execPath, ['--import', pathToFileURL(register).href, BIN, 'fetch', '--help'], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const loaded = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('LOADED '))
      .map((l) => l.slice('LOADED '.length));
    assert.deepEqual(
      loaded.map((u) => u.slice(u.indexOf('/dist/'))),
      ['/dist/src/cli/main.bundle.mjs'],
    );
  });

  it('answers as the compiled modules do: help, version, usage errors, refused input', async (t) => {
    const dir = await tempDir(t);
    const bad = join(dir, 'sources.json');
    await writeFile(bad, '{"org.osbuild.skopeo": {"items": {"sha256:nothex": {}}}}');
    const cases = [
      ['--version'],
      ['--help'],
      ['fetch', '--help'],
      ['fetch'],
      ['no-such-command'],
      ['fetch', '--sources', bad, '--cache', join(dir, 'cache')],
      ['digest', join(dir, 'missing-manifest.json')],
    ];
    for (const args of cases) {
      const a = runEntry(MAIN, args, dir);
      const b = runEntry(BUNDLE, args, dir);
      assert.deepEqual(b, a, `ocikit ${args.join(' ')}`);
      assert.notEqual(a.status, null);
    }
    assert.ok(!existsSync(join(dir, 'cache')), 'the refused fetch created no cache');
  });
});
