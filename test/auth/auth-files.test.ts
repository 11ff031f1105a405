import * as assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  authFilePaths,
  basicAuthorization,
  credentialsFromAuths,
  lookupCredentials,
} from '../../src/auth/auth-files.js';
import { tempDir } from '../helpers/tmp.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('authFilePaths', () => {
  it('lists the primary file, XDG config, docker config and legacy dockercfg, in that order', () => {
    const paths = authFilePaths({ env: { XDG_RUNTIME_DIR: '/run/user/1000' }, home: '/home/u', uid: 1000 });
    assert.deepEqual(paths, [
      { path: '/run/user/1000/containers/auth.json', legacy: false },
      { path: '/home/u/.config/containers/auth.json', legacy: false },
      { path: '/home/u/.docker/config.json', legacy: false },
      { path: '/home/u/.dockercfg', legacy: true },
    ]);
  });
  it('uses /run/containers/<uid> without XDG_RUNTIME_DIR, and XDG_CONFIG_HOME and DOCKER_CONFIG when set', () => {
    const paths = authFilePaths({
      env: { XDG_CONFIG_HOME: '/cfg', DOCKER_CONFIG: '/dock' },
      home: '/root',
      uid: 0,
    }).map((p) => p.path);
    assert.deepEqual(paths, [
      '/run/containers/0/auth.json',
      '/cfg/containers/auth.json',
      '/dock/config.json',
      '/root/.dockercfg',
    ]);
  });
  // c/image getAuthFilePaths: the explicit file replaces the primary file only.
  it('puts $REGISTRY_AUTH_FILE in place of the primary file, the other files still after it', () => {
    assert.deepEqual(
      authFilePaths({ env: { REGISTRY_AUTH_FILE: '/x/auth.json', XDG_RUNTIME_DIR: '/r' }, home: '/h' }),
      [
        { path: '/x/auth.json', legacy: false },
        { path: '/h/.config/containers/auth.json', legacy: false },
        { path: '/h/.docker/config.json', legacy: false },
        { path: '/h/.dockercfg', legacy: true },
      ],
    );
  });
  it('prefers an explicit file over $REGISTRY_AUTH_FILE', () => {
    assert.deepEqual(
      authFilePaths({ authFile: '/explicit.json', env: { REGISTRY_AUTH_FILE: '/x/auth.json' }, home: '/h' }).map(
        (p) => p.path,
      ),
      ['/explicit.json', '/h/.config/containers/auth.json', '/h/.docker/config.json', '/h/.dockercfg'],
    );
  });
  it('resolves a relative explicit file against cwd', () => {
    assert.deepEqual(authFilePaths({ authFile: 'auth.json', cwd: '/base', home: '/h' })[0], {
      path: '/base/auth.json',
      legacy: false,
    });
    assert.deepEqual(authFilePaths({ env: { REGISTRY_AUTH_FILE: 'r/auth.json' }, cwd: '/base', home: '/h' })[0], {
      path: '/base/r/auth.json',
      legacy: false,
    });
  });
  it('treats empty variables as unset', () => {
    const paths = authFilePaths({
      env: { REGISTRY_AUTH_FILE: '', XDG_RUNTIME_DIR: '', XDG_CONFIG_HOME: '', DOCKER_CONFIG: '' },
      home: '/h',
      uid: 7,
    });
    assert.deepEqual(
      paths.map((p) => p.path),
      ['/run/containers/7/auth.json', '/h/.config/containers/auth.json', '/h/.docker/config.json', '/h/.dockercfg'],
    );
  });
});

