#!/usr/bin/env node
// Bundles the compiled CLI (dist/src/cli/main.js and everything it imports, the lazily loaded
// commands included) into one CommonJS script, dist/src/cli/main.bundle.cjs, and makes V8's code
// cache for it, main.bundle.cjs.cache; bin/ocikit runs the bundle with that cache
// (bin/bundle-loader.mjs).
//
// Why: every `ocikit` process loaded about 80 ES modules one by one, and Node 20 has no module
// compile cache; resolving and reading them was 60-80 ms of each run (a whole `ocikit fetch` of
// a cached image took 0.25-0.30 s, 0.18-0.22 s bundled; docs/fetch.md, "Speed"). As an ES module
// the bundle was still compiled from source at every start (11-14 ms) and loaded every built-in
// module any command imports; as a script it runs with a code cache, and each command's modules,
// their built-ins included, are initialised only when that command runs (esbuild's lazy
// initialisers). 15 ms less per command (docs/cli.md, "Start-up"). A script has no `import()`:
// the packages ocikit loads on first use are `require`d (src/trust/pgp.ts, src/internal/xattr.ts),
// and the build fails if the bundle still imports anything.
//
// The bundle sits beside main.js, so the paths main.js derives from its own URL (package.json)
// stay right (`import.meta.url` is the bundle's URL). Left outside, loaded from node_modules as
// before: the native xattr addon, and the packages ocikit loads only when it needs them (openpgp
// for signatures, undici for proxies and token POSTs, yaml for registries.d), which would
// otherwise be parsed by every run.
//
// Usage: node scripts/bundle.mjs (run by `npm run build`, after tsc).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
const file = join(root, 'dist/src/cli/main.bundle.cjs');
await build({
  absWorkingDir: root,
  entryPoints: ['dist/src/cli/main.js'],
  outfile: 'dist/src/cli/main.bundle.cjs',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['@napi-rs/xattr', 'openpgp', 'undici', 'yaml'],
  // Strict, as the ES modules it is made of were; `import.meta.url` is the bundle's own URL.
  banner: { js: `"use strict";\nconst __ocikitModuleUrl = require('node:url').pathToFileURL(__filename).href;` },
  define: { 'import.meta.url': '__ocikitModuleUrl' },
  // Whitespace and syntax only: identifiers (function names in a stack) stay as written. Half
  // the size, and so less for V8 to parse (20-30 ms on `ocikit inputs` before the code cache).
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'eof',
  logLevel: 'warning',
});

const code = readFileSync(file, 'utf8');
const dynamicImport = /(?<![\w$.])import\(/.exec(code);
if (dynamicImport) {
  console.error(`bundle: ${file} still has an import() (at ${dynamicImport.index}); a script cannot import`);
  process.exit(1);
}

// The code cache, made in a fresh process after a run of `ocikit --help` (so that what every
// start compiles is in it), with the loader bin/ocikit uses.
const cache = `${file}.cache`;
rmSync(cache, { force: true });
const loader = pathToFileURL(join(root, 'bin/bundle-loader.mjs')).href;
const make = `
  import { writeFileSync } from 'node:fs';
  import { loadBundle } from ${JSON.stringify(loader)};
  const b = loadBundle(${JSON.stringify(file)}, ${JSON.stringify(cache)});
  await b.exports.run(['--help']);
  writeFileSync(${JSON.stringify(cache)}, b.script.createCachedData());`;
const r = spawnSync(process.execPath, ['--input-type=module', '-e', make], { stdio: ['ignore', 'ignore', 'inherit'] });
if (r.status !== 0 || !existsSync(cache)) {
  console.error('bundle: making the code cache failed');
  process.exit(1);
}
