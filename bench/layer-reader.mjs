// Throughput of the layer tar reader with a no-op visitor over an uncompressed tar (default: a
// tar of /usr/share made with GNU tar), against tar-stream's extract on the same input and
// `tar -tf` (listing, no writes). Each reader runs twice: on 64 KiB chunks already in memory (the
// parser's own cost) and streaming the file (what reading the file adds).
// Usage: npm run build && node bench/layer-reader.mjs [TAR] [RUNS]
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import tarStream from 'tar-stream';

const root = fileURLToPath(new URL('..', import.meta.url));
const { readLayer } = await import(join(root, 'dist/src/internal/tar/layer-reader.js'));
const RUNS = Number(process.argv[3] ?? 3);
let file = process.argv[2];
let made = false;
if (!file) {
  file = join(tmpdir(), 'ocikit-bench-layer-reader.tar');
  if (!existsSync(file)) {
    spawnSync('tar', ['-cf', file, '-C', '/usr', 'share'], { stdio: 'ignore' });
    made = true;
  }
}
const size = statSync(file).size;

async function time(name, fn) {
  let best = Number.POSITIVE_INFINITY;
  let info = '';
  for (let i = 0; i < RUNS; i++) {
    const t0 = process.hrtime.bigint();
    info = await fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  console.log(`${name.padEnd(28)} ${best.toFixed(3)} s  ${(size / best / 1e6).toFixed(0)} MB/s  ${info}`);
}

const whole = readFileSync(file);
const inMemory = [];
for (let i = 0; i < whole.length; i += 64 * 1024) inMemory.push(whole.subarray(i, i + 64 * 1024));
const sources = {
  memory: () => Readable.from(inMemory, { objectMode: true }),
  file: () => createReadStream(file, { highWaterMark: 64 * 1024 }),
};
for (const [from, source] of Object.entries(sources)) {
  await time(`ocikit readLayer, ${from}`, async () => {
    let bytes = 0;
    const r = await readLayer(source(), {
      entry() {},
      data(c) {
        bytes += c.length;
      },
      end() {},
    });
    return `${r.entries} entries, ${bytes} content bytes`;
  });
  await time(`tar-stream, ${from}`, async () => {
    let n = 0;
    const ex = tarStream.extract();
    ex.on('entry', (_h, stream, next) => {
      n++;
      stream.on('end', next);
      stream.resume();
    });
    await pipeline(source(), ex);
    return `${n} entries`;
  });
}
await time('tar -tf (GNU tar)', async () => {
  spawnSync('tar', ['-tf', file], { stdio: 'ignore' });
  return '';
});
console.log(`${file}: ${(size / 1e6).toFixed(0)} MB`);
if (made && process.env.KEEP !== '1') await rm(file, { force: true });
