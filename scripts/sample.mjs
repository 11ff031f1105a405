#!/usr/bin/env node
/**
 * The main job, end to end: `npm run sample`.
 *
 *   node scripts/sample.mjs [--dest containers-storage|oci] [--workdir DIR] [--install]
 *
 * 1. builds ocikit (`npm run build`) when dist/ is missing or older than a source file;
 * 2. generates the bundled sample (scripts/make-sample.mjs: small images, one with a manifest
 *    list, one of a foreign architecture with its list; no network);
 * 3. starts a docker-registry on loopback (127.0.0.1, a free port), pushes the sample's images
 *    and lists to it with skopeo, and runs ONE `bin/ocikit embed` that resolves the three names
 *    (the foreign one for its own architecture), fetches them into a verified cache and installs
 *    them into a fresh tree: into containers-storage (vfs driver), or an oci layout with
 *    `--dest oci`; the registry is stopped afterwards, whatever happened;
 * 4. prints what was embedded (ocikit's summary), where the tree is, and how to look at it.
 *
 * Without docker-registry (or with `--install`) step 3 runs `bin/ocikit install` on the sample's
 * osbuild-style inputs instead (the stage's job, no registry).
 *
 * The work directory is kept so the result can be inspected; its path is printed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
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
  // Under `node --test` (test/integration/sample.test.ts) a rebuild would delete dist/ under the
  // tests still running: use the build the test run made.
  if (existsSync(entry) && process.env.NODE_TEST_CONTEXT !== undefined) {
    say('» sources changed since the last build; under the test runner, the existing build is used');
    return;
  }
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
    options: {
      dest: { type: 'string' },
      workdir: { type: 'string' },
      install: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  }).values;
} catch (err) {
  fail(err.message, 2);
}
if (args.help) {
  say('usage: node scripts/sample.mjs [--dest containers-storage|oci] [--workdir DIR] [--install]');
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

const { makeSample, SAMPLE_NAMES } = await import('./make-sample.mjs');
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

const registry = skopeo && have('docker-registry') && !args.install;
if (!registry && !args.install)
  say('» docker-registry is not installed: running ocikit install on the sample instead of embed');
const ocikit = (argv, what) => {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'ocikit'), ...argv], { stdio: 'inherit' });
  if (r.status !== 0)
    fail(
      r.signal
        ? `ocikit ${what} was killed by ${r.signal}`
        : `ocikit ${what} failed (exit status ${r.status}); the work directory is ${work}`,
      r.status ?? 1,
    );
};
const where = dest === 'oci' ? 'oci layout' : 'containers-storage, vfs driver';
if (registry) {
  const { startRegistry, pushDir } = await import(join(ROOT, 'dist', 'test', 'helpers', 'registry.js'));
  const reg = await startRegistry();
  try {
    say(`» docker-registry on ${reg.host}: pushing the sample with skopeo`);
    for (const name of ['hello', 'multi', 'foreign'])
      await pushDir(join(sampleDir, 'push', name), reg.host, `ocikit-sample/${name}:latest`, {
        multiArch: name !== 'hello',
      });
    const foreign = sample.images.find((i) => i.name === SAMPLE_NAMES.foreign).platform;
    const entries = join(work, 'images.json');
    writeFileSync(
      entries,
      `${JSON.stringify(
        {
          images: ['hello', 'multi', 'foreign'].map((name) => ({
            source: `${reg.host}/ocikit-sample/${name}`,
            tag: 'latest',
            name: SAMPLE_NAMES[name],
            index: true,
            ...(name === 'foreign' ? { arch: foreign.architecture, variant: foreign.variant } : {}),
          })),
        },
        null,
        2,
      )}\n`,
    );
    const argv = ['embed', '--tree', tree, '--from', entries, '--tls-verify=false', '--cache', join(work, 'cache')];
    argv.push(
      ...(dest === 'oci'
        ? ['--dest', 'oci', '--dest-path', '/usr/share/containers/oci']
        : ['--storage-driver', 'vfs', '--runroot', runroot]),
    );
    say(`» ocikit ${argv.join(' ')}`);
    say(`  (${where}; the foreign image for ${foreign.architecture})`);
    say();
    ocikit(argv, 'embed');
  } finally {
    await reg.stop();
  }
} else {
  const options = join(sampleDir, dest === 'oci' ? 'options-oci.json' : 'options-containers-storage.json');
  const argv = ['install', '--inputs', join(sampleDir, 'inputs.json'), '--options', options, '--tree', tree];
  argv.push('--runroot', runroot);
  say(`» ocikit install (${where}) into ${tree}`);
  say();
  ocikit(argv, 'install');
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
