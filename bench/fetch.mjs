#!/usr/bin/env node
// Benchmark for `ocikit fetch`, against skopeo, on a loopback Debian docker-registry.
//
// 1. A 300 MB image with three incompressible layers (bench/gen-big-image.mjs) is pushed to a
//    fresh registry; then `bin/ocikit fetch` (a whole process, fresh cache each run) and
//    `skopeo copy --src-tls-verify=false docker://…@digest dir:…` (fresh destination each run) are
//    timed, interleaved, after one warm-up each. Reports mean ± sd and the ratio (target ≥ 1.5x).
// 2. Five images that share one base layer are fetched in one run; reports the bytes downloaded
//    (the shared layer must be counted once) next to the sum of the five images' sizes.
//
// Usage: npm run build && node bench/fetch.mjs [--runs 5] [--size-mb 100] [--jobs 4] [--base-mb 50]
// Needs: docker-registry, skopeo. Everything is created under a temporary directory and removed.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile, readFile, readdir, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const RUNS = opt('--runs', 5);
const SIZE_MB = opt('--size-mb', 100);
const JOBS = opt('--jobs', 4);
const BASE_MB = opt('--base-mb', 50);
const OCIKIT = join(root, 'bin', 'ocikit');
const { startRegistry, pushDir } = await import(join(root, 'dist/test/helpers/registry.js'));

const sha = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs) => Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / Math.max(1, xs.length - 1));
const fmt = (xs) => `${mean(xs).toFixed(3)} s ± ${sd(xs).toFixed(3)}`;

function timed(cmd, argv) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  return { s, stdout: r.stdout };
}

