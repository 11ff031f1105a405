#!/usr/bin/env node
// Benchmark for `ocikit fetch`, against skopeo and against a floor, on a loopback Debian
// docker-registry (issue 13, item 1: at least 2.5x faster than skopeo on both images).
//
// 1. Two images are pushed to a fresh registry: 300 MB in three incompressible layers
//    (bench/gen-big-image.mjs), and a 64-layer image shaped like a chunked bootc image (one
//    160 MiB layer, eight of 16 MiB, 55 of 512 KiB). For each, three whole processes are timed,
//    interleaved, after one warm-up each, every run into a fresh directory under --work:
//    the floor (bench/fetch-floor.mjs: raw TCP, the blobs in parallel, hashed and dropped),
//    `bin/ocikit fetch` (every blob verified, written and fsynced, the entry published), and
//    `skopeo copy docker://…@digest dir:…`. Reports min / median / mean ± sd and the ratios.
//    With `--work /dev/shm` the files land in memory: the tools' own cost, without the disk's
//    noise (fsync is then cheap for ocikit, and skopeo's dir: writes no fsync at all).
//    ocikit's peak RSS is reported too (GNU time, when installed); `--size-mb 683 --only big`
//    makes the 2 GB image of issue 13's memory item.
// 2. Five images that share one base layer are fetched in one run; reports the bytes downloaded
//    (the shared layer must be counted once) next to the sum of the five images' sizes.
//
// Usage: npm run build && node bench/fetch.mjs [--runs 5] [--size-mb 100] [--jobs 4] [--base-mb 50]
//          [--work DIR] [--only big|bootc]
// Needs: docker-registry, skopeo. Everything is created under a temporary directory and removed.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { mean, meanSd, numberOption, timed } from './bench-util.mjs';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const opt = (name, dflt) => numberOption(args, name, dflt);
const strOpt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const RUNS = opt('--runs', 5);
const SIZE_MB = opt('--size-mb', 100);
const JOBS = opt('--jobs', 4);
const BASE_MB = opt('--base-mb', 50);
const WORK_BASE = strOpt('--work', tmpdir());
const ONLY = strOpt('--only', undefined);
const OCIKIT = join(root, 'bin', 'ocikit');
const { startRegistry, pushDir } = await import(join(root, 'dist/test/helpers/registry.js'));

const sha = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const stats = (xs) => `${Math.min(...xs).toFixed(2)} / ${median(xs).toFixed(2)} s (${meanSd(xs)})`;

