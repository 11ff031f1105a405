// Benchmark of reading an oci-archive with very many entries: N empty files `x/<n>` before a valid
// one-image layout. Whole processes, same archive: ocikit's `withOciArchive` (extract, open the
// image, remove the extraction) against `skopeo inspect oci-archive:` (which extracts the archive
// whole, as every c/image oci-archive source does). Reports wall time and peak RSS of each.
// Usage: npm run build && node bench/oci-archive-entries.mjs [N] [RUNS]
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const N = Number(process.argv[2] ?? 1_000_000);
const RUNS = Number(process.argv[3] ?? 1);
const root = fileURLToPath(new URL('..', import.meta.url));
const { writeManyEntriesArchive } = await import(join(root, 'dist/test/helpers/many-entries.js'));
const reader = join(root, 'dist/src/transports/oci-archive/read.js');
const work = join(tmpdir(), 'ocikit-bench-oci-archive-entries');
await rm(work, { recursive: true, force: true });
await mkdir(join(work, 'tmp'), { recursive: true });
const archive = await writeManyEntriesArchive(join(work, 'a.tar'), N);

const DRIVER = `
const { withOciArchive } = await import(process.argv[1]);
const d = await withOciArchive(process.argv[2], async (r) => r.manifest.digest, { tmpdir: process.argv[3] });
console.log(JSON.stringify({ digest: d, maxRssKiB: process.resourceUsage().maxRSS }));
`;
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

/** Runs argv, returns wall ms and peak RSS in KiB (from /usr/bin/time -v, or the driver's report). */
function run(argv) {
  const full = TIME ? [TIME, '-v', ...argv] : argv;
  const t0 = process.hrtime.bigint();
  const p = spawnSync(full[0], full.slice(1), {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
    env: { ...process.env, TMPDIR: join(work, 'tmp') },
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (p.status !== 0) throw new Error(`${argv.join(' ')} failed: ${p.stderr.slice(-2000)}`);
  const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(p.stderr);
  return { ms, rssKiB: m ? Number(m[1]) : JSON.parse(p.stdout).maxRssKiB };
}

const ours = [];
const theirs = [];
for (let r = 0; r < RUNS; r++) {
  ours.push(run([process.execPath, '--input-type=module', '-e', DRIVER, reader, archive.file, join(work, 'tmp')]));
  theirs.push(run(['skopeo', '--tmpdir', join(work, 'tmp'), 'inspect', `oci-archive:${archive.file}`]));
}
const best = (xs) => xs.reduce((a, b) => (b.ms < a.ms ? b : a));
const fmt = (x) => `${(x.ms / 1000).toFixed(1)} s, peak RSS ${(x.rssKiB / 1024).toFixed(0)} MB`;
const a = best(ours);
const b = best(theirs);
console.log(`oci-archive with ${archive.entries} entries (${N} stray empty files), best of ${RUNS}`);
console.log(`  ocikit withOciArchive:     ${fmt(a)}`);
console.log(`  skopeo inspect oci-archive: ${fmt(b)}`);
console.log(`  ocikit time / skopeo time: ${(a.ms / b.ms).toFixed(2)}`);
await rm(work, { recursive: true, force: true });