function tarOf(name, body) {
  const h = Buffer.alloc(512);
  h.write(name, 0);
  const oct = (off, w, v) => h.write(`${v.toString(8).padStart(w - 1, '0')}\0`, off, 'latin1');
  oct(100, 8, 0o644);
  oct(108, 8, 0);
  oct(116, 8, 0);
  oct(124, 12, body.length);
  oct(136, 12, 0);
  h[156] = 0x30;
  h.write('ustar\u000000', 257, 'latin1');
  h.fill(0x20, 148, 156);
  let s = 0;
  for (const x of h) s += x;
  h.write(`${s.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  const pad = Buffer.alloc((512 - (body.length % 512)) % 512);
  return Buffer.concat([h, body, pad, Buffer.alloc(1024)]);
}

/** Writes a dir: image = the base layer (a file already in `baseDir`) + one small unique layer. */
async function sharingImage(dir, baseDir, baseDigest, baseDiffID, baseSize, k) {
  await mkdir(dir, { recursive: true });
  const raw = tarOf(`unique${k}.bin`, randomBytes(256 * 1024));
  const gz = gzipSync(raw);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: { image: String(k) } },
      rootfs: { type: 'layers', diff_ids: [baseDiffID, sha(raw)] },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: baseDigest, size: baseSize },
        { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(gz), size: gz.length },
      ],
    }),
  );
  await copyFile(join(baseDir, baseDigest.slice(7)), join(dir, baseDigest.slice(7)));
  await writeFile(join(dir, sha(gz).slice(7)), gz);
  await writeFile(join(dir, sha(config).slice(7)), config);
  await writeFile(join(dir, 'manifest.json'), manifest);
  await writeFile(join(dir, 'version'), 'Directory Transport Version: 1.1\n');
  return { configDigest: sha(config), manifestDigest: sha(manifest), size: config.length + baseSize + gz.length };
}

const work = await mkdtemp(join(tmpdir(), 'ocikit-bench-fetch-'));
let reg;
try {
  console.log(`generating the ${3 * SIZE_MB} MiB image…`);
  const big = JSON.parse(
    execFileSync(
      process.execPath,
      [join(root, 'bench/gen-big-image.mjs'), join(work, 'big'), '--size-mb', String(SIZE_MB)],
      { encoding: 'utf8' },
    )
      .trim()
      .split('\n')
      .pop(),
  );
  reg = await startRegistry();
  // Both tools get the same explicit, permissive trust policy (never the host's).
  const policy = join(work, 'policy.json');
  await writeFile(policy, '{"default":[{"type":"insecureAcceptAnything"}]}');
  await pushDir(big.dir, reg.host, 'bench/big:latest');
  const sources = join(work, 'sources.json');
  await writeFile(
    sources,
    JSON.stringify({
      'org.osbuild.skopeo': {
        items: {
          [big.configDigest]: {
            image: { name: `${reg.host}/bench/big`, digest: big.manifestDigest, 'tls-verify': false },
          },
        },
      },
    }),
  );
  const cache = join(work, 'cache');
  const dest = join(work, 'dest');
  const ocikit = () =>
    timed(process.execPath, [
      OCIKIT,
      'fetch',
      '--sources',
      sources,
      '--cache',
      cache,
      '--jobs',
      String(JOBS),
      '--policy',
      policy,
    ]);
  const skopeo = () =>
    timed('skopeo', [
      '--policy',
      policy,
      'copy',
      '--quiet',
      '--src-tls-verify=false',
      `docker://${reg.host}/bench/big@${big.manifestDigest}`,
      `dir:${dest}`,
    ]);
  const o = [];
  const s = [];
  for (let i = -1; i < RUNS; i++) {
    await rm(cache, { recursive: true, force: true });
    const a = ocikit().s;
    await rm(dest, { recursive: true, force: true });
    const b = skopeo().s;
    if (i >= 0) {
      o.push(a);
      s.push(b);
    }
  }
  // sanity: the two results hold the same bytes
  const entry = join(cache, 'org.osbuild.containers', big.configDigest, 'image');
  for (const f of await readdir(dest)) {
    if (!(await readFile(join(dest, f))).equals(await readFile(join(entry, f))))
      throw new Error(`ocikit and skopeo differ in ${f}`);
  }
  console.log(
    `\n${(big.bytes / 1e6).toFixed(0)} MB, 3 layers, loopback registry, ${RUNS} runs each (interleaved, after a warm-up):`,
  );
  console.log(`  ocikit fetch (--jobs ${JOBS}):  ${fmt(o)}`);
  console.log(`  skopeo copy docker:// dir:  ${fmt(s)}`);
  console.log(`  ratio skopeo/ocikit:        ${(mean(s) / mean(o)).toFixed(2)}x (target >= 1.5x)`);
  const cached = [0, 1, 2].map(() => ocikit().s);
  console.log(`  second run, served from the cache: ${fmt(cached)}`);

  // Five images sharing a base layer.
  const baseGen = JSON.parse(
    execFileSync(
      process.execPath,
      [join(root, 'bench/gen-big-image.mjs'), join(work, 'base'), '--size-mb', String(BASE_MB), '--layers', '1'],
      { encoding: 'utf8' },
    )
      .trim()
      .split('\n')
      .pop(),
  );
  const baseDigest = baseGen.layers[0];
  const baseBlob = await readFile(join(work, 'base', baseDigest.slice(7)));
  const baseDiffID = sha(gunzipSync(baseBlob));
  const items = {};
  let sumSizes = 0;
  for (let k = 1; k <= 5; k++) {
    const img = await sharingImage(
      join(work, `shared${k}`),
      join(work, 'base'),
      baseDigest,
      baseDiffID,
      baseBlob.length,
      k,
    );
    await pushDir(join(work, `shared${k}`), reg.host, `bench/shared${k}:latest`);
    items[img.configDigest] = {
      image: { name: `${reg.host}/bench/shared${k}`, digest: img.manifestDigest, 'tls-verify': false },
    };
    sumSizes += img.size;
  }
  const sharedSources = join(work, 'shared.json');
  await writeFile(sharedSources, JSON.stringify({ 'org.osbuild.skopeo': { items } }));
  const r = timed(process.execPath, [
    OCIKIT,
    'fetch',
    '--sources',
    sharedSources,
    '--cache',
    join(work, 'cache-shared'),
    '--json',
    '--policy',
    policy,
  ]);
  const summary = JSON.parse(r.stdout);
  const downloaded = summary.reduce((a, i) => a + i.bytes, 0);
  console.log(
    `\nfive images sharing a ${(baseBlob.length / 1e6).toFixed(1)} MB base layer, one run (${r.s.toFixed(3)} s):`,
  );
  console.log(`  sum of the five images' blob sizes: ${sumSizes} bytes`);
  console.log(
    `  bytes downloaded by ocikit:         ${downloaded} bytes (base layer counted ${((downloaded - (sumSizes - 5 * baseBlob.length)) / baseBlob.length).toFixed(2)} times)`,
  );
  console.log(`  per item: ${summary.map((i) => i.bytes).join(', ')}`);
} finally {
  await reg?.stop();
  await rm(work, { recursive: true, force: true });
}
