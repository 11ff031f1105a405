#!/usr/bin/env node
// Native install benchmark: install a generated 300 MB image (3 incompressible gzip layers) from `dir:`
// into an `oci` destination, as whole processes in the same run:
//   - ocikit: `bin/ocikit install --inputs … --options … --tree …` when that command works
//     (`bin/ocikit install --help` exits 0), else bench/install-native-driver.mjs (same library call);
//   - `skopeo copy dir:… oci:…:latest`;
//   - the hashing floor: `openssl dgst -sha256` over the same blobs;
//   - `ocikit install --link-inputs` (hard links from the input, every blob still hashed).
// On a file system with reflinks (XFS, Btrfs: --work on one), the plain install clones instead
// of copying, and the figure shows it.
// Each command: 1 warm-up + RUNS timed runs (default 7, interleaved across the commands), page cache warm, a fresh destination per
// run, `sync` before each run (not timed) so no run pays for an earlier run's writeback.
// Wall time and peak RSS come from /usr/bin/time (package `time`). Run again at 1/3 of the size to
// show that memory does not grow with the image.
// Usage: node bench/install-native.mjs [--runs N] [--work DIR] [--sizes 100,33]   (MiB per layer)
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');
const args = process.argv.slice(2);
const opt = (n, d) => {
  const i = args.indexOf(n);
  return i >= 0 ? args[i + 1] : d;
};
const RUNS = Number(opt('--runs', '7'));
const WORK = resolve(opt('--work', '/var/tmp/ocikit-bench'));
const SIZES = opt('--sizes', '100,33').split(',').map(Number);

const run = (argv, o = {}) => spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', maxBuffer: 1 << 26, ...o });
if (!existsSync(join(repo, 'dist/src/install/to-layout.js'))) {
  console.error('build first: npx tsc -p .');
  process.exit(1);
}
for (const tool of ['/usr/bin/time', 'skopeo', 'openssl']) {
  if (run(['sh', '-c', `command -v ${tool}`]).status !== 0) {
    console.error(`${tool} is needed (apt-get install time skopeo openssl)`);
    process.exit(1);
  }
}
const useCli = run([join(repo, 'bin/ocikit'), 'install', '--help']).status === 0;

/** The ocikit command for one install of `src` (a dir: image with image ID `id`) into `dest`. */
async function ocikitArgv(src, id, destDir) {
  if (!useCli) return ['node', join(here, 'install-native-driver.mjs'), src, 'oci', join(destDir, 'tree', 'out')];
  // osbuild stage shape: inputs.images.path/<key> is the image, key = image ID for dir images.
  const inputsDir = join(destDir, 'inputs');
  await mkdir(inputsDir, { recursive: true });
  if (!existsSync(join(inputsDir, id))) await symlink(src, join(inputsDir, id));
  const inputs = {
    images: { path: inputsDir, data: { archives: { [id]: { format: 'dir', name: 'localhost/big:latest' } } } },
  };
  await writeFile(join(destDir, 'inputs.json'), JSON.stringify(inputs));
  await writeFile(join(destDir, 'options.json'), JSON.stringify({ destination: { type: 'oci', path: '/out' } }));
  return [
    join(repo, 'bin/ocikit'),
    'install',
    '--inputs',
    join(destDir, 'inputs.json'),
    '--options',
    join(destDir, 'options.json'),
    '--tree',
    join(destDir, 'tree'),
  ];
}

function timed(argv, prepare) {
  prepare();
  run(['sync']);
  // Wall time by the clock around the process (GNU time's %e has 10 ms steps), RSS from GNU time.
  const t0 = process.hrtime.bigint();
  const r = run(['/usr/bin/time', '-f', '@@ %e %M', ...argv]);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  const m = /@@ ([\d.]+) (\d+)\s*$/.exec(r.stderr);
  if (!m) throw new Error(`no /usr/bin/time output: ${r.stderr}`);
  return { wall, rssMiB: Number(m[2]) / 1024 };
}

