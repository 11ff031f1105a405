/**
 * TLS as skopeo 1.9.3 sets it up, differential: two docker-registry instances on HTTPS with a
 * private CA made here (one requires client certificates), and for each scenario the same
 * temporary HOME (certs.d under `.config/containers/`, a permissive policy.json) and environment
 * given to `skopeo copy docker://…@DIGEST dir:…` and to ocikit's `fetch()` (sources without
 * `tls-verify: false`). Both must reach the same outcome.
 */
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { fetch } from '../../src/fetch/fetch.js';
import { makeDirImage, type GeneratedImage } from '../helpers/images.js';
import { makePki, type TestPki } from '../helpers/pki.js';
import { pushDir, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';
import { haveTool, needTool } from '../helpers/tools.js';

const run = promisify(execFile);
const OCIKIT = new URL('../../../bin/ocikit', import.meta.url).pathname;
const TOOLS = ['skopeo', 'docker-registry', 'openssl'];

interface Setup {
  readonly pki: TestPki;
  /** HTTPS with the PKI's server certificate. */
  readonly plain: TestRegistry;
  /** HTTPS that requires a client certificate signed by the PKI's CA. */
  readonly mutual: TestRegistry;
  readonly img: GeneratedImage;
}

let setup: Setup | undefined;
const ready = haveTool('skopeo') && haveTool('docker-registry') && haveTool('openssl');

/** What `after` undoes, last first (registered at file level: hooks made inside `before` run at its end). */
const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

before(async () => {
  if (!ready) return;
  const dir = await mkdtemp(join(tmpdir(), 'ocikit-tls-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const pki = await makePki(dir);
  const server = { certificate: pki.server.certFile, key: pki.server.keyFile };
  const owner = { after: (fn: () => unknown) => cleanups.push(fn) };
  const plain = await startRegistry(owner, { tls: server });
  const mutual = await startRegistry(owner, { tls: { ...server, clientCas: [pki.ca.certFile] } });
  const img = await makeDirImage(join(dir, 'image'), { layers: 1 });
  await pushDir(img.dir, plain.host, 'ns/repo');
  const push = await mkdir(join(dir, 'push-certs'), { recursive: true }).then(() => join(dir, 'push-certs'));
  await writeFile(join(push, 'client.cert'), pki.client.cert);
  await writeFile(join(push, 'client.key'), pki.client.key);
  await pushDir(img.dir, mutual.host, 'ns/repo', { certDir: push });
  setup = { pki, plain, mutual, img };
});

/** A scenario's host: a temporary HOME with a permissive policy, and files to write under it. */
async function scenarioHome(t: TestContext, files: Record<string, Buffer> = {}): Promise<string> {
  const home = await tempDir(t, 'ocikit-tls-home-');
  const write = async (rel: string, data: Buffer | string) => {
    await mkdir(join(home, rel, '..'), { recursive: true });
    await writeFile(join(home, rel), data);
  };
  await write('.config/containers/policy.json', JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  for (const [rel, data] of Object.entries(files)) await write(rel, data);
  return home;
}

interface Outcome {
  readonly ok: boolean;
  readonly message: string;
}

async function skopeoPull(reg: TestRegistry, home: string, env: Record<string, string>, certDir?: string) {
  const out = join(home, 'skopeo-out');
  const args = ['copy', '--quiet', ...(certDir ? ['--src-cert-dir', certDir] : [])];
  args.push(`docker://${reg.host}/ns/repo@${setup!.img.manifestDigest}`, `dir:${out}`);
  try {
    await run('skopeo', args, { env: { PATH: process.env.PATH ?? '', HOME: home, ...env } });
    return { ok: true, message: '' };
  } catch (err) {
    return { ok: false, message: String((err as { stderr?: string }).stderr ?? err) };
  }
}

async function ocikitPull(reg: TestRegistry, home: string, env: Record<string, string>, certDir?: string) {
  const { img } = setup!;
  const sources = {
    'org.osbuild.skopeo': {
      items: { [img.configDigest]: { image: { name: `${reg.host}/ns/repo`, digest: img.manifestDigest } } },
    },
  };
  try {
    await fetch(sources, join(home, 'cache'), {
      env: { HOME: home, ...env },
      certDir,
      retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 5 },
    });
    return { ok: true, message: '' };
  } catch (err) {
    return { ok: false, message: `${(err as { code?: string }).code}: ${(err as Error).message}` };
  }
}

/** Runs both tools on the same host and asserts they agree with `ok`; returns both outcomes. */
async function both(
  t: TestContext,
  reg: TestRegistry,
  home: string,
  ok: boolean,
  opts: { env?: Record<string, string>; certDir?: string } = {},
): Promise<{ skopeo: Outcome; ocikit: Outcome }> {
  const env = opts.env ?? {};
  const skopeo = await skopeoPull(reg, home, env, opts.certDir);
  const ocikit = await ocikitPull(reg, home, env, opts.certDir);
  t.diagnostic(`skopeo: ${skopeo.ok ? 'success' : `failure (${skopeo.message.trim()})`}`);
  t.diagnostic(`ocikit: ${ocikit.ok ? 'success' : `failure (${ocikit.message})`}`);
  assert.equal(skopeo.ok, ok, `skopeo: ${skopeo.message}`);
  assert.equal(ocikit.ok, ok, `ocikit: ${ocikit.message}`);
  return { skopeo, ocikit };
}

const certsD = (reg: TestRegistry, file: string) => `.config/containers/certs.d/${reg.host}/${file}`;

describe('TLS setup, ocikit fetch against skopeo copy on the same HOME', () => {
  it('a CA in $HOME/.config/containers/certs.d/HOST:PORT/ca.crt: both pull', async (t) => {
    if (!needTool(t, ...TOOLS)) return;
    const { pki, plain } = setup!;
    const home = await scenarioHome(t, { [certsD(plain, 'ca.crt')]: pki.ca.cert });
    await both(t, plain, home, true);
  });

  it('no CA anywhere: both refuse the certificate, ocikit with a certificate error', async (t) => {
    if (!needTool(t, ...TOOLS)) return;
    const { plain } = setup!;
    const home = await scenarioHome(t);
    const { skopeo, ocikit } = await both(t, plain, home, false);
    assert.match(skopeo.message, /x509: certificate signed by unknown authority/);
    assert.match(ocikit.message, /^REGISTRY: .*certificate.*not signed by a trusted CA: put the CA in certs\.d/);
  });

  it('the CA only in SSL_CERT_FILE (the system trust store): both pull', async (t) => {
    if (!needTool(t, ...TOOLS)) return;
    const { pki, plain } = setup!;
    const home = await scenarioHome(t);
    await both(t, plain, home, true, { env: { SSL_CERT_FILE: pki.ca.certFile } });
  });

  it('the CA only in an SSL_CERT_DIR directory: both pull', async (t) => {
    if (!needTool(t, ...TOOLS)) return;
    const { pki, plain } = setup!;
    const home = await scenarioHome(t, { 'cadir/private-ca.pem': pki.ca.cert });
    await both(t, plain, home, true, { env: { SSL_CERT_DIR: join(home, 'cadir') } });
  });

  it('--cert-dir (skopeo --src-cert-dir) replaces certs.d: both pull, and neither reads certs.d then', async (t) => {
    if (!needTool(t, ...TOOLS)) return;
    const { pki, plain } = setup!;
    const home = await scenarioHome(t, {
      'mycerts/ca.crt': pki.ca.cert,
      // Would be refused if read: proves certs.d is not looked at with --cert-dir.
      [certsD(plain, 'stray.cert')]: pki.client.cert,
    });
    await both(t, plain, home, true, { certDir: join(home, 'mycerts') });
    // The same through the CLI.
    const sources = join(home, 'sources.json');
    const { img } = setup!;
    await writeFile(
      sources,
      JSON.stringify({
        'org.osbuild.skopeo': {
          items: { [img.configDigest]: { image: { name: `${plain.host}/ns/repo`, digest: img.manifestDigest } } },
        },
      }),
    );
    const env = { PATH: process.env.PATH ?? '', HOME: home };
    await run(OCIKIT, ['fetch', '--sources', sources, '--cache', join(home, 'cli-cache'), '--cert-dir', 'mycerts'], {
      cwd: home,
      env,
    });
    await assert.rejects(
      run(OCIKIT, ['fetch', '--sources', sources, '--cache', join(home, 'cli-cache2')], { cwd: home, env }),
      (e: { stderr: string }) => /ocikit: .*stray\.cert has no key stray\.key/.test(e.stderr),
    );
  });

  it('a registry that requires a client certificate: both pull with client.cert + client.key in certs.d', async (t) => {
    if (!needTool(t, ...TOOLS)) return;
    const { pki, mutual } = setup!;
    const home = await scenarioHome(t, {
      [certsD(mutual, 'ca.crt')]: pki.ca.cert,
      [certsD(mutual, 'client.cert')]: pki.client.cert,
      [certsD(mutual, 'client.key')]: pki.client.key,
    });
    await both(t, mutual, home, true);
  });

  it('a registry that requires a client certificate: both fail without one', async (t) => {
    if (!needTool(t, ...TOOLS)) return;
    const { pki, mutual } = setup!;
    const home = await scenarioHome(t, { [certsD(mutual, 'ca.crt')]: pki.ca.cert });
    await both(t, mutual, home, false);
  });

  it('a .cert without its .key, or a .key without its .cert: both refuse before connecting', async (t) => {
    if (!needTool(t, ...TOOLS)) return;
    const { pki, mutual } = setup!;
    const lone = await scenarioHome(t, {
      [certsD(mutual, 'ca.crt')]: pki.ca.cert,
      [certsD(mutual, 'client.cert')]: pki.client.cert,
    });
    const a = await both(t, mutual, lone, false);
    assert.match(a.skopeo.message, /missing key client\.key for client certificate client\.cert/);
    assert.match(a.ocikit.message, /^CONFIG: .*client\.cert has no key client\.key/);
    const keyOnly = await scenarioHome(t, {
      [certsD(mutual, 'ca.crt')]: pki.ca.cert,
      [certsD(mutual, 'client.key')]: pki.client.key,
    });
    const b = await both(t, mutual, keyOnly, false);
    assert.match(b.skopeo.message, /missing client certificate client\.cert for key client\.key/);
    assert.match(b.ocikit.message, /^CONFIG: .*client\.key has no certificate client\.cert/);
    assert.ok(!b.ocikit.message.includes('PRIVATE KEY'));
  });
});
