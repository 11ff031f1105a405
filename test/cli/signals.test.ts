/**
 * Signals and argument files, on whole `bin/ocikit` processes: a FIFO given where a file belongs
 * (inputs, options, sources, auth file) is refused at once instead of holding the process in an
 * open(2) that waits for a writer; SIGINT, SIGTERM and SIGHUP end a process blocked on a loopback
 * server that never answers with 130, 143 and 129, leaving no temporaries; a process whose
 * operation cannot unwind (blocked in the kernel) still ends after the grace period; and one whose
 * stdout reader went away ends quietly with 141, as a program killed by SIGPIPE.
 */
import * as assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { GRACE_MS, PIPE_STATUS, SIGNAL_STATUS } from '../../src/cli/main.js';
import { tempDir } from '../helpers/tmp.js';
import { ACCEPT_ANYTHING_POLICY } from '../helpers/trust-policy.js';

const BIN = fileURLToPath(new URL('../../../bin/ocikit', import.meta.url));
const D = (c: string) => `sha256:${c.repeat(64)}`;

interface Ended {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
  /** Milliseconds from the start (or from `mark()`) to the end. */
  readonly ms: number;
}

/**
 * Starts `ocikit ARGS`; the process is SIGKILLed after `limitMs` (then the test fails on `killed`).
 * `mark()` restarts the clock (when the signal is sent).
 */
function start(args: string[], cwd: string, limitMs = 10_000) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  let t0 = Date.now();
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill('SIGKILL');
  }, limitMs);
  const ended = new Promise<Ended & { killed: boolean }>((resolve) =>
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stderr, ms: Date.now() - t0, killed });
    }),
  );
  return {
    child,
    ended,
    stderr: () => stderr,
    mark: () => {
      t0 = Date.now();
    },
  };
}

