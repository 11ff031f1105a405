#!/usr/bin/env node
// Benchmark for `ocikit embed` (issue "Resolve and embed"), whole processes, in one run.
//
// Five images are pushed by tag to a fresh loopback docker-registry: one of 300 MB (three
// incompressible 100 MiB layers, bench/gen-big-image.mjs) and four of 8 MiB (one layer each,
// distinct bytes). Then, interleaved, RUNS times each after a warm-up, with a fresh cache and a
// fresh vfs store every run:
//   - ocikit: `ocikit embed --tree T REF×5 --cache C --tls-verify=false --storage-driver vfs`
//     (resolve → fetch into the verified cache → install into T/var/lib/containers/storage);
//   - the reference's way (osbuild + its tooling): per image `skopeo inspect` to resolve the tag
//     to a digest, `skopeo copy docker://NAME@DIGEST dir:CACHE/…` (org.osbuild.skopeo), then
//     `skopeo copy dir:… containers-storage:[vfs@…]NAME` (org.osbuild.skopeo stage).
// Prints mean ± sd and the ratio (target ≥ 1.5x), and checks both stores hold the same images.
//
// Usage: npm run build && node bench/embed.mjs [--runs 3] [--size-mb 100]
// Needs: docker-registry, skopeo, podman. Everything lives under a temporary directory, removed.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mean, meanSd as fmt, numberOption, podmanImageLines, timed } from './bench-util.mjs';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const RUNS = numberOption(args, '--runs', 3);
const SIZE_MB = numberOption(args, '--size-mb', 100);
const OCIKIT = join(root, 'bin', 'ocikit');
const { startRegistry, pushDir } = await import(join(root, 'dist/test/helpers/registry.js'));
const run = (argv, env) => timed(argv, env ?? process.env);

const gen = (dir, sizeMb, layers, seed) =>
  JSON.parse(
    execFileSync(
      process.execPath,
      [
        join(root, 'bench/gen-big-image.mjs'),
        dir,
        '--size-mb',
        String(sizeMb),
        '--layers',
        String(layers),
        '--seed',
        seed,
      ],
      { encoding: 'utf8' },
    )
      .trim()
      .split('\n')
      .pop(),
  );

const work = await mkdtemp(join(tmpdir(), 'ocikit-bench-embed-'));
let reg;
try {
  // One HOME for both tools: the same (permissive, explicit) trust policy, no host auth files.
  const home = join(work, 'home');
  await mkdir(join(home, '.config', 'containers'), { recursive: true });
  await writeFile(
    join(home, '.config', 'containers', 'policy.json'),
    '{"default":[{"type":"insecureAcceptAnything"}]}',
  );
  const env = { PATH: process.env.PATH, HOME: home };

  console.log(`generating five images (${3 * SIZE_MB} MiB + 4 × 8 MiB)…`);
  reg = await startRegistry();
  const refs = [];
  const images = [gen(join(work, 'img0'), SIZE_MB, 3, 'big')];
  for (let k = 1; k <= 4; k++) images.push(gen(join(work, `img${k}`), 8, 1, `small${k}`));
  for (const [k, img] of images.entries()) {
    const repo = `bench/embed${k}:latest`;
    await pushDir(img.dir, reg.host, repo);
    refs.push(`${reg.host}/${repo}`);
  }

  const ocikit = async (i) => {
    const tree = join(work, `o-tree-${i}`);
    await mkdir(tree, { recursive: true });
    return run(
      [
        OCIKIT,
        'embed',
        '--tree',
        tree,
        '--cache',
        join(work, `o-cache-${i}`),
        '--tls-verify=false',
        '--storage-driver',
        'vfs',
        '--runroot',
        join(work, `o-run-${i}`),
        ...refs,
      ],
      env,
    ).s;
  };
  const reference = async (i) => {
    const store = join(work, `s-tree-${i}`, 'var/lib/containers/storage');
    const runroot = join(work, `s-run-${i}`);
    let s = 0;
    for (const [k, ref] of refs.entries()) {
      const inspect = run(['skopeo', 'inspect', '--tls-verify=false', `docker://${ref}`], env);
      s += inspect.s;
      const digest = JSON.parse(inspect.stdout).Digest;
      const name = ref.replace(/:latest$/, '');
      const dir = join(work, `s-cache-${i}`, String(k));
      await mkdir(dir, { recursive: true });
      s += run(
        ['skopeo', 'copy', '--quiet', '--src-tls-verify=false', `docker://${name}@${digest}`, `dir:${dir}`],
        env,
      ).s;
      s += run(
        ['skopeo', 'copy', '--quiet', `dir:${dir}`, `containers-storage:[vfs@${store}+${runroot}]${ref}`],
        env,
      ).s;
    }
    return s;
  };
  const podmanImages = (tree, runroot) => podmanImageLines(join(tree, 'var/lib/containers/storage'), runroot, env);

  const o = [];
  const s = [];
  for (let i = -1; i < RUNS; i++) {
    const a = await ocikit(i + 1);
    const b = await reference(i + 1);
    if (i >= 0) {
      o.push(a);
      s.push(b);
    }
    if (i === -1) {
      const x = podmanImages(join(work, 'o-tree-0'), join(work, 'o-run-0'));
      const y = podmanImages(join(work, 's-tree-0'), join(work, 's-run-0'));
      if (JSON.stringify(x) !== JSON.stringify(y))
        throw new Error(`the stores differ:\n${x.join('\n')}\n---\n${y.join('\n')}`);
    }
    for (const p of ['o-tree', 'o-cache', 'o-run', 's-tree', 's-cache', 's-run'])
      await rm(join(work, `${p}-${i + 1}`), { recursive: true, force: true });
  }
  console.log(
    `\nfive images (${(images.reduce((a, x) => a + x.bytes, 0) / 1e6).toFixed(0)} MB), loopback registry, vfs store, ${RUNS} runs each (interleaved, after a warm-up):`,
  );
  console.log(`  ocikit embed (one process):                     ${fmt(o)}`);
  console.log(`  skopeo inspect + copy to dir + copy to storage: ${fmt(s)}`);
  console.log(`  ratio reference/ocikit:                         ${(mean(s) / mean(o)).toFixed(2)}x (target >= 1.5x)`);
} finally {
  await reg?.stop();
  await rm(work, { recursive: true, force: true });
}
