/**
 * Tests for src/auth/cred-helpers.ts: `docker-credential-<name> get` as docker-credential-helpers
 * `client/client.go` runs it and containers/image `getAuthFromCredHelper` reads its answer, with a
 * test helper script (test/helpers/cred-helper.ts) on PATH.
 */
import * as assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { describe, it, type TestContext } from 'node:test';
import { type HelperCache, credentialsFromHelper } from '../../src/auth/cred-helpers.js';
import { type HelperAnswer, writeCredHelper } from '../helpers/cred-helper.js';
import { tempDir } from '../helpers/tmp.js';

const SECRET = 'hunter2-very-secret';

async function setup(t: TestContext, answer: HelperAnswer) {
  const dir = await tempDir(t);
  const helper = await writeCredHelper(dir, 'ocikit-test', answer);
  const host = { env: { PATH: `${dir}:${process.env.PATH ?? ''}` } };
  return { dir, helper, host };
}

/** The error, with everything it carries (cause chain, details) as text. */
function everything(err: unknown): string {
  return `${String(err)} ${inspect(err, { depth: 10, showHidden: true })}`;
}

describe('credentialsFromHelper', () => {
  it('runs "get" with the server on stdin and reads Username and Secret', async (t) => {
    const { helper, host } = await setup(t, { username: 'alice', secret: SECRET });
    const c = await credentialsFromHelper('ocikit-test', 'quay.io', { host, origin: 'test' });
    assert.deepEqual(c, { username: 'alice', password: SECRET });
    assert.deepEqual(await helper.calls(), ['get quay.io']);
  });
  it('takes Secret as an identity token when Username is <token>', async (t) => {
    const { host } = await setup(t, { username: '<token>', secret: SECRET });
    const c = await credentialsFromHelper('ocikit-test', 'docker.io', { host, origin: 'test' });
    assert.deepEqual(c, { username: '', password: '', identityToken: SECRET });
  });
  it('reads "credentials not found in native keychain" as no credentials', async (t) => {
    const { host } = await setup(t, 'not-found');
    assert.equal(await credentialsFromHelper('ocikit-test', 'quay.io', { host, origin: 'test' }), undefined);
  });
  it('reads an empty answer as no credentials', async (t) => {
    const { host } = await setup(t, { username: '', secret: '' });
    assert.equal(await credentialsFromHelper('ocikit-test', 'quay.io', { host, origin: 'test' }), undefined);
  });
  it('reports a failing helper as CONFIG naming it and its status, never quoting its output', async (t) => {
    const { host } = await setup(t, { status: 3, stdout: `oops ${SECRET}`, stderr: `also ${SECRET}` });
    await assert.rejects(
      credentialsFromHelper('ocikit-test', 'quay.io', { host, origin: 'credHelpers of "quay.io" in F' }),
      (err: Error & { code: string }) => {
        assert.equal(err.code, 'CONFIG');
        assert.match(err.message, /docker-credential-ocikit-test \(credHelpers of "quay.io" in F\)/);
        assert.match(err.message, /status 3/);
        assert.ok(!everything(err).includes(SECRET), 'no secret in the error');
        return true;
      },
    );
  });
  it('reports a missing helper as CONFIG naming it', async (t) => {
    const dir = await tempDir(t);
    await assert.rejects(
      credentialsFromHelper('ocikit-absent', 'quay.io', { host: { env: { PATH: dir } }, origin: 'test' }),
      { code: 'CONFIG', message: /docker-credential-ocikit-absent .*not installed/ },
    );
  });
  it('reports an answer that is not JSON without quoting it', async (t) => {
    const { host } = await setup(t, { status: 0, stdout: `{"Username": "u", "Secret": "${SECRET}"` });
    await assert.rejects(credentialsFromHelper('ocikit-test', 'quay.io', { host, origin: 'test' }), (err: Error) => {
      assert.match(err.message, /docker-credential-ocikit-test .*not its JSON/);
      assert.ok(!everything(err).includes(SECRET));
      return true;
    });
  });
  it('stops a helper that does not answer in time, naming it', async (t) => {
    const { host } = await setup(t, 'hang');
    const started = Date.now();
    await assert.rejects(credentialsFromHelper('ocikit-test', 'quay.io', { host, origin: 'test', timeoutMs: 300 }), {
      code: 'CONFIG',
      message: /docker-credential-ocikit-test .*did not answer within 0.3 s/,
    });
    assert.ok(Date.now() - started < 5000);
  });
  it('asks each helper once per server and run', async (t) => {
    const { helper, host } = await setup(t, { username: 'alice', secret: SECRET });
    const cache: HelperCache = new Map();
    const run = { host, origin: 'test', cache };
    await Promise.all([
      credentialsFromHelper('ocikit-test', 'quay.io', run),
      credentialsFromHelper('ocikit-test', 'quay.io', run),
    ]);
    await credentialsFromHelper('ocikit-test', 'quay.io', run);
    await credentialsFromHelper('ocikit-test', 'ghcr.io', run);
    assert.deepEqual(await helper.calls(), ['get quay.io', 'get ghcr.io']);
  });
  it('refuses a helper name with a "/"', async () => {
    await assert.rejects(credentialsFromHelper('../x', 'quay.io', { host: {}, origin: 'test' }), { code: 'CONFIG' });
  });
});
