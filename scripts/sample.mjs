#!/usr/bin/env node
/**
 * The main job, end to end: `npm run sample`.
 *
 *   node scripts/sample.mjs [--dest containers-storage|oci] [--workdir DIR]
 *
 * 1. builds ocikit (`npm run build`) when dist/ is missing or older than a source file;
 * 2. generates the bundled sample (scripts/make-sample.mjs: dir and oci-archive images, one with
 *    a manifest list, one of a foreign architecture with its list; no network);
 * 3. runs `bin/ocikit install` on it into a fresh tree under a temporary work directory: into
 *    containers-storage (vfs driver) when skopeo is installed, into an oci layout otherwise
 *    (`--dest` chooses);
 * 4. prints what was installed (ocikit's summary), where the tree is, and how to look at it.
 *
 * The work directory is kept so the result can be inspected; its path is printed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const say = (s = '') => process.stdout.write(`${s}\n`);
const fail = (s, status = 1) => {
  process.stderr.write(`sample: ${s}\n`);
  process.exit(status);
};

function newestMtime(dir) {
  let newest = 0;
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, ent.name);
    newest = Math.max(newest, ent.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** Builds when dist/ is missing or stale; a failed build is fatal only when nothing usable exists. */
function ensureBuilt() {
  const entry = join(ROOT, 'dist', 'src', 'cli', 'main.js');
  const sources = Math.max(newestMtime(join(ROOT, 'src')), statSync(join(ROOT, 'tsconfig.json')).mtimeMs);
  if (existsSync(entry) && statSync(entry).mtimeMs >= sources) return;
  say(existsSync(entry) ? '» sources changed since the last build: npm run build' : '» not built yet: npm run build');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(npm, ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) {
    if (existsSync(entry))
      process.stderr.write('sample: warning: the build reported errors; using the output it emitted\n');
    else fail(`npm run build failed${r.error ? `: ${r.error.message}` : ''}`);
  }
}

function have(tool) {
  const r = spawnSync(tool, ['--version'], { stdio: 'ignore' });
  return r.status === 0;
}

let args;
try {
  args = parseArgs({
    options: { dest: { type: 'string' }, workdir: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  }).values;
} catch (err) {
  fail(err.message, 2);
}
if (args.help) {
  say('usage: node scripts/sample.mjs [--dest containers-storage|oci] [--workdir DIR]');
  process.exit(0);
}
if (args.dest !== undefined && args.dest !== 'containers-storage' && args.dest !== 'oci')
  fail(`--dest must be containers-storage or oci, not ${args.dest}`, 2);

ensureBuilt();

const skopeo = have(process.env.OCIKIT_SKOPEO ?? 'skopeo');
const dest = args.dest ?? (skopeo ? 'containers-storage' : 'oci');
if (dest === 'containers-storage' && !skopeo)
  fail('the containers-storage destination needs skopeo (sudo apt-get install -y skopeo)');

const work = args.workdir ? resolve(args.workdir) : mkdtempSync(join(tmpdir(), 'ocikit-sample-'));
const sampleDir = join(work, 'sample');
const tree = join(work, 'tree');
const runroot = join(work, 'run');

const { makeSample } = await import('./make-sample.mjs');
say(`» generating the sample images in ${sampleDir}`);
let sample;
try {
  sample = await makeSample(sampleDir);
} catch (err) {
  fail(`generating the sample failed: ${err.message}`);
}
for (const i of sample.images) {
  const p = `${i.platform.os}/${i.platform.architecture}${i.platform.variant ? `/${i.platform.variant}` : ''}`;
  say(`   ${i.name.padEnd(40)} ${i.format.padEnd(12)} ${p.padEnd(16)}${i.listDigest ? 'with a manifest list' : ''}`);
}
spawnSync('mkdir', ['-p', tree]);

const options = join(sampleDir, dest === 'oci' ? 'options-oci.json' : 'options-containers-storage.json');
const argv = [
  join(ROOT, 'bin', 'ocikit'),
  'install',
  '--inputs',
  join(sampleDir, 'inputs.json'),
  '--options',
  options,
  '--tree',
  tree,
  '--runroot',
  runroot,
];
say(`» ocikit install (${dest === 'oci' ? 'oci layout' : 'containers-storage, vfs driver'}) into ${tree}`);
say();
const r = spawnSync(process.execPath, argv, { stdio: 'inherit' });
if (r.status !== 0) {
  fail(
    r.signal
      ? `ocikit install was killed by ${r.signal}`
      : `ocikit install failed (exit status ${r.status}); the work directory is ${work}`,
    r.status ?? 1,
  );
}

say();
say(`The tree is ${tree}`);
if (dest === 'containers-storage') {
  const store = join(tree, 'var/lib/containers/storage');
  say('Look at it with:');
  say(`  podman --root ${store} --runroot ${runroot} --storage-driver vfs images --digests`);
} else {
  say('Look at it with:');
  say(`  skopeo inspect oci:${join(tree, 'usr/share/containers/oci')}:${sample.images[0].name}`);
}
say(`Remove it with: rm -rf ${work}`);
