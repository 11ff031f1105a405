#!/usr/bin/env node
// Benchmark for `ocikit deploy` (issue "Deploy"), whole processes, in one run:
//
// 1. bench/deploy-image.sh builds the realistic two-layer image (this machine's /usr/share and
//    python3.11 plus a synthetic base with every special case; `--small`: /usr/share/man only);
//    skopeo converts its OCI layout once into a `dir:` image, the deploy input.
// 2. Interleaved, RUNS times each (after a warm-up), every run into a fresh directory:
//    - floor: `tar -xzf` of each layer in turn (GNU tar; it ignores whiteouts, and it cannot put
//      the file `etc/bar.d` over the directory of layer 1, so its status 2 is accepted);
//    - `ocikit deploy --inputs … --tree …` (peak RSS from /usr/bin/time);
//    - `umoci unpack --image oci:…:deploy BUNDLE`;
//    - osbuild's path (org.osbuild.container-deploy): `skopeo copy dir:… containers-storage:[vfs@…]`,
//      `podman image mount`, `cp -a MOUNT/. TREE/`, `podman image umount`, `podman rmi`.
// 3. Prints min and median per tool, ocikit's ratio to each (targets: ≤ 1.5x the floor's
//    minimum, ≥ 2x faster than umoci, ≥ 4x faster than the osbuild path) and ocikit's peak RSS
//    (target ≤ 200 MB).
//
// Usage: npm run build && node bench/deploy.mjs [--runs 3] [--small] [--keep] [--work DIR]
//   --work DIR: where the image, the trees and the store live (default: under $TMPDIR). On this
//   kind of VM disk the file-creating runs are bimodal for reasons outside the tools (writeback
//   and `discard` state: the same `tar -xzf` takes 4 s or 20 s); `--work /dev/shm` (tmpfs)
//   measures the tools' own cost, and there each round's trees are removed after the round.
// Needs root, GNU tar, gzip, zstd, attr, libcap2-bin, skopeo, podman, umoci, /usr/bin/time.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const RUNS = opt('--runs', 3);
const SMALL = flag('--small');
const workAt = args.indexOf('--work');
const WORK_PARENT = workAt >= 0 ? args[workAt + 1] : tmpdir();
const OCIKIT = join(root, 'bin', 'ocikit');

for (const tool of ['/usr/bin/time', 'skopeo', 'podman', 'umoci', 'tar', 'zstd', 'setfattr', 'setcap']) {
  const r = spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
  if (r.status !== 0) {
    console.error(
      `bench/deploy: ${tool} is missing (apt-get install -y time skopeo podman umoci zstd attr libcap2-bin)`,
    );
    process.exit(1);
  }
}
if (process.getuid?.() !== 0) {
  console.error('bench/deploy: run as root (device nodes, owners, security.* xattrs)');
  process.exit(1);
}

function run(argv, { ok = [0], env } = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: env ?? process.env,
  });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (!ok.includes(r.status)) throw new Error(`${argv.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}`);
  return { s, stdout: r.stdout, stderr: r.stderr };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const min = (xs) => Math.min(...xs);
const f = (x) => `${x.toFixed(2)} s`;

