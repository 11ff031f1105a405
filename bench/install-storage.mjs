#!/usr/bin/env node
// Benchmark for several images into one containers-storage store (issue "Performance at bootc
// scale", item 3), whole processes, in one run.
//
// Six images of 32 MiB each (one incompressible layer, distinct bytes: bench/gen-big-image.mjs
// --seed imgK) as osbuild `dir` inputs. Then, interleaved, RUNS times each after a warm-up, with a
// fresh vfs store every run:
//   - ocikit: `ocikit install --jobs 2` (two skopeo copies at a time into the store);
//   - the reference's way (osbuild's org.osbuild.skopeo stage): one
//     `skopeo copy dir:… containers-storage:[vfs@…]NAME` after another, the same six;
//   - for information, `ocikit install --jobs 1` (ocikit's own cost over the plain sequence), and
//     plain `skopeo copy` JOBS at a time without ocikit (what concurrency can give on this host now).
// Both tools get the same HOME (permissive policy) and the same TMPDIR/--tmpdir file system.
// Prints mean ± sd and the ratio sequence/ocikit (target ≥ 1.2x), and how many cores one skopeo
// copy keeps busy on average (its CPU time over its wall time), which bounds what any
// concurrency can give on this machine; checks both stores hold the
// same images (names, IDs, digests).
//
// Usage: npm run build && node bench/install-storage.mjs [--runs 3] [--size-mb 32] [--images 6] [--jobs 2]
// Needs: skopeo, podman. Everything lives under a temporary directory, removed at the end.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { mean, meanSd as fmt, numberOption, podmanImageLines, timed as run } from './bench-util.mjs';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const RUNS = numberOption(args, '--runs', 3);
const SIZE_MB = numberOption(args, '--size-mb', 32);
const IMAGES = numberOption(args, '--images', 6);
const JOBS = numberOption(args, '--jobs', 2);
const OCIKIT = join(root, 'bin', 'ocikit');

