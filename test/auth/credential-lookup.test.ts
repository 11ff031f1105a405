/**
 * The whole credential search of src/auth/auth-files.ts `lookupCredentials`, as containers/image
 * 5.23 `getCredentialsWithHomeDir`: the registries.conf helpers in order, the auth files in order
 * (explicit file in place of the primary one), `credHelpers` before a file's `auths`, the first
 * source with credentials winning and failures reported only when none has any. A temporary HOME,
 * XDG_CONFIG_HOME and DOCKER_CONFIG; a test helper script on PATH.
 */
import * as assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { type AuthLookupOptions, lookupCredentials } from '../../src/auth/auth-files.js';
import type { HelperCache } from '../../src/auth/cred-helpers.js';
import { type HelperAnswer, writeCredHelper } from '../helpers/cred-helper.js';
import { tempDir } from '../helpers/tmp.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const entry = (user: string) => ({ auth: b64(`${user}:pw`) });

interface Host {
  readonly home: string;
  readonly bin: string;
  readonly files: { explicit: string; runtime: string; xdg: string; docker: string; legacy: string };
  readonly opts: (extra?: Partial<AuthLookupOptions>) => AuthLookupOptions;
  write(file: string, doc: unknown): Promise<void>;
  helper(name: string, answer: HelperAnswer): ReturnType<typeof writeCredHelper>;
}

async function host(t: TestContext): Promise<Host> {
  const home = await tempDir(t);
  const bin = join(home, 'bin');
  await mkdir(bin);
  const files = {
    explicit: join(home, 'explicit.json'),
    runtime: join(home, 'run', 'containers', 'auth.json'),
    xdg: join(home, 'xdg', 'containers', 'auth.json'),
    docker: join(home, 'dockercfgdir', 'config.json'),
    legacy: join(home, '.dockercfg'),
  };
  const env = {
    XDG_RUNTIME_DIR: join(home, 'run'),
    XDG_CONFIG_HOME: join(home, 'xdg'),
    DOCKER_CONFIG: join(home, 'dockercfgdir'),
    PATH: `${bin}:${process.env.PATH ?? ''}`,
  };
  return {
    home,
    bin,
    files,
    opts: (extra = {}) => ({ env, home, ...extra }),
    write: async (file, doc) => {
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, typeof doc === 'string' ? doc : JSON.stringify(doc));
    },
    helper: (name, answer) => writeCredHelper(bin, name, answer),
  };
}

const user = async (h: Host, extra?: Partial<AuthLookupOptions>, repo = 'ns/repo') =>
  (await lookupCredentials('quay.io', repo, h.opts(extra)))?.username;

describe('lookupCredentials: the auth files', () => {
  it('reads the explicit file, then XDG_CONFIG_HOME, DOCKER_CONFIG and .dockercfg (never the runtime file)', async (t) => {
    const h = await host(t);
    await h.write(h.files.runtime, { auths: { 'quay.io': entry('runtime') } });
    await h.write(h.files.legacy, { 'quay.io': entry('legacy') });
    await h.write(h.files.explicit, { auths: { 'other.io': entry('x') } });
    const explicit = { authFile: h.files.explicit };
    assert.equal(await user(h, explicit), 'legacy');
    await h.write(h.files.docker, { auths: { 'quay.io': entry('docker') } });
    assert.equal(await user(h, explicit), 'docker');
    await h.write(h.files.xdg, { auths: { 'quay.io': entry('xdg') } });
    assert.equal(await user(h, explicit), 'xdg');
    await h.write(h.files.explicit, { auths: { 'quay.io': entry('explicit') } });
    assert.equal(await user(h, explicit), 'explicit');
    // Without it, the runtime file is the primary file.
    assert.equal(await user(h), 'runtime');
  });
  it('skips a missing explicit file', async (t) => {
    const h = await host(t);
    await h.write(h.files.xdg, { auths: { 'quay.io': entry('xdg') } });
    assert.equal(await user(h, { authFile: join(h.home, 'absent.json') }), 'xdg');
  });
  it('goes on to the next file when the deciding entry holds no credentials', async (t) => {
    const h = await host(t);
    await h.write(h.files.runtime, { auths: { 'quay.io/ns': {}, 'quay.io': entry('same-file') } });
    await h.write(h.files.xdg, { auths: { 'quay.io': { auth: b64('nocolon') } } });
    await h.write(h.files.docker, { auths: { 'quay.io': entry('docker') } });
    assert.equal(await user(h), 'docker');
    assert.equal(await user(h, {}, 'other/repo'), 'same-file');
  });
  it('stops at a file that is not valid, naming it', async (t) => {
    const h = await host(t);
    await h.write(h.files.runtime, { auths: { 'quay.io': { auth: 'not base64!' } } });
    await h.write(h.files.xdg, { auths: { 'quay.io': entry('xdg') } });
    await assert.rejects(lookupCredentials('quay.io', 'ns/repo', h.opts()), {
      code: 'CONFIG',
      message: new RegExp(`${h.files.runtime}: the "auth" of "quay.io" is not base64`),
    });
    await h.write(h.files.runtime, { auths: { 'quay.io': { auth: 42 } } });
    await assert.rejects(lookupCredentials('quay.io', 'ns/repo', h.opts()), {
      code: 'CONFIG',
      message: /is not valid: cannot unmarshal number/,
    });
  });
  it('matches the file fields as Go does, case-insensitively', async (t) => {
    const h = await host(t);
    await h.write(h.files.runtime, { Auths: { 'quay.io': { Auth: b64('go:pw'), IdentityToken: 'IDT' } } });
    assert.deepEqual(await lookupCredentials('quay.io', 'ns/repo', h.opts()), {
      username: 'go',
      password: 'pw',
      identityToken: 'IDT',
    });
  });
});

