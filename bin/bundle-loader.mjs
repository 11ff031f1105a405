// Runs the CLI bundle that scripts/bundle.mjs makes (dist/src/cli/main.bundle.cjs, one CommonJS
// script) with V8's code cache for it (main.bundle.cjs.cache, made by the build): compiling the
// 500 kB bundle from source was 11-14 ms of every `ocikit` command, and Node 20 keeps no compile
// cache of its own (`module.enableCompileCache` came with Node 22). The script is wrapped and run
// as Node wraps a CommonJS module (node:vm `Script`, `cachedData`, `runInThisContext`); a cache
// that this Node rejects (another V8) only costs the compile. Used by bin/ocikit, and by the build
// to make the cache.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import vm from 'node:vm';

/**
 * Compiles and runs the bundle `file` (with the code cache `cacheFile` when it exists) and returns
 * its exports, the compiled script (to make a cache from) and whether the cache was used.
 */
export function loadBundle(file, cacheFile) {
  const source = readFileSync(file, 'utf8');
  let cachedData;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
  const script = new vm.Script(wrapped, { filename: file, cachedData });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file));
  return { exports: module.exports, script, cacheUsed: cachedData !== undefined && !script.cachedDataRejected };
}