/** Runs the commands interleaved (one run of each per round) so they share the machine's state. */
function interleaved(cmds) {
  for (const c of cmds) timed(c.argv, c.prepare); // warm-up
  const xs = cmds.map(() => []);
  for (let i = 0; i < RUNS; i++) for (const [j, c] of cmds.entries()) xs[j].push(timed(c.argv, c.prepare));
  return cmds.map((c, j) => {
    const walls = xs[j].map((x) => x.wall).sort((a, b) => a - b);
    return {
      label: c.label,
      median: walls[Math.floor(walls.length / 2)],
      min: walls[0],
      max: walls[walls.length - 1],
      rss: Math.max(...xs[j].map((x) => x.rssMiB)),
    };
  });
}

const results = [];
for (const mib of SIZES) {
  const img = join(WORK, `img-${mib}`);
  let meta;
  const metaFile = `${img}.json`;
  if (existsSync(metaFile) && existsSync(join(img, 'manifest.json')))
    meta = JSON.parse(await readFile(metaFile, 'utf8'));
  else {
    await mkdir(WORK, { recursive: true });
    const g = run(['node', join(here, 'gen-big-image.mjs'), img, '--size-mb', String(mib), '--layers', '3']);
    if (g.status !== 0) throw new Error(g.stderr);
    meta = JSON.parse(g.stdout);
    await writeFile(metaFile, g.stdout);
  }
  const blobs = (await readdir(img)).filter((f) => /^[0-9a-f]{64}$/.test(f)).map((f) => join(img, f));
  const out = join(WORK, `out-${mib}`);
  const freshTree = () => {
    spawnSync('rm', ['-rf', join(out, 'tree')]);
    spawnSync('mkdir', ['-p', join(out, 'tree')]);
  };
  const freshSkopeo = () => spawnSync('rm', ['-rf', join(out, 'skopeo')]);
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const ocikit = await ocikitArgv(img, meta.configDigest, out);
  const rows = interleaved([
    { label: useCli ? 'ocikit install (CLI)' : 'ocikit (native install driver)', argv: ocikit, prepare: freshTree },
    {
      label: 'skopeo copy dir: -> oci:',
      argv: ['skopeo', 'copy', '-q', `dir:${img}`, `oci:${join(out, 'skopeo')}:latest`],
      prepare: freshSkopeo,
    },
    { label: 'openssl dgst -sha256 (floor)', argv: ['openssl', 'dgst', '-sha256', ...blobs], prepare: () => {} },
    // The opt-in hard links (the input and the tree share a file system here): hashing only.
    ...(useCli
      ? [{ label: 'ocikit install --link-inputs', argv: [...ocikit, '--link-inputs'], prepare: freshTree }]
      : []),
  ]);
  // Check the two outputs hold the same blobs (ocikit keeps the OCI image's bytes exactly).
  const same = run(['diff', '-r', join(out, 'skopeo', 'blobs'), join(out, 'tree', 'out', 'blobs')]).status === 0;
  results.push({ mib, bytes: meta.bytes, rows, same });
  freshTree();
  freshSkopeo();
}

const f = (x) => x.toFixed(3);
console.log(
  `ocikit via ${useCli ? 'bin/ocikit install' : 'bench/install-native-driver.mjs'}; ${RUNS} runs after 1 warm-up; median [min-max] wall s, peak RSS MiB`,
);
for (const r of results) {
  const [o, s, h, l] = r.rows;
  console.log(
    `\n${(r.bytes / 1e6).toFixed(0)} MB image (3 x ${r.mib} MiB layers)${r.same ? '' : '  (WARNING: outputs differ)'}`,
  );
  for (const x of r.rows)
    console.log(`  ${x.label.padEnd(34)} ${f(x.median)} [${f(x.min)}-${f(x.max)}]  rss ${x.rss.toFixed(0)} MiB`);
  console.log(
    `  skopeo / ocikit = ${(s.median / o.median).toFixed(2)}x   ocikit / floor = ${(o.median / h.median).toFixed(2)}x` +
      (l ? `   --link-inputs / floor = ${(l.median / h.median).toFixed(2)}x` : ''),
  );
}
