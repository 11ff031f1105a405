#!/usr/bin/env node
// Benchmark: what the trust policy and signature verification add per image to a fetch, in one run.
//
// N small images are pushed to a loopback Debian docker-registry, each signed by real
// `skopeo copy --sign-by` (a GPG key made here) into a lookaside directory that a loopback HTTP
// server serves; registries.d in a temporary HOME names it. Then whole `ocikit fetch` processes
// (fresh cache each, after a warm-up) fetch all N under four policies, interleaved:
//   --insecure-policy (no policy read: the unsigned baseline), `default: [insecureAcceptAnything]`,
//   `default: [reject]` with the registry's scope accepting (the most specific scope wins), and
//   `signedBy` the key for the registry's scope (every signature fetched from the lookaside and
//   verified with OpenPGP).
// Reports the median per mode and the added cost per image over --insecure-policy (target: at
// most 50 ms per image).
//
// Usage: npm run build && node bench/trust.mjs [--images 20] [--runs 7]
// Needs: docker-registry, skopeo, gpg. Everything is created under a temporary directory and removed.
import { execFile, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;
const BIN = join(root, 'bin/ocikit');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const IMAGES = opt('--images', 20);
const RUNS = opt('--runs', 7);
const { startRegistry } = await import(join(root, 'dist/test/helpers/registry.js'));
const { makeDirImage } = await import(join(root, 'dist/test/helpers/images.js'));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (s) => `${(s * 1000).toFixed(1)} ms`;

const work = await mkdtemp(join(tmpdir(), 'ocikit-bench-trust-'));
let reg;
let server;
const gnupg = join(work, 'gnupg');
try {
  reg = await startRegistry();
  // A signing key and a pushing HOME whose registries.d stages signatures into `stage`.
  await mkdir(gnupg, { mode: 0o700 });
  const signHome = join(work, 'sign-home');
  const stage = join(work, 'stage');
  await mkdir(join(signHome, '.config/containers/registries.d'), { recursive: true });
  await mkdir(stage);
  await writeFile(join(signHome, '.config/containers/policy.json'), '{"default":[{"type":"insecureAcceptAnything"}]}');
  await writeFile(
    join(signHome, '.config/containers/registries.d/sign.yaml'),
    `default-docker:\n  lookaside-staging: file://${stage}\n`,
  );
  const genv = { PATH: process.env.PATH, HOME: signHome, GNUPGHOME: gnupg };
  const gen = spawnSync(
    'gpg',
    ['--batch', '--passphrase', '', '--quick-gen-key', 'bench@example.com', 'ed25519', 'sign', 'never'],
    { env: genv },
  );
  if (gen.status !== 0) throw new Error(`gpg: ${gen.stderr}`);
  const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(
    spawnSync('gpg', ['--with-colons', '--list-keys', 'bench@example.com'], { env: genv }).stdout.toString(),
  )[1];
  const key = join(work, 'key.gpg');
  await writeFile(key, spawnSync('gpg', ['--export', fpr], { env: genv }).stdout);

  const items = {};
  for (let k = 0; k < IMAGES; k++) {
    const img = await makeDirImage(join(work, `img${k}`), { flavour: 'oci', layers: 1, layerSize: 4096 });
    await exec(
      'skopeo',
      [
        'copy',
        '--quiet',
        '--dest-tls-verify=false',
        '--sign-by',
        fpr,
        `dir:${img.dir}`,
        `docker://${reg.host}/bench/trust${k}:latest`,
      ],
      { env: genv },
    );
    items[img.configDigest] = {
      image: { name: `${reg.host}/bench/trust${k}`, digest: img.manifestDigest, 'tls-verify': false },
    };
  }
  // The lookaside server: the staged files over HTTP.
  server = createServer(async (req, res) => {
    const file = resolve(join(stage, decodeURIComponent((req.url ?? '/').split('?')[0])));
    if (!file.startsWith(stage + sep)) return void res.writeHead(403).end();
    try {
      res.end(await readFile(file));
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const lookaside = `http://127.0.0.1:${server.address().port}`;

  // The pulling HOME: registries.d names the lookaside server.
  const home = join(work, 'home');
  await mkdir(join(home, '.config/containers/registries.d'), { recursive: true });
  await writeFile(join(home, '.config/containers/registries.d/l.yaml'), `default-docker:\n  lookaside: ${lookaside}\n`);
  const sources = join(work, 'sources.json');
  await writeFile(sources, JSON.stringify({ 'org.osbuild.skopeo': { items } }));
  const policy = async (name, doc) => {
    const file = join(work, `${name}.json`);
    await writeFile(file, JSON.stringify(doc));
    return ['--policy', file];
  };
  const modes = {
    '--insecure-policy (baseline)': ['--insecure-policy'],
    insecureAcceptAnything: await policy('accept', { default: [{ type: 'insecureAcceptAnything' }] }),
    'reject default, registry scope accepted': await policy('scoped', {
      default: [{ type: 'reject' }],
      transports: { docker: { [reg.host]: [{ type: 'insecureAcceptAnything' }] } },
    }),
    'signedBy GPG, signatures from the lookaside': await policy('signed', {
      default: [{ type: 'reject' }],
      transports: { docker: { [reg.host]: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: key }] } },
    }),
  };
  const times = Object.fromEntries(Object.keys(modes).map((m) => [m, []]));
  let n = 0;
  for (let i = -1; i < RUNS; i++) {
    for (const [m, extra] of Object.entries(modes)) {
      const cache = join(work, `cache${n++}`);
      const t0 = process.hrtime.bigint();
      await exec(process.execPath, [BIN, 'fetch', '--sources', sources, '--cache', cache, ...extra], {
        env: { PATH: process.env.PATH, HOME: home },
      });
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      await rm(cache, { recursive: true, force: true });
      if (i >= 0) times[m].push(s);
    }
  }
  console.log(
    `\n${IMAGES} small images per \`ocikit fetch\` process, loopback registry, ${RUNS} runs each (interleaved, after a warm-up):`,
  );
  const base = median(times['--insecure-policy (baseline)']);
  for (const [m, xs] of Object.entries(times)) {
    const per = (median(xs) - base) / IMAGES;
    console.log(`  ${m.padEnd(46)} median ${ms(median(xs))}   added per image: ${ms(per)} (target <= 50 ms)`);
  }
} finally {
  server?.close();
  await reg?.stop();
  spawnSync('gpgconf', ['--kill', 'all'], { env: { PATH: process.env.PATH, GNUPGHOME: gnupg } });
  await rm(work, { recursive: true, force: true });
}
