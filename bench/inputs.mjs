// Benchmark of `ocikit inputs`: resolving the container inputs of N dir: images, half with manifest lists.
// Whole processes, same run: `ocikit inputs INPUTS.json` against the reference's cost, one
// `skopeo manifest-digest` process per image (what osbuild's parse_containers_input spawns).
// Usage: npm run build && node bench/inputs.mjs [N] [RUNS]
import { execFileSync, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from './gen-inputs.mjs';

const N = Number(process.argv[2] ?? 200);
const RUNS = Number(process.argv[3] ?? 5);
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