/** Generates an image with bench/gen-big-image.mjs; returns its JSON line. */
const generate = (dir, extra) =>
  JSON.parse(
    execFileSync(process.execPath, [join(root, 'bench/gen-big-image.mjs'), dir, ...extra], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .pop(),
  );

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

const work = await mkdtemp(join(WORK_BASE, 'ocikit-bench-fetch-'));
const floorEnv = { ...process.env };
delete floorEnv.NODE_EXTRA_CA_CERTS;
let reg;
try {
  reg = await startRegistry();
  // Both tools get the same explicit, permissive trust policy (never the host's).
  const policy = join(work, 'policy.json');
  await writeFile(policy, '{"default":[{"type":"insecureAcceptAnything"}]}');
  const images = [
    { key: 'big', label: `${3 * SIZE_MB} MiB in 3 layers`, gen: ['--size-mb', String(SIZE_MB)] },
    {
      key: 'bootc',
      label: '64 layers, bootc-shaped (160 MiB, 8 x 16 MiB, 55 x 512 KiB)',
      gen: ['--shape', '160,16x8,0.5x55'],
    },
  ].filter((i) => ONLY === undefined || i.key === ONLY);
  const cache = join(work, 'cache');
  const dest = join(work, 'dest');
  // ocikit's peak RSS (KiB) through GNU time when it is there (Debian package `time`).
  const rssFile = join(work, 'rss');
  const rssPrefix = existsSync('/usr/bin/time') ? ['/usr/bin/time', '-f', '%M', '-o', rssFile] : [];
  for (const image of images) {
    console.log(`generating the image: ${image.label}…`);
    const img = generate(join(work, image.key), image.gen);
    const repo = `bench/${image.key}`;
    await pushDir(img.dir, reg.host, `${repo}:latest`);
    const manifest = JSON.parse(await readFile(join(img.dir, 'manifest.json'), 'utf8'));
    const blobArgs = [manifest.config, ...manifest.layers].map((d) => `${d.digest}:${d.size}`);
    const sources = join(work, `${image.key}.json`);
    await writeFile(
      sources,
      JSON.stringify({
        'org.osbuild.skopeo': {
          items: {
            [img.configDigest]: {
              image: { name: `${reg.host}/${repo}`, digest: img.manifestDigest, 'tls-verify': false },
            },
          },
        },
      }),
    );
    const runs = {
      // Without NODE_EXTRA_CA_CERTS, which Node would load at start-up (the floor uses no TLS),
      // as bin/ocikit starts Node (docs/cli.md "Start-up").
      floor: () =>
        timed(
          [process.execPath, join(root, 'bench/fetch-floor.mjs'), reg.host, repo, '--jobs', String(JOBS), ...blobArgs],
          floorEnv,
        ),
      ocikit: async () => {
        await rm(cache, { recursive: true, force: true });
        return timed([
          ...rssPrefix,
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
      },
      skopeo: async () => {
        await rm(dest, { recursive: true, force: true });
        return timed([
          'skopeo',
          '--policy',
          policy,
          'copy',
          '--quiet',
          '--src-tls-verify=false',
          `docker://${reg.host}/${repo}@${img.manifestDigest}`,
          `dir:${dest}`,
        ]);
      },
    };
    const times = { floor: [], ocikit: [], skopeo: [] };
    let peakRss = 0;
    for (let i = -1; i < RUNS; i++) {
      for (const [name, run] of Object.entries(runs)) {
        const { s } = await run();
        if (i >= 0) times[name].push(s);
        if (name === 'ocikit' && rssPrefix.length > 0)
          peakRss = Math.max(peakRss, Number((await readFile(rssFile, 'utf8')).trim()));
      }
    }
    // sanity: the two results hold the same bytes
    const entry = join(cache, 'org.osbuild.containers', img.configDigest, 'image');
    for (const f of await readdir(dest)) {
      if (!(await readFile(join(dest, f))).equals(await readFile(join(entry, f))))
        throw new Error(`ocikit and skopeo differ in ${f}`);
    }
    console.log(
      `\n${image.label}: ${(img.bytes / 1e6).toFixed(0)} MB, loopback registry, files under ${WORK_BASE}, ${RUNS} runs each (interleaved, after a warm-up), min / median (mean ± sd):`,
    );
    console.log(`  floor (raw GETs, hashed, dropped):  ${stats(times.floor)}`);
    console.log(`  ocikit fetch (--jobs ${JOBS}):          ${stats(times.ocikit)}`);
    console.log(`  skopeo copy docker:// dir:          ${stats(times.skopeo)}`);
    console.log(
      `  skopeo/ocikit: ${(median(times.skopeo) / median(times.ocikit)).toFixed(2)}x by medians, ${(mean(times.skopeo) / mean(times.ocikit)).toFixed(2)}x by means (target >= 2.5x); ocikit/floor: ${(median(times.ocikit) / median(times.floor)).toFixed(2)}x`,
    );
    if (peakRss > 0)
      console.log(`  ocikit peak RSS: ${(peakRss / 1024).toFixed(0)} MB (max over the runs; target <= 150 MB)`);
    if (image.key === 'big') {
      const cached = [0, 1, 2].map(
        () => timed([OCIKIT, 'fetch', '--sources', sources, '--cache', cache, '--policy', policy]).s,
      );
      console.log(`  second run, served from the cache: ${meanSd(cached)}`);
    }
  }
  // Five images sharing a base layer (not with --only).
  if (ONLY === undefined) {
    const baseGen = generate(join(work, 'base'), ['--size-mb', String(BASE_MB), '--layers', '1']);
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
    const r = timed([
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
  }
} finally {
  await reg?.stop();
  await rm(work, { recursive: true, force: true });
}