describe('lookupCredentials: credHelpers in an auth file', () => {
  it('asks the helper before the same file’s auths, with the registry only', async (t) => {
    const h = await host(t);
    const helper = await h.helper('ocikit-test', { username: 'from-helper', secret: 'S' });
    await h.write(h.files.runtime, { credHelpers: { 'quay.io': 'ocikit-test' }, auths: { 'quay.io/ns': entry('f') } });
    assert.equal(await user(h), 'from-helper');
    assert.deepEqual(await helper.calls(), ['get quay.io']);
  });
  it('is not reached when an earlier file has credentials', async (t) => {
    const h = await host(t);
    const helper = await h.helper('ocikit-test', { username: 'from-helper', secret: 'S' });
    await h.write(h.files.runtime, { auths: { 'quay.io': entry('first') } });
    await h.write(h.files.xdg, { credHelpers: { 'quay.io': 'ocikit-test' } });
    assert.equal(await user(h), 'first');
    assert.deepEqual(await helper.calls(), []);
  });
  it('goes on to the next file when the helper has no credentials', async (t) => {
    const h = await host(t);
    await h.helper('ocikit-test', 'not-found');
    await h.write(h.files.runtime, { credHelpers: { 'quay.io': 'ocikit-test' }, auths: { 'quay.io': entry('f') } });
    await h.write(h.files.xdg, { auths: { 'quay.io': entry('xdg') } });
    assert.equal(await user(h), 'xdg');
  });
  it('fails naming the helper and the file when it is missing or fails, however later files look', async (t) => {
    const h = await host(t);
    await h.write(h.files.runtime, { credHelpers: { 'quay.io': 'ocikit-absent' } });
    await h.write(h.files.xdg, { auths: { 'quay.io': entry('xdg') } });
    await assert.rejects(lookupCredentials('quay.io', 'ns/repo', h.opts()), {
      code: 'CONFIG',
      message: new RegExp(`docker-credential-ocikit-absent \\(credHelpers of "quay.io" in ${h.files.runtime}\\)`),
    });
  });
  it('takes a <token> answer as an identity token', async (t) => {
    const h = await host(t);
    await h.helper('ocikit-test', { username: '<token>', secret: 'REFRESH' });
    await h.write(h.files.xdg, { credHelpers: { 'quay.io': 'ocikit-test' } });
    assert.deepEqual(await lookupCredentials('quay.io', 'ns/repo', h.opts()), {
      username: '',
      password: '',
      identityToken: 'REFRESH',
    });
  });
  it('asks the helper once per run and registry, for every repository', async (t) => {
    const h = await host(t);
    const helper = await h.helper('ocikit-test', { username: 'u', secret: 'S' });
    await h.write(h.files.runtime, { credHelpers: { 'quay.io': 'ocikit-test' } });
    const cache: HelperCache = new Map();
    for (const repo of ['a/b', 'a/c', 'd']) await lookupCredentials('quay.io', repo, h.opts(), { cache });
    assert.deepEqual(await helper.calls(), ['get quay.io']);
  });
});

describe('lookupCredentials: registries.conf credential-helpers', () => {
  it('tries a named helper (credentialHelpers: ["ocikit-test"]) instead of the auth files', async (t) => {
    const h = await host(t);
    const helper = await h.helper('ocikit-test', { username: 'conf-helper', secret: 'S' });
    await h.write(h.files.runtime, { auths: { 'quay.io': entry('file') } });
    assert.equal(await user(h, { credentialHelpers: ['ocikit-test'] }), 'conf-helper');
    assert.deepEqual(await helper.calls(), ['get quay.io']);
    assert.equal(await user(h, { credentialHelpers: [] }), 'file', 'an empty list is the default');
  });
  it('tries the helpers in order, remembering failures until one has credentials', async (t) => {
    const h = await host(t);
    await h.helper('ocikit-bad', { status: 2, stdout: 'x' });
    await h.helper('ocikit-none', 'not-found');
    await h.write(h.files.xdg, { auths: { 'quay.io': entry('file') } });
    const helpers = ['ocikit-absent', 'ocikit-bad', 'ocikit-none', 'containers-auth.json'];
    assert.equal(await user(h, { credentialHelpers: helpers }), 'file');
    assert.equal(await user(h, { credentialHelpers: ['containers-auth.json', 'ocikit-bad'] }), 'file');
  });
  it('reports every failure when none has credentials, and nothing when none failed', async (t) => {
    const h = await host(t);
    await h.helper('ocikit-bad', { status: 2, stdout: 'x' });
    await h.helper('ocikit-none', 'not-found');
    await assert.rejects(
      lookupCredentials('quay.io', 'r', h.opts({ credentialHelpers: ['ocikit-absent', 'ocikit-none', 'ocikit-bad'] })),
      (err: Error & { code: string; values: string[] }) => {
        assert.equal(err.code, 'CONFIG');
        assert.match(err.message, /docker-credential-ocikit-absent .*docker-credential-ocikit-bad .*status 2/);
        assert.equal(err.values.length, 2);
        return true;
      },
    );
    assert.equal(await user(h, { credentialHelpers: ['ocikit-none', 'containers-auth.json'] }), undefined);
  });
});