describe('credentialsFromAuths', () => {
  const auths = {
    'quay.io': { auth: b64('host:pw') },
    'quay.io/ns': { auth: b64('ns:pw') },
    'quay.io/ns/repo': { auth: b64('repo:pw:with:colons') },
    'https://index.docker.io/v1/': { auth: b64('hub:pw') },
    'http://legacy.example.com/v1/': { auth: b64('legacy:pw') },
  };
  const cases: [string, string, string, string | undefined][] = [
    ['most specific repository key', 'quay.io', 'ns/repo', 'repo'],
    ['parent namespace key', 'quay.io', 'ns/other', 'ns'],
    ['host key', 'quay.io', 'elsewhere/x', 'host'],
    ['docker.io through the legacy index URL', 'docker.io', 'library/fedora', 'hub'],
    ['legacy URL key', 'legacy.example.com', 'a', 'legacy'],
    ['nothing for an unknown host', 'ghcr.io', 'a', undefined],
  ];
  for (const [why, host, repo, user] of cases) {
    it(`finds the ${why}`, () => {
      assert.equal(credentialsFromAuths(auths, host, repo)?.username, user);
    });
  }
  it('never uses a namespace key for another namespace of the same host', () => {
    const a = { 'quay.io/orga': { auth: b64('robot-a:pw') } };
    assert.equal(credentialsFromAuths(a, 'quay.io', 'orgb/app'), undefined);
    assert.equal(credentialsFromAuths(a, 'quay.io', 'orga/app')?.username, 'robot-a');
  });
  it('cuts every key of a legacy .dockercfg to its host', () => {
    assert.equal(
      credentialsFromAuths({ 'quay.io/v1/': { auth: b64('old:pw') } }, 'quay.io', 'x/y', 'f', true)?.username,
      'old',
    );
  });
  it('takes registry-1.docker.io as docker.io', () => {
    assert.equal(
      credentialsFromAuths({ 'registry-1.docker.io': { auth: b64('hub1:pw') } }, 'docker.io', 'library/x')?.username,
      'hub1',
    );
  });
  it('keeps colons in the password', () => {
    assert.equal(credentialsFromAuths(auths, 'quay.io', 'ns/repo')?.password, 'pw:with:colons');
  });
  // c/image decodeDockerAuth: "if it's invalid just skip, as docker does".
  it('gives no credentials for an auth value without a colon, or an empty one', () => {
    assert.equal(credentialsFromAuths({ h: { auth: b64('nocolon') } }, 'h', 'r'), undefined);
    assert.equal(credentialsFromAuths({ h: {} }, 'h', 'r'), undefined);
  });
  it('lets the most specific existing key decide, even when it holds no credentials', () => {
    const a = { 'quay.io/ns': { auth: '' }, 'quay.io': { auth: b64('host:pw') } };
    assert.equal(credentialsFromAuths(a, 'quay.io', 'ns/repo'), undefined);
    assert.equal(credentialsFromAuths(a, 'quay.io', 'other/repo')?.username, 'host');
  });
  it('refuses an auth value that is not base64 (Go StdEncoding, padded), naming file and key', () => {
    assert.equal(credentialsFromAuths({ h: { auth: 'dTpw' } }, 'h', 'r')?.username, 'u');
    for (const bad of ['dTpwMQ', 'dTp*cA==']) {
      assert.throws(() => credentialsFromAuths({ h: { auth: bad } }, 'h', 'r', '/f.json'), {
        code: 'CONFIG',
        message: /\/f\.json: the "auth" of "h" is not base64/,
      });
    }
  });
  it('reads identitytoken along with a valid auth, and not without one', () => {
    assert.deepEqual(credentialsFromAuths({ h: { auth: b64('u:'), identitytoken: 'IDT' } }, 'h', 'r'), {
      username: 'u',
      password: '',
      identityToken: 'IDT',
    });
    assert.equal(credentialsFromAuths({ h: { identitytoken: 'IDT' } }, 'h', 'r'), undefined);
  });
  it('trims NUL characters around the password', () => {
    assert.equal(credentialsFromAuths({ h: { auth: b64('u:\0pw\0\0') } }, 'h', 'r')?.password, 'pw');
  });
  it('reads only the host key of a legacy .dockercfg, never a namespace key', () => {
    const a = { 'quay.io/ns': { auth: b64('ns:pw') } };
    // Cut to its host in the second pass.
    assert.equal(credentialsFromAuths(a, 'quay.io', 'ns/x', 'f', true)?.username, 'ns');
    assert.equal(credentialsFromAuths(a, 'quay.io', 'ns/x', 'f', false)?.username, 'ns');
    assert.equal(
      credentialsFromAuths({ 'quay.io/ns': {}, 'quay.io': { auth: b64('h:p') } }, 'quay.io', 'ns/x', 'f', true)
        ?.username,
      'h',
    );
  });
  it('takes docker.io and registry-1.docker.io keys for a registry-1.docker.io reference', () => {
    assert.equal(
      credentialsFromAuths({ 'docker.io': { auth: b64('hub:pw') } }, 'registry-1.docker.io', 'library/x')?.username,
      'hub',
    );
  });
});

