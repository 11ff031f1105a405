// Benchmark of `ocikit inputs`: resolving the container inputs of N dir: images, half with manifest lists.
// Whole processes, same run: `ocikit inputs INPUTS.json` against the reference's cost, one
// `skopeo manifest-digest` process per image (what osbuild's parse_containers_input spawns).
// Then the scale figure: `ocikit inputs` alone over LARGE images (default 10,000, half with lists;
// the reference would need minutes), wall time and peak RSS (GNU time, when installed).
// Targets (issue 13, item 4): 200 images >= 20x the reference; 10,000 in <= 1.5 s and <= 150 MB.
// Usage: npm run build && node bench/inputs.mjs [N] [RUNS] [LARGE]
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from './gen-inputs.mjs';

const N = Number(process.argv[2] ?? 200);
const RUNS = Number(process.argv[3] ?? 5);
const LARGE = Number(process.argv[4] ?? 10_000);
const root = fileURLToPath(new URL('..', import.meta.url));
const ocikit = join(root, 'bin/ocikit');
const work = join(tmpdir(), 'ocikit-bench-inputs');
const { imagesPath, inputs, ids } = await generate(work, N);

function time(fn) {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return { mean, min: s[0], median: s[Math.floor(s.length / 2)] };
};

const ours = [];
const theirs = [];
for (let r = 0; r < RUNS; r++) {
  ours.push(
    time(() => {
      const p = spawnSync(ocikit, ['inputs', inputs], { encoding: 'utf8', maxBuffer: 1 << 26 });
      if (p.status !== 0) throw new Error(`ocikit inputs failed: ${p.stderr}`);
    }),
  );
  theirs.push(
    time(() => {
      for (const id of ids) execFileSync('skopeo', ['manifest-digest', join(imagesPath, id, 'manifest.json')]);
    }),
  );
}
const a = stats(ours);
const b = stats(theirs);
const fmt = (s) => `mean ${s.mean.toFixed(0)} ms, median ${s.median.toFixed(0)} ms, min ${s.min.toFixed(0)} ms`;
console.log(`inputs benchmark: ${N} dir images (${Math.ceil(N / 2)} with lists), ${RUNS} runs each`);
console.log(`  ocikit inputs (one process):          ${fmt(a)}`);
console.log(`  skopeo manifest-digest x ${N} (reference): ${fmt(b)}`);
console.log(`  speed-up (mean): ${(b.mean / a.mean).toFixed(1)}x`);

if (LARGE > 0) {
  const big = await generate(join(tmpdir(), 'ocikit-bench-inputs-large'), LARGE);
  const rssFile = join(tmpdir(), 'ocikit-bench-inputs-rss');
  const withTime = existsSync('/usr/bin/time');
  const walls = [];
  let rss = 0;
  for (let r = -1; r < RUNS; r++) {
    const argv = withTime ? ['/usr/bin/time', '-f', '%M', '-o', rssFile, ocikit] : [ocikit];
    const wall = time(() => {
      const p = spawnSync(argv[0], [...argv.slice(1), 'inputs', big.inputs], { encoding: 'utf8', maxBuffer: 1 << 28 });
      if (p.status !== 0) throw new Error(`ocikit inputs failed: ${p.stderr}`);
    });
    if (r < 0) continue; // warm-up
    walls.push(wall);
    if (withTime) rss = Math.max(rss, Number(readFileSync(rssFile, 'utf8').trim()));
  }
  const l = stats(walls);
  console.log(`scale: ${LARGE} dir images (${Math.ceil(LARGE / 2)} with lists), ${RUNS} runs after a warm-up`);
  console.log(
    `  ocikit inputs: ${fmt(l)} (target <= 1500 ms)${withTime ? `, peak RSS ${(rss / 1024).toFixed(0)} MB (target <= 150 MB)` : ''}`,
  );
}
await rm(work, { recursive: true, force: true });
await rm(join(tmpdir(), 'ocikit-bench-inputs-large'), { recursive: true, force: true });
await rm(join(tmpdir(), 'ocikit-bench-inputs-rss'), { force: true });
