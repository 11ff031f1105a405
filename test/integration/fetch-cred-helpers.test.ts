/**
 * Credential helpers, identity tokens and the auth-file order, differential against skopeo 1.9.3:
 * each scenario runs `skopeo copy docker://…@DIGEST dir:…` and ocikit `fetch()` with the same
 * temporary HOME and PATH (a `docker-credential-ocikit-test` script first on it,
 * test/helpers/cred-helper.ts) against a token gate (test/helpers/token-gate.ts) in front of a real
 * docker-registry, and asserts the same outcome: success or failure, and the same kinds of token
 * requests (Basic GET, refresh-token POST, anonymous GET) granted or refused.
 */
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { fetch } from '../../src/fetch/fetch.js';
import { type HelperAnswer, writeCredHelper } from '../helpers/cred-helper.js';
import { type GeneratedImage, makeDirImage } from '../helpers/images.js';
import { pushDir, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { type GateRequest, startTokenGate } from '../helpers/token-gate.js';
import { tempDir } from '../helpers/tmp.js';
import { haveTool, needTool } from '../helpers/tools.js';

const run = promisify(execFile);
const SECRETS = { user: 'gate-user', password: 'gate-password-secret', refreshToken: 'gate-refresh-secret' };
const basicAuth = (user: string, password: string) => ({ auth: Buffer.from(`${user}:${password}`).toString('base64') });

interface Scenario {
  /** The helper's answer (no helper on PATH when absent). */
  readonly helper?: HelperAnswer;
  /** Files under HOME, by path relative to it, given the gate's host (JSON documents; a string is written as is). */
  readonly files: (host: string) => Record<string, unknown>;
  /** An explicit auth file, relative to HOME: as `--authfile`, or as `REGISTRY_AUTH_FILE`. */
  readonly authFile?: { readonly path: string; readonly via: 'option' | 'env' };
}

interface Outcome {
  readonly ok: boolean;
  /** The distinct token requests: `GET basic granted`, `POST refresh_token granted`, … */
  readonly tokenRequests: string[];
  /** Whether Basic credentials ever reached a /v2/ URL. */
  readonly basicToRegistry: boolean;
  readonly helperCalls: string[];
  readonly message: string;
}

/** The helper's calls, with the gate's host (a port of its own per run) as `<gate>`. */
async function helperCalls(p: { gate: { host: string }; helper: { calls(): Promise<string[]> } | undefined }) {
  return ((await p.helper?.calls()) ?? []).map((c) => c.replaceAll(p.gate.host, '<gate>'));
}

function summarise(requests: readonly GateRequest[]) {
  const tokens = requests.filter((r) => r.path === '/token');
  return {
    tokenRequests: [
      ...new Set(
        tokens.map((r) => `${r.method} ${r.grant === 'get' ? r.auth : r.grant} ${r.granted ? 'granted' : 'refused'}`),
      ),
    ].sort(),
    basicToRegistry: requests.some((r) => r.path.startsWith('/v2/') && r.auth === 'basic'),
  };
}

describe('credential helpers and identity tokens, fetch and skopeo on the same host files', () => {
  let reg: TestRegistry | undefined;
  let work: string | undefined;
  let img: GeneratedImage;
  before(async () => {
    if (!haveTool('docker-registry') || !haveTool('skopeo')) return;
    work = await mkdtemp(join(tmpdir(), 'ocikit-cred-helpers-'));
    reg = await startRegistry();
    img = await makeDirImage(join(work, 'img'), { flavour: 'oci', layers: 1 });
    await pushDir(img.dir, reg.host, 'ns/repo:latest');
  });
  after(async () => {
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function prepare(t: TestContext, s: Scenario) {
    const gate = await startTokenGate(t, reg!.host, SECRETS);
    const home = await tempDir(t);
    const bin = join(home, 'bin');
    await mkdir(bin);
    const helper = s.helper ? await writeCredHelper(bin, 'ocikit-test', s.helper) : undefined;
    const files: Record<string, unknown> = {
      '.config/containers/policy.json': { default: [{ type: 'insecureAcceptAnything' }] },
      ...s.files(gate.host),
    };
    for (const [rel, doc] of Object.entries(files)) {
      await mkdir(dirname(join(home, rel)), { recursive: true });
      await writeFile(join(home, rel), typeof doc === 'string' ? doc : JSON.stringify(doc));
    }
    const env: Record<string, string> = { PATH: `${bin}:${process.env.PATH ?? ''}`, HOME: home };
    const explicit = s.authFile ? join(home, s.authFile.path) : undefined;
    if (s.authFile?.via === 'env') env.REGISTRY_AUTH_FILE = explicit!;
    return { gate, home, env, explicit, helper };
  }

  async function viaSkopeo(t: TestContext, s: Scenario): Promise<Outcome> {
    const p = await prepare(t, s);
    const args = ['copy', '--src-tls-verify=false'];
    if (s.authFile?.via === 'option') args.push('--authfile', p.explicit!);
    args.push(`docker://${p.gate.host}/ns/repo@${img.manifestDigest}`, `dir:${join(p.home, 'out')}`);
    let ok = true;
    let message = '';
    try {
      await run('skopeo', args, { env: p.env, timeout: 60_000 });
    } catch (err) {
      ok = false;
      message = String((err as { stderr?: string }).stderr ?? err);
    }
    return { ok, message, ...summarise(p.gate.requests), helperCalls: await helperCalls(p) };
  }

  async function viaFetch(t: TestContext, s: Scenario): Promise<Outcome> {
    const p = await prepare(t, s);
    const cache = join(p.home, 'cache');
    const sources = {
      'org.osbuild.skopeo': {
        items: {
          [img.configDigest]: {
            image: { name: `${p.gate.host}/ns/repo`, digest: img.manifestDigest, 'tls-verify': false },
          },
        },
      },
    };
    let ok = true;
    let message = '';
    try {
      await fetch(sources, cache, {
        env: p.env,
        ...(s.authFile?.via === 'option' ? { authFile: p.explicit } : {}),
        retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 5 },
      });
    } catch (err) {
      ok = false;
      message = (err as Error).message;
      assert.equal((await readdir(cache).catch(() => [])).length, 0);
    }
    for (const secret of Object.values(SECRETS)) assert.ok(!message.includes(secret), 'no secret in the message');
    return { ok, message, ...summarise(p.gate.requests), helperCalls: await helperCalls(p) };
  }

  /** Runs both and asserts the same outcome; returns both for the scenario's own checks. */
  async function both(t: TestContext, s: Scenario): Promise<{ skopeo: Outcome; ocikit: Outcome }> {
    const skopeo = await viaSkopeo(t, s);
    const ocikit = await viaFetch(t, s);
    assert.equal(ocikit.ok, skopeo.ok, `skopeo: ${skopeo.message}\nocikit: ${ocikit.message}`);
    assert.deepEqual(ocikit.tokenRequests, skopeo.tokenRequests);
    assert.equal(ocikit.basicToRegistry, skopeo.basicToRegistry);
    assert.deepEqual(ocikit.helperCalls, skopeo.helperCalls);
    return { skopeo, ocikit };
  }

  it('credHelpers in ~/.config/containers/auth.json: both ask the helper and succeed', async (t) => {
    if (!needTool(t, 'docker-registry', 'skopeo')) return;
    const { ocikit } = await both(t, {
      helper: { username: SECRETS.user, secret: SECRETS.password },
      files: (host) => ({ '.config/containers/auth.json': { credHelpers: { [host]: 'ocikit-test' } } }),
    });
    assert.equal(ocikit.ok, true, ocikit.message);
    assert.deepEqual(ocikit.tokenRequests, ['GET basic granted']);
    assert.deepEqual(ocikit.helperCalls, ['get <gate>']);
  });

  it('a helper answering <token>: both POST the refresh-token grant and succeed, neither sends Basic', async (t) => {
    if (!needTool(t, 'docker-registry', 'skopeo')) return;
    const { ocikit } = await both(t, {
      helper: { username: '<token>', secret: SECRETS.refreshToken },
      files: (host) => ({ '.config/containers/auth.json': { credHelpers: { [host]: 'ocikit-test' } } }),
    });
    assert.equal(ocikit.ok, true, ocikit.message);
    assert.deepEqual(ocikit.tokenRequests, ['POST refresh_token granted']);
  });

  it('identitytoken in an auth-file entry: both POST the refresh-token grant and succeed', async (t) => {
    if (!needTool(t, 'docker-registry', 'skopeo')) return;
    const { ocikit } = await both(t, {
      files: (host) => ({
        '.docker/config.json': {
          auths: { [host]: { ...basicAuth('someone', ''), identitytoken: SECRETS.refreshToken } },
        },
      }),
    });
    assert.equal(ocikit.ok, true, ocikit.message);
    assert.deepEqual(ocikit.tokenRequests, ['POST refresh_token granted']);
  });

  it('credential-helpers in registries.conf: both ask the helper and succeed', async (t) => {
    if (!needTool(t, 'docker-registry', 'skopeo')) return;
    const { ocikit } = await both(t, {
      helper: { username: SECRETS.user, secret: SECRETS.password },
      files: () => ({ '.config/containers/registries.conf': 'credential-helpers = ["ocikit-test"]\n' }),
    });
    assert.equal(ocikit.ok, true, ocikit.message);
    assert.deepEqual(ocikit.tokenRequests, ['GET basic granted']);
    assert.deepEqual(ocikit.helperCalls, ['get <gate>']);
  });

  it('registries.conf credential-helpers: a missing helper is passed over for the next, the auth files', async (t) => {
    if (!needTool(t, 'docker-registry', 'skopeo')) return;
    const { ocikit } = await both(t, {
      files: (host) => ({
        '.config/containers/registries.conf': 'credential-helpers = ["ocikit-test", "containers-auth.json"]\n',
        '.config/containers/auth.json': { auths: { [host]: basicAuth(SECRETS.user, SECRETS.password) } },
      }),
    });
    assert.equal(ocikit.ok, true, ocikit.message);
    assert.deepEqual(ocikit.tokenRequests, ['GET basic granted']);
  });

  it('registries.conf credential-helpers without containers-auth.json: the auth files are not read', async (t) => {
    if (!needTool(t, 'docker-registry', 'skopeo')) return;
    const { ocikit } = await both(t, {
      helper: 'not-found',
      files: (host) => ({
        '.config/containers/registries.conf': 'credential-helpers = ["ocikit-test"]\n',
        '.config/containers/auth.json': { auths: { [host]: basicAuth(SECRETS.user, SECRETS.password) } },
      }),
    });
    assert.equal(ocikit.ok, false);
  });

  it('a credHelpers helper missing from PATH: both fail, ocikit naming the helper', async (t) => {
    if (!needTool(t, 'docker-registry', 'skopeo')) return;
    const { ocikit, skopeo } = await both(t, {
      files: (host) => ({ '.config/containers/auth.json': { credHelpers: { [host]: 'ocikit-test' } } }),
    });
    assert.equal(ocikit.ok, false);
    assert.match(skopeo.message, /docker-credential-ocikit-test/);
    assert.match(ocikit.message, /credential helper docker-credential-ocikit-test .*not installed/);
  });

  it('a helper with no credentials: both go on anonymously and fail at the token realm', async (t) => {
    if (!needTool(t, 'docker-registry', 'skopeo')) return;
    const { ocikit } = await both(t, {
      helper: 'not-found',
      files: (host) => ({ '.config/containers/auth.json': { credHelpers: { [host]: 'ocikit-test' } } }),
    });
    assert.equal(ocikit.ok, false);
    assert.deepEqual(ocikit.tokenRequests, ['GET none refused']);
    assert.match(ocikit.message, /HTTP 401/);
  });

  for (const via of ['option', 'env'] as const) {
    const name = via === 'option' ? '--authfile (fetch authFile)' : 'REGISTRY_AUTH_FILE';
    it(`${name} naming a file without the host: both go on to ~/.config/containers/auth.json`, async (t) => {
      if (!needTool(t, 'docker-registry', 'skopeo')) return;
      const { ocikit } = await both(t, {
        authFile: { path: 'explicit.json', via },
        files: (host) => ({
          'explicit.json': { auths: { 'other.example': basicAuth('x', 'y') } },
          '.config/containers/auth.json': { auths: { [host]: basicAuth(SECRETS.user, SECRETS.password) } },
        }),
      });
      assert.equal(ocikit.ok, true, ocikit.message);
      assert.deepEqual(ocikit.tokenRequests, ['GET basic granted']);
    });
  }
});