describe('lookupCredentials', () => {
  it('takes the first file that has an entry, in lookup order, skipping missing files', async (t) => {
    const home = await tempDir(t);
    const run = join(home, 'run');
    await mkdir(join(home, '.config', 'containers'), { recursive: true });
    await mkdir(join(home, '.docker'), { recursive: true });
    await writeFile(
      join(home, '.config', 'containers', 'auth.json'),
      JSON.stringify({ auths: { 'other.io': { auth: b64('x:y') } } }),
    );
    await writeFile(
      join(home, '.docker', 'config.json'),
      JSON.stringify({ auths: { 'quay.io': { auth: b64('docker:pw') } } }),
    );
    await writeFile(join(home, '.dockercfg'), JSON.stringify({ 'quay.io': { auth: b64('legacy:pw') } }));
    const env = { XDG_RUNTIME_DIR: run };
    assert.equal((await lookupCredentials('quay.io', 'a/b', { env, home }))?.username, 'docker');
    // The primary file wins once it has an entry.
    await mkdir(join(run, 'containers'), { recursive: true });
    await writeFile(
      join(run, 'containers', 'auth.json'),
      JSON.stringify({ auths: { 'quay.io': { auth: b64('primary:pw') } } }),
    );
    assert.equal((await lookupCredentials('quay.io', 'a/b', { env, home }))?.username, 'primary');
    // The legacy file is read with its top-level map.
    assert.equal((await lookupCredentials('quay.io', 'a/b', { env: {}, home, uid: 4242 }))?.username, 'docker');
    await writeFile(join(home, '.docker', 'config.json'), '{}');
    assert.equal((await lookupCredentials('quay.io', 'a/b', { env: {}, home, uid: 4242 }))?.username, 'legacy');
  });
  it('reads REGISTRY_AUTH_FILE first, then the other files (c/image getAuthFilePaths)', async (t) => {
    const home = await tempDir(t);
    await mkdir(join(home, '.docker'), { recursive: true });
    await writeFile(
      join(home, '.docker', 'config.json'),
      JSON.stringify({ auths: { 'quay.io': { auth: b64('docker:pw') } } }),
    );
    const explicit = join(home, 'explicit.json');
    await writeFile(explicit, JSON.stringify({ auths: {} }));
    const env = { REGISTRY_AUTH_FILE: explicit };
    assert.equal((await lookupCredentials('quay.io', 'a', { env, home }))?.username, 'docker');
    assert.equal((await lookupCredentials('quay.io', 'a', { authFile: explicit, env: {}, home }))?.username, 'docker');
    await writeFile(explicit, JSON.stringify({ auths: { 'quay.io': { auth: b64('explicit:pw') } } }));
    assert.equal((await lookupCredentials('quay.io', 'a', { env, home }))?.username, 'explicit');
  });
  it('reports a broken file as CONFIG', async (t) => {
    const home = await tempDir(t);
    const f = join(home, 'bad.json');
    await writeFile(f, '{not json');
    await assert.rejects(lookupCredentials('quay.io', 'a', { authFile: f }), { code: 'CONFIG' });
  });
});

describe('basicAuthorization', () => {
  it('encodes user:password', () => {
    assert.equal(basicAuthorization({ username: 'u', password: 'p' }), `Basic ${b64('u:p')}`);
  });
});