const work = await mkdtemp(join(WORK_PARENT, 'ocikit-bench-deploy-'));
const onTmpfs = spawnSync('stat', ['-f', '-c', '%T', WORK_PARENT], { encoding: 'utf8' }).stdout.trim() === 'tmpfs';
let n = 0;
const fresh = async (what) => {
  const d = join(work, 'out', `${what}-${n++}`);
  await mkdir(d, { recursive: true });
  return d;
};
try {
  console.log(`building the ${SMALL ? 'small' : 'realistic'} image (bench/deploy-image.sh)…`);
  run(['bash', join(root, 'bench/deploy-image.sh'), join(work, 'img'), ...(SMALL ? ['--small'] : [])]);
  const oci = join(work, 'img', 'oci');
  const dirImage = join(work, 'in', 'images', 'image');
  await mkdir(join(work, 'in', 'images'), { recursive: true });
  const policy = join(work, 'policy.json');
  await writeFile(policy, '{"default":[{"type":"insecureAcceptAnything"}]}');
  run(['skopeo', '--policy', policy, 'copy', '--quiet', `oci:${oci}:deploy`, `dir:${dirImage}`]);
  const inspect = JSON.parse(run(['skopeo', 'inspect', '--raw', `dir:${dirImage}`]).stdout);
  const imageId = inspect.config.digest;
  const { rename } = await import('node:fs/promises');
  await rename(dirImage, join(work, 'in', 'images', imageId));
  const inputs = join(work, 'inputs.json');
  await writeFile(
    inputs,
    JSON.stringify({
      images: {
        path: join(work, 'in', 'images'),
        data: { archives: { [imageId]: { format: 'dir', name: 'localhost/deploy:latest' } } },
      },
    }),
  );
  const layers = inspect.layers.map((l) => join(oci, 'blobs', 'sha256', l.digest.slice(7)));
  const store = join(work, 'store');
  const runroot = join(work, 'runroot');
  const podman = ['podman', '--root', store, '--runroot', runroot, '--storage-driver', 'vfs'];

  const tools = {
    floor: async () => {
      const d = await fresh('floor');
      // status 2: GNU tar cannot replace layer 1's directory etc/bar.d by layer 2's file
      return layers.reduce((s, l, i) => s + run(['tar', '-C', d, '-xzf', l], { ok: i === 0 ? [0] : [0, 2] }).s, 0);
    },
    ocikit: async () => {
      const d = await fresh('ocikit');
      const r = run(['/usr/bin/time', '-f', '@@ %e %M', OCIKIT, 'deploy', '--inputs', inputs, '--tree', d]);
      const m = /@@ ([\d.]+) (\d+)/.exec(r.stderr);
      rss.push(Number(m[2]) / 1024);
      return r.s;
    },
    umoci: async () => {
      const d = await fresh('umoci');
      await rm(d, { recursive: true });
      return run(['umoci', 'unpack', '--image', `${oci}:deploy`, d]).s;
    },
    osbuild: async () => {
      const d = await fresh('osbuild');
      const name = `localhost/deploy-bench:${n}`;
      let s = run([
        'skopeo',
        '--policy',
        policy,
        'copy',
        '--quiet',
        `dir:${join(work, 'in', 'images', imageId)}`,
        `containers-storage:[vfs@${store}+${runroot}]${name}`,
      ]).s;
      const mount = run([...podman, 'image', 'mount', name]);
      s += mount.s;
      s += run(['cp', '-a', `${mount.stdout.trim()}/.`, `${d}/`]).s;
      s += run([...podman, 'image', 'umount', name]).s;
      s += run([...podman, 'rmi', name]).s;
      return s;
    },
  };
  const rss = [];
  const times = Object.fromEntries(Object.keys(tools).map((k) => [k, []]));
  for (let i = -1; i < RUNS; i++) {
    for (const [k, fn] of Object.entries(tools)) {
      const s = await fn();
      if (i >= 0) times[k].push(s);
    }
    // every run writes into a fresh directory; on a disk nothing is deleted until the end (on a
    // `discard` mount, deleting a large tree just before makes the next writer's kernel time
    // several times larger: docs/deploy.md, "Benchmark"); on tmpfs each round's trees go now
    if (onTmpfs) await rm(join(work, 'out'), { recursive: true, force: true });
    spawnSync('sync');
  }
  console.log(
    `\n${SMALL ? 'small' : 'realistic'} image, ${layers.length} gzip layers, ${RUNS} runs each (interleaved, after a warm-up), on ${onTmpfs ? 'tmpfs' : 'disk'}:`,
  );
  console.log('  tool                 min       median');
  for (const [k, xs] of Object.entries(times))
    console.log(`  ${k.padEnd(18)} ${f(min(xs)).padStart(8)}  ${f(median(xs)).padStart(8)}`);
  const o = min(times.ocikit);
  console.log(`  ocikit / floor (min):    ${(o / min(times.floor)).toFixed(2)}x (target <= 1.5x)`);
  console.log(`  umoci / ocikit (min):    ${(min(times.umoci) / o).toFixed(2)}x (target >= 2x)`);
  console.log(`  osbuild / ocikit (min):  ${(min(times.osbuild) / o).toFixed(2)}x (target >= 4x)`);
  console.log(`  ocikit peak RSS:         ${Math.max(...rss).toFixed(0)} MB (target <= 200 MB)`);
} finally {
  if (!flag('--keep')) {
    spawnSync(
      'podman',
      [
        '--root',
        join(work, 'store'),
        '--runroot',
        join(work, 'runroot'),
        '--storage-driver',
        'vfs',
        'system',
        'reset',
        '-f',
      ],
      { stdio: 'ignore' },
    );
    await rm(work, { recursive: true, force: true });
  } else console.log(`kept ${work}`);
  if (!existsSync(work)) console.log('(work directory removed)');
}
