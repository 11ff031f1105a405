/**
 * Tests for scripts/bundle.mjs, bin/bundle-loader.mjs and bin/ocikit's choice of entry: the build
 * makes the one-script bundle of the CLI and its code cache, which this Node accepts; bin/ocikit
 * runs the bundle with that cache (and loads no compiled CLI module one by one); and the bundle
 * answers exactly as the compiled modules do, with its cache, without one and with a broken one,
 * for success, usage errors and refusals.
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
const LOADER = pathToFileURL(join(ROOT, 'bin', 'bundle-loader.mjs')).href;
const MAIN = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const BUNDLE = join(ROOT, 'dist', 'src', 'cli', 'main.bundle.cjs');
const CACHE = `${BUNDLE}.cache`;

const node = (code: string, args: string[], cwd: string) => {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code, '--', ...args], { cwd, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};

/** Runs `run(args)` of the compiled ES module `main.js` in a fresh Node process. */
const runModules = (args: string[], cwd: string) =>
  node(
    `const { run } = await import(${JSON.stringify(pathToFileURL(MAIN).href)}); await run(process.argv.slice(1));`,
    args,
    cwd,
  );

/** Runs `run(args)` of the bundle through the loader, with the code cache `cache`, in a fresh process. */
const runBundle = (args: string[], cwd: string, cache: string) =>
  node(
    `const { loadBundle } = await import(${JSON.stringify(LOADER)});
     await loadBundle(${JSON.stringify(BUNDLE)}, ${JSON.stringify(cache)}).exports.run(process.argv.slice(1));`,
    args,
    cwd,
  );

describe('the CLI bundle', () => {
  it('is made by the build, beside main.js and not older than it, with a code cache this Node accepts', () => {
    assert.ok(existsSync(BUNDLE), `${BUNDLE} missing: npm run build makes it (scripts/bundle.mjs)`);
    assert.ok(statSync(BUNDLE).mtimeMs >= statSync(MAIN).mtimeMs);
    assert.ok(existsSync(CACHE), `${CACHE} missing`);
    const r = node(
      `const { loadBundle } = await import(${JSON.stringify(LOADER)});
       console.log(loadBundle(${JSON.stringify(BUNDLE)}, ${JSON.stringify(CACHE)}).cacheUsed);`,
      [],
      ROOT,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'true', 'V8 took the code cache');
  });

  it('is what bin/ocikit runs, with its cache: no compiled CLI module is loaded one by one', async (t) => {
    const dir = await tempDir(t);
    // A module hook that reports every ES module loaded from dist/src/, and a preload that
    // reports every file read from dist/src/ with readFileSync (how the loader reads the bundle).
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
    const reads = join(dir, 'reads.cjs');
    await writeFile(
      reads,
      "const fs = require('node:fs'); const real = fs.readFileSync; fs.readFileSync = function (p, ...rest) { if (String(p).includes('/dist/src/')) process.stderr.write(`READ ${p}\\n`); return real.call(this, p, ...rest); };\n",
    );
    const r = spawnSync(
      process.execPath,
      ['--require', reads, '--import', pathToFileURL(register).href, BIN, 'fetch', '--help'],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    const lines = (tag: string) =>
      r.stderr
        .split('\n')
        .filter((l) => l.startsWith(tag))
        .map((l) => l.slice(l.indexOf('/dist/')));
    assert.deepEqual(lines('LOADED '), [], 'no ES module from dist/src');
    assert.deepEqual(lines('READ '), ['/dist/src/cli/main.bundle.cjs', '/dist/src/cli/main.bundle.cjs.cache']);
  });

  it('answers as the compiled modules do (help, version, usage errors, refused input), with or without a good cache', async (t) => {
    const dir = await tempDir(t);
    const bad = join(dir, 'sources.json');
    await writeFile(bad, '{"org.osbuild.skopeo": {"items": {"sha256:nothex": {}}}}');
    const broken = join(dir, 'broken.cache');
    await writeFile(broken, Buffer.alloc(4096, 7));
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
      const a = runModules(args, dir);
      assert.notEqual(a.status, null);
      for (const cache of [CACHE, join(dir, 'no-cache'), broken]) {
        assert.deepEqual(runBundle(args, dir, cache), a, `ocikit ${args.join(' ')} (cache ${cache})`);
      }
    }
    assert.ok(!existsSync(join(dir, 'cache')), 'the refused fetch created no cache');
  });
});