const work = await mkdtemp(join(tmpdir(), 'ocikit-bench-install-storage-'));
try {
  const home = join(work, 'home');
  const tmp = join(work, 'tmp');
  await mkdir(join(home, '.config', 'containers'), { recursive: true });
  await mkdir(tmp);
  await writeFile(
    join(home, '.config', 'containers', 'policy.json'),
    '{"default":[{"type":"insecureAcceptAnything"}]}',
  );
  const env = { PATH: process.env.PATH, HOME: home, TMPDIR: tmp };

  console.log(`generating ${IMAGES} images of ${SIZE_MB} MiB…`);
  const imagesDir = join(work, 'in', 'images');
  await mkdir(imagesDir, { recursive: true });
  const images = [];
  for (let k = 0; k < IMAGES; k++) {
    const out = join(work, `gen${k}`);
    const line = execFileSync(
      process.execPath,
      [join(root, 'bench/gen-big-image.mjs'), out, '--size-mb', String(SIZE_MB), '--layers', '1', '--seed', `img${k}`],
      { encoding: 'utf8' },
    );
    const img = JSON.parse(line.trim().split('\n').pop());
    const dir = join(imagesDir, img.configDigest);
    await rename(out, dir);
    images.push({ ...img, dir, name: `localhost/bench/storage${k}:latest` });
  }
  const inputsFile = join(work, 'in', 'inputs.json');
  await writeFile(
    inputsFile,
    JSON.stringify({
      images: {
        path: imagesDir,
        data: { archives: Object.fromEntries(images.map((i) => [i.configDigest, { format: 'dir', name: i.name }])) },
      },
    }),
  );
  const optionsFile = join(work, 'in', 'options.json');
  await writeFile(
    optionsFile,
    JSON.stringify({ destination: { type: 'containers-storage', 'storage-driver': 'vfs' } }),
  );
  const STORE = 'var/lib/containers/storage';

  const ocikit = async (tag, jobs) => {
    const tree = join(work, `${tag}-tree`);
    await mkdir(tree, { recursive: true });
    const argv = [OCIKIT, 'install', '--inputs', inputsFile, '--options', optionsFile];
    return run([...argv, '--tree', tree, '--runroot', join(work, `${tag}-run`), '--jobs', String(jobs)], env).s;
  };
  // CPU seconds (user + system) of this process's waited-for children so far: /proc/self/stat
  // fields 16 and 17 (cutime, cstime), in clock ticks (proc(5); 100 per second on Linux).
  const childCpu = () => {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
    return (Number(fields[13]) + Number(fields[14])) / 100;
  };
  const busy = [];
  const sequence = async (tag) => {
    const store = join(work, `${tag}-tree`, STORE);
    const runroot = join(work, `${tag}-run`);
    let s = 0;
    const cpu0 = childCpu();
    for (const img of images) {
      const dest = `containers-storage:[vfs@${store}+${runroot}]${img.name}`;
      s += run(['skopeo', '--tmpdir', tmp, 'copy', '--quiet', `dir:${img.dir}`, dest], env).s;
    }
    busy.push((childCpu() - cpu0) / s);
    return s;
  };
  // For information: JOBS plain skopeo copies at a time, no ocikit (the ceiling of --jobs JOBS).
  const batches = async (tag) => {
    const store = join(work, `${tag}-tree`, STORE);
    const runroot = join(work, `${tag}-run`);
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < images.length; k += JOBS) {
      await Promise.all(
        images.slice(k, k + JOBS).map((img) => {
          const dest = `containers-storage:[vfs@${store}+${runroot}]${img.name}`;
          const child = spawn('skopeo', ['--tmpdir', tmp, 'copy', '--quiet', `dir:${img.dir}`, dest], {
            env,
            stdio: 'ignore',
          });
          return new Promise((res, rej) =>
            child.on('exit', (c) => (c === 0 ? res() : rej(new Error(`skopeo exited ${c}`)))),
          );
        }),
      );
    }
    return Number(process.hrtime.bigint() - t0) / 1e9;
  };
  const podmanImages = (tag) => podmanImageLines(join(work, `${tag}-tree`, STORE), join(work, `${tag}-run`), env);
  const clean = async (tag) => {
    for (const p of ['tree', 'run']) await rm(join(work, `${tag}-${p}`), { recursive: true, force: true });
  };

  const o = [];
  const s = [];
  const o1 = [];
  const q = [];
  for (let i = -1; i < RUNS; i++) {
    const a = await ocikit('o', JOBS);
    const b = await sequence('s');
    const c = await ocikit('p', 1);
    const d = await batches('q');
    if (i >= 0) {
      o.push(a);
      s.push(b);
      o1.push(c);
      q.push(d);
    }
    if (i === -1) {
      const x = podmanImages('o');
      const y = podmanImages('s');
      if (x.length !== IMAGES || JSON.stringify(x) !== JSON.stringify(y))
        throw new Error(`the stores differ:\n${x.join('\n')}\n---\n${y.join('\n')}`);
    }
    for (const tag of ['o', 's', 'p', 'q']) await clean(tag);
  }
  console.log(
    `\n${IMAGES} images of ${SIZE_MB} MiB into one fresh vfs store, ${RUNS} runs each (interleaved, after a warm-up):`,
  );
  console.log(`  ocikit install --jobs ${JOBS}:             ${fmt(o)}`);
  console.log(`  skopeo copy, one after another: ${fmt(s)}`);
  console.log(`  ocikit install --jobs 1:        ${fmt(o1)}`);
  console.log(`  skopeo copy, ${JOBS} at a time:       ${fmt(q)} (the ceiling, no ocikit)`);
  console.log(`  ratio sequence/ocikit:          ${(mean(s) / mean(o)).toFixed(2)}x (target >= 1.2x)`);
  // One skopeo copy already keeps this many cores busy on average: running copies side by side
  // can at best be cores / busy faster, before containers/storage's layer lock takes its share.
  const cores = availableParallelism();
  console.log(
    `  one skopeo copy keeps ${mean(busy).toFixed(2)} of ${cores} cores busy: concurrency can give at most ${(cores / mean(busy)).toFixed(2)}x here`,
  );
} finally {
  await rm(work, { recursive: true, force: true });
}