/** Polls `check` every 20 ms until it is true, at most `ms`. */
async function waitUntil(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A FIFO in a fresh directory (nothing ever opens its other end). */
async function fifo(t: TestContext): Promise<{ dir: string; fifo: string }> {
  const dir = await tempDir(t);
  const f = join(dir, 'fifo');
  execFileSync('mkfifo', [f]);
  return { dir, fifo: f };
}

/** An osbuild skopeo source naming one image on `host`. */
function sources(host: string) {
  return {
    'org.osbuild.skopeo': {
      items: { [D('a')]: { image: { name: `${host}/test/x`, digest: D('b'), 'tls-verify': false } } },
    },
  };
}

describe('argument files that are FIFOs', () => {
  const FIFO_LINE = (what: string, f: string) =>
    new RegExp(`^ocikit: ${what} ${f} is a FIFO, not a regular file \\(use '-' to read standard input\\)\\n$`);

  it('refuses an inputs file that is a FIFO at once (ocikit inputs)', async (t) => {
    const { dir, fifo: f } = await fifo(t);
    const r = await start(['inputs', f], dir, 5000).ended;
    assert.equal(r.killed, false, 'ocikit inputs must not block on the FIFO');
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, FIFO_LINE('inputs file', f));
  });

  for (const which of ['inputs', 'options'] as const) {
    it(`refuses an install --${which} file that is a FIFO at once`, async (t) => {
      const { dir, fifo: f } = await fifo(t);
      await writeFile(join(dir, 'file.json'), JSON.stringify({ images: {} }));
      const args = ['install', '--inputs', 'file.json', '--options', 'file.json', '--tree', dir];
      args[args.indexOf(`--${which}`) + 1] = f;
      const r = await start(args, dir, 5000).ended;
      assert.equal(r.killed, false, 'ocikit install must not block on the FIFO');
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, FIFO_LINE(`${which} file`, f));
    });
  }

  it('refuses a fetch --sources file that is a FIFO at once', async (t) => {
    const { dir, fifo: f } = await fifo(t);
    const r = await start(
      ['fetch', '--sources', f, '--cache', join(dir, 'cache'), '--policy', ACCEPT_ANYTHING_POLICY],
      dir,
      5000,
    ).ended;
    assert.equal(r.killed, false, 'ocikit fetch must not block on the FIFO');
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, FIFO_LINE('sources file', f));
  });

  it('refuses a fetch --authfile that is a FIFO at once, when the registry asks for credentials', async (t) => {
    const { dir, fifo: f } = await fifo(t);
    const server = createHttpServer((_req, res) => {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="ocikit-test"' });
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    t.after(() => new Promise<void>((r) => server.close(() => r())));
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    await writeFile(join(dir, 'sources.json'), JSON.stringify(sources(host)));
    const cache = join(dir, 'cache');
    const r = await start(
      ['fetch', '--sources', 'sources.json', '--cache', cache, '--authfile', f, '--policy', ACCEPT_ANYTHING_POLICY],
      dir,
      5000,
    ).ended;
    assert.equal(r.killed, false, 'ocikit fetch must not block on the FIFO');
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^ocikit: auth file ${f} is a FIFO, not a regular file\\n$`));
    assert.deepEqual(await readdir(cache), [], 'the staging directory is removed');
  });

  it('still reads standard input for -', async (t) => {
    const dir = await tempDir(t);
    const out = execFileSync(process.execPath, [BIN, 'inputs', '-'], {
      cwd: dir,
      input: JSON.stringify({ images: { path: dir, data: { archives: {} } } }),
      encoding: 'utf8',
    });
    assert.deepEqual(JSON.parse(out), {});
  });
});

describe('signals', () => {
  for (const [sig, status] of Object.entries(SIGNAL_STATUS) as [NodeJS.Signals, number][]) {
    it(`ends a fetch blocked on a server that never answers with ${status} on ${sig}, leaving no temporaries`, async (t) => {
      const sockets = new Set<Socket>();
      const silent = createServer((s) => {
        sockets.add(s);
        s.on('error', () => undefined);
      });
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
      t.after(
        () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            silent.close(() => r());
          }),
      );
      const dir = await tempDir(t);
      const host = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
      await writeFile(join(dir, 'sources.json'), JSON.stringify(sources(host)));
      const cache = join(dir, 'cache');
      const p = start(
        ['fetch', '--sources', 'sources.json', '--cache', cache, '--policy', ACCEPT_ANYTHING_POLICY],
        dir,
      );
      // Blocked for sure: its staging directory exists and the server holds its connection.
      await waitUntil(
        async () => sockets.size > 0 && (await readdir(cache).catch(() => [])).some((n) => n.startsWith('.tmp-fetch-')),
        8000,
        'the fetch to reach the silent server',
      );
      p.mark();
      p.child.kill(sig);
      const r = await p.ended;
      assert.equal(r.killed, false, `ocikit must end on ${sig}`);
      assert.equal(r.status, status, r.stderr);
      assert.equal(r.stderr, 'ocikit: interrupted\n');
      // undici settles an aborted request only once a pending connect gives up (10 s for the TLS
      // try the ping makes first); the grace period ends the process before that.
      assert.ok(r.ms < GRACE_MS + 2000, `ended in ${r.ms} ms`);
      assert.deepEqual(await readdir(cache), [], 'the staging directory is removed');
    });
  }

  it('ends a process blocked in the kernel (open of a FIFO) after the grace period', async (t) => {
    // `ocikit digest` reads pipes and devices on purpose, so its open of a FIFO blocks in libuv's
    // thread pool, where no abort reaches it and process.exit() would wait for it forever.
    const { dir, fifo: f } = await fifo(t);
    const p = start(['digest', f], dir);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await stat(f)).isFIFO(), true);
    p.mark();
    p.child.kill('SIGTERM');
    const r = await p.ended;
    assert.equal(r.killed, false, 'ocikit must end after the grace period');
    assert.ok(r.status === 143 || r.signal === 'SIGTERM', `status ${r.status}, signal ${r.signal}`);
    assert.equal(r.stderr, 'ocikit: interrupted\n');
    assert.ok(r.ms >= GRACE_MS - 100 && r.ms < GRACE_MS + 3000, `ended after ${r.ms} ms`);
  });

  it('ends quietly with 141 when the reader of its output goes away (`ocikit inputs … | head`)', async (t) => {
    const dir = await tempDir(t);
    // A large answer (about 1 MB, far more than a pipe holds): 2,000 dir images, pretty JSON.
    const images = join(dir, 'images');
    const archives: Record<string, unknown> = {};
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: D('c'), size: 2 },
      layers: [],
    });
    for (let i = 0; i < 2000; i++) {
      const id = `sha256:${i.toString(16).padStart(64, '0')}`;
      await mkdir(join(images, id), { recursive: true });
      await writeFile(join(images, id, 'manifest.json'), manifest);
      archives[id] = { format: 'dir', name: `localhost/pipe${i}:latest` };
    }
    await writeFile(join(dir, 'inputs.json'), JSON.stringify({ images: { path: images, data: { archives } } }));
    const child = spawn(process.execPath, [BIN, 'inputs', join(dir, 'inputs.json')], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    // Read the first bytes, then close the pipe, as `head -c` does.
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.stdout.destroy();
    const [status, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.on('close', (c, s) => resolve([c, s])),
    );
    clearTimeout(timer);
    assert.equal(signal, null, 'not killed');
    assert.equal(status, PIPE_STATUS);
    assert.equal(stderr, '', 'no stack trace, no message');
  });
});
