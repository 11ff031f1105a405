#!/usr/bin/env node
// Compares ways to copy the blobs of an image while verifying their sha256, in one process:
//   pread-loop : positional 4 MiB reads, hash, positional write, next read overlapping the write
//                (what installNative does; the bytes hashed are the bytes written)
//   streams    : createReadStream -> DigestingStream -> createWriteStream (1 MiB chunks)
//   copyFile   : fs.copyFile (copy_file_range in the kernel) then hash the copy (a second pass)
// Each strategy copies all blobs of the image in parallel, fresh destination per run, `sync` first.
// Usage: node bench/copy-strategies.mjs IMAGE_DIR [--runs 5]
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

const src = process.argv[2];
if (!src) {
  console.error('usage: copy-strategies.mjs IMAGE_DIR [--runs N]');
  process.exit(2);
}
const ri = process.argv.indexOf('--runs');
const RUNS = ri > 0 ? Number(process.argv[ri + 1]) : 5;
const { DigestingStream } = await import('../dist/src/model/verify.js');
const blobs = (await fs.readdir(src)).filter((f) => /^[0-9a-f]{64}$/.test(f));
const CHUNK = 4 << 20;

async function preadLoop(from, to, hex) {
  const s = await fs.open(from, 'r');
  const d = await fs.open(to, 'wx');
  const h = createHash('sha256');
  const bufs = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
  let w = 0;
  let i = 0;
  let n = (await s.read(bufs[0], 0, CHUNK, 0)).bytesRead;
  while (n > 0) {
    const cur = bufs[i].subarray(0, n);
    h.update(cur);
    i ^= 1;
    const [, r] = await Promise.all([d.write(cur, 0, n, w), s.read(bufs[i], 0, CHUNK, w + n)]);
    w += n;
    n = r.bytesRead;
  }
  await s.close();
  await d.close();
  if (h.digest('hex') !== hex) throw new Error('mismatch');
}

async function streams(from, to, hex) {
  const st = await fs.stat(from);
  await pipeline(
    createReadStream(from, { highWaterMark: 1 << 20 }),
    new DigestingStream({ digest: `sha256:${hex}`, size: st.size }),
    createWriteStream(to, { flags: 'wx', highWaterMark: 1 << 20 }),
  );
}

async function copyThenHash(from, to, hex) {
  await fs.copyFile(from, to, fs.constants.COPYFILE_EXCL);
  const h = createHash('sha256');
  for await (const c of createReadStream(to, { highWaterMark: CHUNK })) h.update(c);
  if (h.digest('hex') !== hex) throw new Error('mismatch');
}

const strategies = { 'pread-loop': preadLoop, streams, copyFile: copyThenHash };
const out = join(src, '..', `.copy-bench-${process.pid}`);
const times = Object.fromEntries(Object.keys(strategies).map((k) => [k, []]));
for (let r = 0; r <= RUNS; r++) {
  for (const [name, fn] of Object.entries(strategies)) {
    await fs.rm(out, { recursive: true, force: true });
    await fs.mkdir(out);
    spawnSync('sync');
    const t0 = performance.now();
    await Promise.all(blobs.map((b) => fn(join(src, b), join(out, b), b)));
    if (r > 0) times[name].push(performance.now() - t0); // run 0 is the warm-up
  }
}
await fs.rm(out, { recursive: true, force: true });
for (const [name, xs] of Object.entries(times)) {
  xs.sort((a, b) => a - b);
  console.log(
    `${name.padEnd(11)} median ${xs[Math.floor(xs.length / 2)].toFixed(0)} ms  [${xs[0].toFixed(0)}-${xs.at(-1).toFixed(0)}]`,
  );
}
