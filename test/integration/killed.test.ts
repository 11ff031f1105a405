/**
 * Real `bin/ocikit` processes killed with SIGKILL at a random moment, when they can clean nothing
 * up: a fetch from a loopback registry (through a throttling proxy, so the kill lands in the
 * middle of a blob), an install into oci from an oci-archive, and an install into
 * containers-storage by real skopeo. The next run must remove what the killed one left (the
 * cache's `.tmp-fetch-*`, the tree's hidden `.<dest>.ocikit-*` sibling, the temporary directories
 * in TMPDIR), no skopeo may outlive its ocikit, and a live concurrent run's temporaries must be
 * left alone: it still succeeds.
 *
 * Slower than most (about 15 s): the images must be large enough, and skopeo real, for a kill to
 * land while the work is under way.
 */
import * as assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type GeneratedImage, makeDirImage } from '../helpers/images.js';
import { pushDir, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';
import { haveTool, needTool } from '../helpers/tools.js';
import { ACCEPT_ANYTHING_POLICY } from '../helpers/trust-policy.js';

/** `ocikit fetch` of `sources` into `cache`, under the tests' permissive policy. */
const fetchArgs = (sources: string, cache: string) => [
  'fetch',
  '--sources',
  sources,
  '--cache',
  cache,
  '--policy',
  ACCEPT_ANYTHING_POLICY,
];

const exec = promisify(execFile);
const BIN = fileURLToPath(new URL('../../../bin/ocikit', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A started `ocikit` process. */
function ocikit(args: string[], cwd: string, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const ended = new Promise<{ status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>(
    (resolve) => child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr })),
  );
  return { pid: child.pid!, ended, kill: () => child.kill('SIGKILL') };
}

/** Polls `check` every 10 ms until it returns a value, at most `ms`. */
async function waitFor<T>(check: () => Promise<T | undefined>, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const names = (dir: string) => readdir(dir).catch(() => [] as string[]);

/** Checks that `dir` holds an entry starting with each of `prefixes` (what a killed run left). */
async function assertLeft(dir: string, prefixes: readonly string[]): Promise<void> {
  const left = await names(dir);
  for (const prefix of prefixes)
    assert.ok(
      left.some((n) => n.startsWith(prefix)),
      `the killed install left ${prefix}*: ${left.join(', ')}`,
    );
}

/** The stage options of an install into containers-storage (vfs: no mounts to undo). */
const TO_STORAGE = { type: 'containers-storage', 'storage-driver': 'vfs' } as const;

/** Live processes (not zombies) as `[pid, ppid, comm, cmdline]`. */
async function processes(): Promise<[number, number, string, string][]> {
  const out: [number, number, string, string][] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z' || state === 'X') continue;
      const cmdline = (await readFile(`/proc/${name}/cmdline`, 'utf8')).replace(/\0/g, ' ');
      out.push([Number(name), Number(ppid), comm, cmdline]);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * A loopback TCP proxy to `port` passing server bytes at about `rate` bytes a second; `hold()`
 * stops passing them (the client waits) until `release()`.
 */
async function startThrottle(t: TestContext, port: number, rate: number) {
  const sockets = new Set<Socket>();
  let held = false;
  let waiting: (() => void)[] = [];
  const server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (c: Buffer) => upstream.write(c));
    upstream.on('data', (c: Buffer) => {
      upstream.pause();
      client.write(c);
      setTimeout(() => (held ? waiting.push(() => upstream.resume()) : upstream.resume()), (c.length / rate) * 1000);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    hold: () => {
      held = true;
    },
    release: () => {
      held = false;
      for (const resume of waiting) resume();
      waiting = [];
    },
  };
}

/** A sources file naming `img` on `host`. */
async function sourcesFile(dir: string, file: string, host: string, img: GeneratedImage): Promise<string> {
  const item = { image: { name: `${host}/test/img`, digest: img.manifestDigest, 'tls-verify': false } };
  const p = join(dir, file);
  await writeFile(p, JSON.stringify({ 'org.osbuild.skopeo': { items: { [img.configDigest]: item } } }));
  return p;
}

/** One input image: its archive key, format and data, and how to put it into `images/`. */
interface Input {
  readonly key: string;
  readonly format: 'dir' | 'oci-archive' | 'containers-storage';
  readonly data?: Record<string, unknown>;
  /** Fills `<images>/<key>` (`<images>/storage` for containers-storage). */
  readonly copy: (into: string) => Promise<void>;
}

/** An install stage in a fresh directory: `images/`, inputs, options, tree, tmp, run. */
async function stage(t: TestContext, input: Input, destination: unknown) {
  const root = await tempDir(t);
  for (const d of ['images', 'tree', 'tmp', 'run']) await mkdir(join(root, d));
  await input.copy(join(root, 'images', input.format === 'containers-storage' ? 'storage' : input.key));
  const archives = { [input.key]: { format: input.format, name: 'localhost/killed:1', ...input.data } };
  await writeFile(join(root, 'inputs.json'), JSON.stringify({ images: { path: 'images', data: { archives } } }));
  await writeFile(join(root, 'options.json'), JSON.stringify({ destination }));
  const args = ['install', '--inputs', 'inputs.json', '--options', 'options.json', '--tree', 'tree'];
  return { root, tree: join(root, 'tree'), tmp: join(root, 'tmp'), args: [...args, '--runroot', 'run'] };
}

describe('after a SIGKILL', () => {
  let reg: TestRegistry | undefined;
  let work = '';
  let big: GeneratedImage;
  let small: GeneratedImage;
  let archive = '';
  let store = '';

  before(async () => {
    if (!haveTool('docker-registry') || !haveTool('skopeo')) return;
    work = await mkdtemp(join(tmpdir(), 'ocikit-killed-'));
    reg = await startRegistry();
    big = await makeDirImage(join(work, 'big'), { layers: 3, layerSize: 8 * 1024 * 1024 });
    small = await makeDirImage(join(work, 'small'));
    archive = join(work, 'big.tar');
    await exec('skopeo', ['copy', '-q', `dir:${big.dir}`, `oci-archive:${archive}:big`]);
    store = join(work, 'store');
    const spec = `[vfs@${store}+${join(work, 'run')}]`;
    await exec('skopeo', ['copy', '-q', `dir:${big.dir}`, `containers-storage:${spec}localhost/big:1`]);
    await pushDir(big.dir, reg.host, 'test/img:big');
    await pushDir(small.dir, reg.host, 'test/img:small');
  });
  after(async () => {
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const dirInput = (img: () => GeneratedImage): Input => ({
    key: img().configDigest,
    format: 'dir',
    copy: (into) => exec('cp', ['-r', img().dir, into]).then(() => undefined),
  });

  /**
   * Starts the install of `s`, SIGKILLs it a random moment (0-50 ms) after its skopeo has started,
   * and checks that skopeo dies with it within `ms` and that no process of the install is left.
   */
  async function killWhileSkopeoRuns(
    t: TestContext,
    s: { root: string; tmp: string; args: string[] },
    ms: number,
  ): Promise<void> {
    const first = ocikit(s.args, s.root, { TMPDIR: s.tmp });
    const skopeo = await waitFor(
      async () => (await processes()).find(([, ppid, comm]) => ppid === first.pid && comm === 'skopeo'),
      15_000,
      'skopeo to start',
    );
    // Should it outlive the test (the failure shown here), it is ended by its PID.
    t.after(() => {
      try {
        process.kill(skopeo[0], 'SIGKILL');
      } catch {
        // gone, as it must be
      }
    });
    await sleep(Math.floor(Math.random() * 50));
    first.kill();
    const killed = await first.ended;
    assert.equal(killed.signal, 'SIGKILL', `finished before the kill: ${killed.stderr}`);
    await waitFor(
      async () => ((await processes()).some(([pid]) => pid === skopeo[0]) ? undefined : true),
      ms,
      `skopeo (pid ${skopeo[0]}) to die with ocikit`,
    );
    assert.deepEqual(
      (await processes()).filter(([, , , cmd]) => cmd.includes(s.root)),
      [],
      'no process of the killed install is left',
    );
  }

  it('the next fetch removes the staging directory of a fetch killed mid-blob', async (t) => {
    if (!needTool(t, 'docker-registry', 'skopeo')) return;
    const dir = await tempDir(t);
    const cache = join(dir, 'cache');
    const slow = await startThrottle(t, reg!.port, 8 * 1024 * 1024);
    const first = ocikit(fetchArgs(await sourcesFile(dir, 'slow.json', slow.host, big), cache), dir);
    // Under way: a partial blob in its staging directory; then a random moment later.
    await waitFor(
      async () => {
        for (const n of await names(cache)) {
          if (!n.startsWith('.tmp-fetch-')) continue;
          const blobs = await names(join(cache, n, 'blobs'));
          if (blobs.length > 0) return true;
        }
        return undefined;
      },
      15_000,
      'a partial blob',
    );
    const delay = Math.floor(Math.random() * 1000);
    await sleep(delay);
    first.kill();
    const killed = await first.ended;
    assert.equal(killed.signal, 'SIGKILL', `still running after ${delay} ms: ${killed.stderr}`);
    const left = (await names(cache)).filter((n) => n.startsWith('.tmp-fetch-'));
    assert.equal(left.length, 1, 'the killed fetch left its staging directory');

    const second = await ocikit(fetchArgs(await sourcesFile(dir, 'fast.json', reg!.host, big), cache), dir).ended;
    assert.equal(second.status, 0, second.stderr);
    assert.deepEqual((await names(cache)).sort(), ['org.osbuild.containers'], `killed after ${delay} ms`);
    const entry = join(cache, 'org.osbuild.containers', big.configDigest, 'image');
    assert.deepEqual(await readFile(join(entry, 'manifest.json')), big.manifest);
  });

  it("a fetch never removes a live concurrent fetch's staging directory", async (t) => {
    if (!needTool(t, 'docker-registry', 'skopeo')) return;
    const dir = await tempDir(t);
    const cache = join(dir, 'cache');
    const slow = await startThrottle(t, reg!.port, 8 * 1024 * 1024);
    // The first run is held in the middle of its blobs until the second one is done.
    slow.hold();
    const first = ocikit(fetchArgs(await sourcesFile(dir, 'slow.json', slow.host, big), cache), dir);
    let firstEnded = false;
    void first.ended.then(() => (firstEnded = true));
    const staging = await waitFor(
      async () => (await names(cache)).find((n) => n.startsWith('.tmp-fetch-')),
      15_000,
      'the first staging directory',
    );
    // The second run needs a staging directory of its own (its image is not cached), so it sweeps.
    const second = await ocikit(fetchArgs(await sourcesFile(dir, 'small.json', reg!.host, small), cache), dir).ended;
    assert.equal(second.status, 0, second.stderr);
    assert.equal(firstEnded, false, 'the first run is still held');
    assert.ok((await names(cache)).includes(staging), "the live run's staging directory is still there");
    slow.release();
    const done = await first.ended;
    assert.equal(done.status, 0, done.stderr);
    assert.deepEqual((await names(join(cache, 'org.osbuild.containers'))).sort(), [
      ...[big, small].map((i) => i.configDigest).sort(),
    ]);
    assert.deepEqual((await names(cache)).sort(), ['org.osbuild.containers']);
  });

  it('the next install removes the hidden sibling and extraction of an install into oci killed mid-copy', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const s = await stage(
      t,
      { key: 'big.tar', format: 'oci-archive', copy: (into) => exec('cp', [archive, into]).then(() => undefined) },
      { type: 'oci', path: '/usr/share/containers/oci' },
    );
    const parent = join(s.tree, 'usr/share/containers');
    // A kill must land while the sibling exists; a fast machine may finish first: a few tries.
    let leftover: string[] = [];
    for (let attempt = 0; attempt < 5 && leftover.length === 0; attempt++) {
      await rm(join(parent, 'oci'), { recursive: true, force: true });
      const first = ocikit(s.args, s.root, { TMPDIR: s.tmp });
      await waitFor(
        async () => ((await names(parent)).some((n) => n.startsWith('.oci.ocikit-')) ? true : undefined),
        15_000,
        'the hidden sibling',
      );
      await sleep(Math.floor(Math.random() * 20));
      first.kill();
      await first.ended;
      leftover = (await names(parent)).filter((n) => n.startsWith('.oci.ocikit-'));
    }
    assert.equal(leftover.length, 1, 'a killed install left its hidden sibling in the tree');
    assert.ok(
      (await names(s.tmp)).some((n) => n.startsWith('ocikit-oci-archive-')),
      'and its extraction',
    );

    await rm(join(parent, 'oci'), { recursive: true, force: true });
    const second = await ocikit(s.args, s.root, { TMPDIR: s.tmp }).ended;
    assert.equal(second.status, 0, second.stderr);
    assert.deepEqual(await names(parent), ['oci'], 'nothing hidden ships in the tree');
    assert.deepEqual(await names(s.tmp), [], 'no temporary directory is left in TMPDIR');
  });

  it('no skopeo outlives a killed install into containers-storage, and the next install cleans up', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const s = await stage(
      t,
      dirInput(() => big),
      TO_STORAGE,
    );
    await killWhileSkopeoRuns(t, s, 5000);
    await assertLeft(s.tmp, ['ocikit-source-', 'ocikit-skopeo-']);

    const second = await ocikit([...s.args, '--json'], s.root, { TMPDIR: s.tmp }).ended;
    assert.equal(second.status, 0, second.stderr);
    assert.equal(JSON.parse(second.stdout).images[0].imageId, big.configDigest);
    assert.deepEqual(await names(s.tmp), [], 'no temporary directory is left in TMPDIR');
  });

  it('no skopeo outlives a killed install into oci from a containers-storage input, and the next install cleans up', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const input: Input = {
      key: big.configDigest,
      format: 'containers-storage',
      data: { storage: { driver: 'vfs' } },
      copy: (into) => exec('cp', ['-a', store, into]).then(() => undefined),
    };
    const s = await stage(t, input, { type: 'oci', path: '/usr/share/containers/oci' });
    // The kill must land while skopeo still runs (its temporary directory exists only then); on
    // a loaded machine skopeo may be seen late and finish first: a few tries. Every try's
    // leftovers stay for the next install to clean up.
    for (let attempt = 0; attempt < 5; attempt++) {
      await killWhileSkopeoRuns(t, s, 5000);
      if ((await names(s.tmp)).some((n) => n.startsWith('ocikit-skopeo-'))) break;
    }
    await assertLeft(s.tmp, ['ocikit-source-', 'ocikit-install-', 'ocikit-skopeo-']);

    const second = await ocikit(s.args, s.root, { TMPDIR: s.tmp }).ended;
    assert.equal(second.status, 0, second.stderr);
    assert.deepEqual(await names(join(s.tree, 'usr/share/containers')), ['oci']);
    assert.deepEqual(await names(s.tmp), [], 'no temporary directory is left in TMPDIR');
  });

  it('a skopeo blocked for good dies with its killed ocikit (PR_SET_PDEATHSIG)', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const s = await stage(
      t,
      dirInput(() => small),
      TO_STORAGE,
    );
    // Its layer is a FIFO nobody writes: skopeo's open of it never returns, and skopeo writes
    // nothing meanwhile (no broken pipe would end it). Only the kernel can stop it.
    const layer = join(s.root, 'images', small.configDigest, small.layers[0]!.digest.slice(7));
    await rm(layer);
    await exec('mkfifo', [layer]);
    await killWhileSkopeoRuns(t, s, 500);
  });

  it("an install never removes a live concurrent install's temporary directories", async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const storage = { type: 'containers-storage', 'storage-driver': 'vfs' };
    const a = await stage(
      t,
      dirInput(() => big),
      storage,
    );
    const b = await stage(
      t,
      dirInput(() => small),
      storage,
    );
    const first = ocikit(a.args, a.root, { TMPDIR: a.tmp });
    await waitFor(
      async () =>
        (await processes()).some(([, ppid, comm]) => ppid === first.pid && comm === 'skopeo') ? true : undefined,
      15_000,
      'the first skopeo to start',
    );
    const held = await names(a.tmp);
    // The second install shares TMPDIR, so it sweeps the prefixes the first one uses there.
    const second = await ocikit(b.args, b.root, { TMPDIR: a.tmp }).ended;
    assert.equal(second.status, 0, second.stderr);
    const done = await first.ended;
    assert.equal(done.status, 0, `the first install failed after ${held.join(', ')}: ${done.stderr}`);
    assert.deepEqual(await names(a.tmp), []);
  });
});
