#!/usr/bin/env node
// Bundles the compiled CLI (dist/src/cli/main.js and everything it imports, the lazily loaded
// commands included) into one ES module, dist/src/cli/main.bundle.mjs, which bin/ocikit runs.
//
// Why: every `ocikit` process loaded about 80 ES modules one by one, and Node 20 has no module
// compile cache; resolving and reading them was 60-80 ms of each run (a whole `ocikit fetch` of
// a cached image took 0.25-0.30 s, 0.18-0.22 s bundled; docs/fetch.md, "Speed"). The bundle
// sits beside main.js, so the paths main.js derives from its own URL (package.json) stay right.
// Left outside, loaded from node_modules as before: the native xattr addon, and the packages
// ocikit loads only when it needs them (openpgp for signatures, undici for proxies and token
// POSTs, yaml for registries.d), which would otherwise be parsed by every run.
//
// Usage: node scripts/bundle.mjs (run by `npm run build`, after tsc).
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
await build({
  absWorkingDir: root,
  entryPoints: ['dist/src/cli/main.js'],
  outfile: 'dist/src/cli/main.bundle.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['@napi-rs/xattr', 'openpgp', 'undici', 'yaml'],
  // Packages in CommonJS (tar-stream) call require(): give the bundle one.
  banner: {
    js: "import { createRequire as __ocikitRequire } from 'node:module';\nconst require = __ocikitRequire(import.meta.url);",
  },
  // Whitespace and syntax only: identifiers (function names in a stack) stay as written. Half
  // the size, and so less for V8 to parse at every start (20-30 ms on `ocikit inputs`).
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'eof',
  logLevel: 'warning',
});
