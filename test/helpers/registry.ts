/**
 * A real registry for tests: Debian's `docker-registry` (distribution 2.8) on a free 127.0.0.1
 * port with a temporary storage directory and no auth (its own config file, keys as distribution's
 * `docs/configuration.md` describes them; the packaged /etc/docker/registry/config.yml wants
 * htpasswd and listens on every interface), plus pushing `dir:` images to it
 * with skopeo. Use one registry per test file: skopeo's blob-info cache can turn a push to a new
 * repository into a cross-repository mount, which is only sound on the registry that saw the blob.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { type GeneratedImage, makeDirImage, makeList, writeListDir } from './images.js';

const run = promisify(execFile);

/** HTTPS for {@link startRegistry}: distribution's `http.tls` keys (files in PEM). */
export interface RegistryTls {
  /** `http.tls.certificate`: the server certificate. */
  readonly certificate: string;
  /** `http.tls.key`: its key. */
  readonly key: string;
  /** `http.tls.clientcas`: when given, clients must present a certificate signed by one of these CAs. */
  readonly clientCas?: readonly string[];
}

/** A running registry. */
export interface TestRegistry {
  /** `127.0.0.1:<port>` */
  readonly host: string;
  readonly port: number;
  readonly root: string;
  /** Stops the registry (idempotent) and removes its storage. */
  stop(): Promise<void>;
  /** Stops the registry but keeps the storage (a later {@link TestRegistry.restart} serves it again). */
  pause(): Promise<void>;
  restart(): Promise<void>;
}

/** Finds a free loopback TCP port. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function get(url: string): Promise<number> {
  return new Promise((resolve) => {
    const https = url.startsWith('https:');
    const answered = (res: { resume(): void; statusCode?: number | undefined }) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    };
    const req = https ? httpsRequest(url, { rejectUnauthorized: false }, answered) : request(url, answered);
    // An HTTPS registry that wants a client certificate ends the handshake: it is up all the same.
    req.on('error', (e: NodeJS.ErrnoException) => resolve(https && e.code !== 'ECONNREFUSED' ? 200 : 0));
    req.setTimeout(1000, () => req.destroy());
    req.end();
  });
}

/**
 * Starts a registry; `t.after` (a test context, or `{ after }` from node:test) stops it. With
 * `opts.tls` it serves HTTPS (and may require client certificates).
 * @throws when the registry does not answer `/v2/` within 10 s (its log is in the message).
 */
export async function startRegistry(
  t?: { after(fn: () => unknown): void },
  opts: { tls?: RegistryTls } = {},
): Promise<TestRegistry> {
  const root = await mkdtemp(join(tmpdir(), 'ocikit-registry-'));
  const port = await freePort();
  const config = join(root, 'config.yml');
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(root, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      ...(opts.tls
        ? [
            '  tls:',
            `    certificate: ${opts.tls.certificate}`,
            `    key: ${opts.tls.key}`,
            ...(opts.tls.clientCas ? ['    clientcas:', ...opts.tls.clientCas.map((c) => `      - ${c}`)] : []),
          ]
        : []),
      '',
    ].join('\n'),
  );
  let child: ChildProcess | undefined;
  let log = '';
  const start = async () => {
    child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (c: Buffer) => (log += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (log += c.toString()));
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if ((await get(`${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}/v2/`)) === 200) return;
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    throw new Error(`docker-registry did not come up on port ${port}:\n${log}`);
  };
  const halt = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };
  await start();
  let stopped = false;
  const reg: TestRegistry = {
    host: `127.0.0.1:${port}`,
    port,
    root,
    async stop() {
      if (stopped) return;
      stopped = true;
      await halt();
      await rm(root, { recursive: true, force: true });
    },
    pause: halt,
    restart: start,
  };
  t?.after(() => reg.stop());
  return reg;
}

/**
 * Pushes the `dir:` image at `dir` to `docker://<host>/<repo>` with skopeo (`multiArch` pushes
 * every instance of a list; `certDir` is skopeo's `--dest-cert-dir`, for a registry that wants a
 * client certificate).
 */
export async function pushDir(
  dir: string,
  host: string,
  repo: string,
  opts: { multiArch?: boolean; certDir?: string } = {},
): Promise<void> {
  const args = ['copy', '--quiet', '--dest-tls-verify=false'];
  if (opts.certDir) args.push('--dest-cert-dir', opts.certDir);
  if (opts.multiArch) args.push('--multi-arch', 'all');
  args.push(`dir:${dir}`, `docker://${host}/${repo}`);
  await run('skopeo', args, { maxBuffer: 16 * 1024 * 1024 });
}

/**
 * Makes two `dir:` images under `work`, linux/amd64 and linux/arm64/v8, and pushes their OCI
 * index to `docker://<host>/<repo>` with every instance (skopeo `--multi-arch all`).
 */
export async function pushTwoPlatformList(
  work: string,
  host: string,
  repo: string,
): Promise<{ amd: GeneratedImage; arm: GeneratedImage; listDigest: string }> {
  const amd = await makeDirImage(join(work, 'amd'), { platform: { architecture: 'amd64', os: 'linux' } });
  const arm = await makeDirImage(join(work, 'arm'), {
    platform: { architecture: 'arm64', os: 'linux', variant: 'v8' },
  });
  const list = makeList([amd, arm]);
  await writeListDir(join(work, 'list'), list, [amd, arm]);
  await pushDir(join(work, 'list'), host, repo, { multiArch: true });
  return { amd, arm, listDigest: list.digest };
}
