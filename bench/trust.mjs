#!/usr/bin/env node
// Benchmark: the cost of the trust policy per image on an unsigned fetch, in one run.
//
// N small images are pushed to a loopback Debian docker-registry; then `fetch()` (in process,
// fresh cache each run, after a warm-up) fetches all N under three policies, interleaved:
//   --insecure-policy (no policy read at all), a policy file `default: [insecureAcceptAnything]`,
//   and `default: [reject]` with the registry's scope accepting (the most specific scope wins).
// Reports mean ± sd per run and the added cost per image over --insecure-policy (target ≤ 50 ms).
//
// Usage: npm run build && node bench/trust.mjs [--images 20] [--runs 7]
// Needs: docker-registry, skopeo. Everything is created under a temporary directory and removed.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const IMAGES = opt('--images', 20);
const RUNS = opt('--runs', 7);
const { startRegistry, pushDir } = await import(join(root, 'dist/test/helpers/registry.js'));
const { makeDirImage } = await import(join(root, 'dist/test/helpers/images.js'));
const { fetch } = await import(join(root, 'dist/src/fetch/fetch.js'));

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs) => Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / Math.max(1, xs.length - 1));
const ms = (s) => `${(s * 1000).toFixed(1)} ms`;

const work = await mkdtemp(join(tmpdir(), 'ocikit-bench-trust-'));
let reg;
try {
  reg = await startRegistry();
  const items = {};
  for (let k = 0; k < IMAGES; k++) {
    const img = await makeDirImage(join(work, `img${k}`), { flavour: 'oci', layers: 1, layerSize: 4096 });
    await pushDir(img.dir, reg.host, `bench/trust${k}:latest`);
    items[img.configDigest] = {
      image: { name: `${reg.host}/bench/trust${k}`, digest: img.manifestDigest, 'tls-verify': false },
    };
  }
  const sources = { 'org.osbuild.skopeo': { items } };
  const accept = join(work, 'accept.json');
  await writeFile(accept, '{"default":[{"type":"insecureAcceptAnything"}]}');
  const scoped = join(work, 'scoped.json');
  await writeFile(
    scoped,
    JSON.stringify({
      default: [{ type: 'reject' }],
      transports: { docker: { [reg.host]: [{ type: 'insecureAcceptAnything' }], 'quay.io': [{ type: 'reject' }] } },
    }),
  );
  const modes = {
    '--insecure-policy': { insecurePolicy: true },
    'insecureAcceptAnything file': { policy: accept },
    'reject default, registry scope accepted': { policy: scoped },
  };
  const times = Object.fromEntries(Object.keys(modes).map((m) => [m, []]));
  let n = 0;
  for (let i = -1; i < RUNS; i++) {
    for (const [m, o] of Object.entries(modes)) {
      const cache = join(work, `cache${n++}`);
      const t0 = process.hrtime.bigint();
      await fetch(sources, cache, { ...o, env: { HOME: work }, jobs: 4 });
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      await rm(cache, { recursive: true, force: true });
      if (i >= 0) times[m].push(s);
    }
  }
  console.log(
    `\n${IMAGES} small unsigned images per fetch, loopback registry, ${RUNS} runs each (interleaved, after a warm-up):`,
  );
  const base = mean(times['--insecure-policy']);
  for (const [m, xs] of Object.entries(times)) {
    const per = (mean(xs) - base) / IMAGES;
    console.log(`  ${m.padEnd(42)} ${ms(mean(xs))} ± ${ms(sd(xs))}   added per image: ${ms(per)} (target <= 50 ms)`);
  }
} finally {
  await reg?.stop();
  await rm(work, { recursive: true, force: true });
}
