/**
 * Installs that run at the same time as something else in the tree.
 *
 * - Two real `bin/ocikit install` processes into one tree, one failing late (a blob with the wrong
 *   digest, delivered through a FIFO so the order is fixed: the failing install has created the
 *   shared parent, the other one finishes, then the bad bytes arrive): the successful one's result
 *   is intact afterwards, for a native destination and for containers-storage (podman sees it).
 * - A second process swapping a parent directory of the destinations for a symlink out of the
 *   tree and back, for a bounded time, while installs run one after another: nothing ever
 *   appears in the directory the symlink points to, and every install either succeeds inside the
 *   tree or fails with an `ocikit` error, leaving no temporary behind.
 */
import * as assert from 'node:assert/strict';
import { constants as fsc, watch } from 'node:fs';
import { chmod, open, readdir, rename, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { isOcikitError } from '../../src/errors.js';
import { install } from '../../src/install/install.js';
import { openDirImage } from '../../src/transports/dir/read.js';
import { makeDirImage } from '../helpers/images.js';
import {
  type Env,
  addDirImage,
  env,
  flipByte,
  inputs,
  listTree,
  podmanInspect,
  req,
  storageOptions,
  store,
} from '../helpers/install-env.js';
import { type ProcessResult, runNode } from '../helpers/process.js';
import { needTool } from '../helpers/tools.js';

const BIN = fileURLToPath(new URL('../../../bin/ocikit', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One `ocikit install` process, killed when the test ends if it still runs. */
function startInstall(
  t: TestContext,
  e: Env,
  name: string,
  inp: unknown,
  options: unknown,
  extraEnv: Record<string, string> = {},
) {
  const files = { inputs: join(e.root, `${name}.inputs.json`), options: join(e.root, `${name}.options.json`) };
  let pid = 0;
  let exited = false;
  const args = [BIN, 'install', '--inputs', files.inputs, '--options', files.options, '--tree', e.tree];
  const run = (async (): Promise<ProcessResult> => {
    await writeFile(files.inputs, JSON.stringify(inp));
    await writeFile(files.options, JSON.stringify(options));
    const r = await runNode([...args, '--runroot', e.runroot], {
      env: { TMPDIR: e.tmpdir, ...extraEnv },
      onSpawn: (p) => (pid = p),
    });
    exited = true;
    return r;
  })();
  t.after(() => {
    if (!exited && pid) process.kill(pid, 'SIGKILL');
  });
  return { done: run, exited: () => exited };
}

/**
 * Opens `fifo` for writing once a reader has it open (non-blocking polls, so no thread waits
 * forever); fails when nobody reads it within `ms` or the process reading it has exited.
 */
async function readerWaiting(fifo: string, ms: number, exited: () => boolean) {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await open(fifo, fsc.O_WRONLY | fsc.O_NONBLOCK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENXIO') throw err;
    }
    if (exited() || Date.now() > until) throw new Error(`nobody opened ${fifo} for reading within ${ms} ms`);
    await sleep(20);
  }
}

describe('two installs into one tree, one failing late', () => {
  it('leaves the successful native destination intact under a parent both needed (oci and dir)', async (t) => {
    const e = await env(t);
    // The failing install: a containers-storage input, which a fake skopeo "copies" into the
    // install's temporary dir: only after the test lets it go, and with one blob spoilt.
    const bad = await makeDirImage(join(e.root, 'bad'), { layerSize: 4096 });
    await flipByte(join(bad.dir, bad.layers[0]!.digest.slice(7)));
    const fifo = join(e.root, 'go');
    execFileSync('mkfifo', [fifo]);
    const fake = join(e.root, 'fake-skopeo');
    await writeFile(
      fake,
      `#!/bin/sh\nfor a in "$@"; do last="$a"; done\ncat "$FAKE_GO" >/dev/null\nmkdir -p "\${last#dir:}"\ncp "$FAKE_IMAGE"/* "\${last#dir:}"/\n`,
    );
    await chmod(fake, 0o755);
    await mkdir(join(e.images, 'storage'));
    const storageKey = `sha256:${'e'.repeat(64)}`;
    const a = startInstall(
      t,
      e,
      'a',
      inputs(e, {
        [storageKey]: { format: 'containers-storage', name: 'localhost/a:latest', storage: { driver: 'vfs' } } as never,
      }),
      { destination: { type: 'oci', path: '/usr/share/new/a' } },
      { OCIKIT_SKOPEO: fake, FAKE_GO: fifo, FAKE_IMAGE: bad.dir },
    );
    const good = await addDirImage(e);
    const go = await readerWaiting(fifo, 20_000, a.exited);
    try {
      assert.deepEqual(await listTree(e.tree), ['usr', 'usr/share', 'usr/share/new'], 'a created the parents');
      const b = startInstall(
        t,
        e,
        'b',
        inputs(e, { [good.configDigest]: { format: 'dir', name: 'localhost/b:latest' } }),
        { destination: { type: 'dir', path: '/usr/share/new/b' } },
      );
      const rb = await b.done;
      assert.equal(rb.status, 0, rb.stderr);
    } finally {
      await go.close();
    }
    const ra = await a.done;
    assert.equal(ra.status, 1, ra.stderr);
    assert.match(ra.stderr, /^ocikit: .*(digest|sha256)/);
    assert.deepEqual(await readdir(join(e.tree, 'usr/share/new')), ['b'], 'b stays, a left nothing');
    const image = await openDirImage(join(e.tree, 'usr/share/new/b'));
    assert.equal(image.manifest.digest, good.manifestDigest);
    await image.close();
    assert.deepEqual(await readdir(e.tmpdir), []);
  });

  it('leaves the successful image in a containers-storage store both wrote into (podman sees it)', async (t) => {
    if (!needTool(t, 'skopeo', 'podman')) return;
    const e = await env(t);
    // The failing install: its layer is a FIFO, so skopeo blocks reading it until the test
    // writes bytes that do not match the digest.
    const bad = await addDirImage(e, { layerSize: 4096 });
    const fifo = join(bad.dir, bad.layers[0]!.digest.slice(7));
    await rename(fifo, `${fifo}.orig`);
    execFileSync('mkfifo', [fifo]);
    const a = startInstall(
      t,
      e,
      'a',
      inputs(e, { [bad.configDigest]: { format: 'dir', name: 'localhost/a:latest' } }),
      storageOptions(),
    );
    const blob = await readerWaiting(fifo, 20_000, a.exited);
    try {
      const good = await addDirImage(e);
      const b = startInstall(
        t,
        e,
        'b',
        inputs(e, { [good.configDigest]: { format: 'dir', name: 'localhost/b:latest' } }),
        storageOptions(),
      );
      const rb = await b.done;
      assert.equal(rb.status, 0, rb.stderr);
      await blob.write(Buffer.alloc(4096, 7));
    } finally {
      await blob.close();
    }
    const ra = await a.done;
    assert.equal(ra.status, 1, ra.stderr);
    assert.match(ra.stderr, /^ocikit: /);
    const info = await podmanInspect(e, 'localhost/b:latest');
    assert.ok(typeof info.Id === 'string');
    assert.ok((await readdir(store(e))).length > 0);
    assert.deepEqual(await readdir(e.tmpdir), []);
  });
});

/**
 * The swapping process: `TREE/p` becomes a symlink out of the tree (absolute, or `../outside`) and
 * back, until time is up; prints how many times it swapped. Every step may race with an install
 * (which may create a new `p` while the real one is away): a step that fails is skipped, and a `p`
 * in the way is moved aside, inside the tree.
 */
const SWAPPER = `
const fs = require('node:fs');
const [tree, out, ms] = process.argv.slice(1);
const p = tree + '/p', real = tree + '/p.real';
const end = Date.now() + Number(ms);
const attempt = (f) => { try { f(); return true; } catch { return false; } };
let n = 0, swaps = 0;
while (Date.now() < end && n < 1000000) {
  n++;
  if (!attempt(() => fs.renameSync(p, real))) { attempt(() => fs.mkdirSync(p)); continue; }
  const target = n % 2 ? out : '../outside';
  if (!attempt(() => fs.symlinkSync(target, p))) attempt(() => fs.renameSync(p, tree + '/stray-a' + n)) && attempt(() => fs.symlinkSync(target, p));
  if (attempt(() => fs.lstatSync(p).isSymbolicLink() && fs.unlinkSync(p))) swaps++;
  if (!attempt(() => fs.renameSync(real, p))) attempt(() => fs.renameSync(p, tree + '/stray-b' + n)) && attempt(() => fs.renameSync(real, p));
}
console.log(swaps);
`;

describe('installs while a parent directory is swapped for a symlink out of the tree', () => {
  it('never writes outside the tree; each install succeeds inside or fails with an ocikit error', async (t) => {
    const withStorage = needTool(t, 'skopeo');
    const e = await env(t);
    const outside = join(e.root, 'outside'); // what both symlinks (absolute, and ../outside) reach
    await mkdir(outside);
    await mkdir(join(e.tree, 'p'));
    const img = await addDirImage(e);
    const inp = inputs(e, { [img.configDigest]: { format: 'dir', name: 'localhost/swap:latest' } });
    const seen: string[] = [];
    const watcher = watch(outside, (_event, name) => seen.push(String(name)));
    t.after(() => watcher.close());

    const swapper = runNode(['-e', SWAPPER, e.tree, outside, '3000']);
    const types = ['oci', 'dir', 'oci-archive'] as const;
    const outcomes = { ok: [] as string[], failed: new Map<string, number>() };
    let swapping = true;
    const swapped = swapper.finally(() => (swapping = false));
    for (let i = 0; swapping && i < 2000; i++) {
      const storage = withStorage && i % 10 === 5;
      const options = storage
        ? { destination: { type: 'containers-storage', 'storage-driver': 'vfs', 'storage-path': `/p/s${i}` } }
        : { destination: { type: types[i % 3], path: i % 2 ? `/p/out-${i}` : `/p/sub${i}/out-${i}` } };
      try {
        await install(req(e, inp, options));
        outcomes.ok.push(storage ? `s${i}` : `out-${i}`);
      } catch (err) {
        assert.ok(isOcikitError(err), `install ${i} failed with something other than an ocikit error: ${String(err)}`);
        outcomes.failed.set(err.code, (outcomes.failed.get(err.code) ?? 0) + 1);
      }
    }
    const r = await swapped;
    assert.equal(r.status, 0, r.stderr);
    assert.ok(Number(r.stdout) >= 100, `the swapper swapped only ${r.stdout} times`);
    await sleep(50); // let the watcher report anything pending
    assert.deepEqual(seen, [], 'nothing may ever appear outside the tree');
    assert.deepEqual(await readdir(outside), []);
    const all = await listTree(e.tree);
    assert.deepEqual(
      all.filter((f) => f.includes('.ocikit-')),
      [],
      'no temporary may remain in the tree',
    );
    for (const name of outcomes.ok) {
      assert.ok(
        all.some((f) => f.endsWith(`/${name}`)),
        `${name} was reported installed and must be in the tree`,
      );
    }
    assert.deepEqual(await readdir(e.tmpdir), []);
    t.diagnostic(`swaps ${r.stdout.trim()}, ok ${outcomes.ok.length}, failed ${JSON.stringify([...outcomes.failed])}`);
  });
});
