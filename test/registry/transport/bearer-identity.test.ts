/**
 * Tests for the identity-token and credential-helper parts of src/registry/transport/bearer.ts:
 * the OAuth2 refresh-token grant (c/image `getBearerTokenOAuth2`), no Basic ever sent in its place,
 * `account=` on token GETs (c/image `getBearerToken`), and helpers asked once per run.
 */
import * as assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { getManifest } from '../../../src/registry/client.js';
import { OAUTH_CLIENT_ID } from '../../../src/registry/transport/bearer.js';
import { writeCredHelper } from '../../helpers/cred-helper.js';
import { tempDir } from '../../helpers/tmp.js';
import { MANIFEST, client, serve, sha } from '../fake-registry.js';

const REFRESH = 'refresh-token-secret';

interface Seen {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
  readonly contentType: string | undefined;
  readonly body: string;
}

function readAll(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let s = '';
    req.on('data', (c: Buffer) => {
      s += c.toString('utf8');
    });
    req.on('end', () => resolve(s));
  });
}

/** A bearer registry whose realm issues `T0K` for the refresh grant with {@link REFRESH}, or for a GET. */
async function bearerRegistry(t: TestContext, realmQuery = '') {
  const seen: Seen[] = [];
  const { host, origin } = await serve(t, (req, res) => {
    void readAll(req).then((body) => {
      const url = new URL(req.url!, 'http://x');
      seen.push({
        method: req.method!,
        path: url.pathname + url.search,
        authorization: req.headers.authorization,
        contentType: req.headers['content-type'],
        body,
      });
      if (url.pathname === '/token') {
        const form = new URLSearchParams(body);
        const ok =
          req.method === 'GET' || (form.get('grant_type') === 'refresh_token' && form.get('refresh_token') === REFRESH);
        res.statusCode = ok ? 200 : 401;
        return res.end(ok ? JSON.stringify({ access_token: 'T0K' }) : '{}');
      }
      if (req.headers.authorization !== 'Bearer T0K') {
        res.statusCode = 401;
        res.setHeader('www-authenticate', `Bearer realm="${origin}/token${realmQuery}",service="svc"`);
        return res.end();
      }
      res.end(MANIFEST);
    });
  });
  return { host, origin, seen };
}

async function authFile(t: TestContext, doc: unknown): Promise<string> {
  const f = join(await tempDir(t), 'auth.json');
  await writeFile(f, JSON.stringify(doc));
  return f;
}

describe('identity tokens', () => {
  it('are exchanged by the OAuth2 refresh-token grant, a form POST to the realm, never as Basic', async (t) => {
    const r = await bearerRegistry(t, '?realmparam=1');
    const f = await authFile(t, {
      auths: { [r.host]: { auth: Buffer.from('user:').toString('base64'), identitytoken: REFRESH } },
    });
    const m = await getManifest(
      client(t, { authFile: f }),
      { host: r.host, path: 'ns/repo', tlsVerify: false },
      sha(MANIFEST),
    );
    assert.deepEqual(m.bytes, MANIFEST);
    const tokenRequests = r.seen.filter((s) => s.path.startsWith('/token'));
    assert.equal(tokenRequests.length, 1);
    const tr = tokenRequests[0]!;
    assert.equal(tr.method, 'POST');
    assert.equal(tr.path, '/token?realmparam=1');
    assert.equal(tr.contentType, 'application/x-www-form-urlencoded');
    assert.equal(tr.authorization, undefined);
    assert.deepEqual(
      [...new URLSearchParams(tr.body)],
      [
        ['realmparam', '1'],
        ['service', 'svc'],
        ['scope', 'repository:ns/repo:pull'],
        ['grant_type', 'refresh_token'],
        ['refresh_token', REFRESH],
        ['client_id', OAUTH_CLIENT_ID],
      ],
    );
    assert.ok(!r.seen.some((s) => s.authorization?.startsWith('Basic')), 'no Basic is ever sent');
  });

  it('come from a helper answering <token>, asked once per registry for every repository', async (t) => {
    const r = await bearerRegistry(t);
    const bin = await tempDir(t);
    const helper = await writeCredHelper(bin, 'ocikit-test', { username: '<token>', secret: REFRESH });
    const f = await authFile(t, { credHelpers: { [r.host]: 'ocikit-test' } });
    const c = client(t, { authFile: f, env: { PATH: `${bin}:${process.env.PATH ?? ''}` } });
    for (const path of ['ns/a', 'ns/b']) {
      assert.deepEqual((await getManifest(c, { host: r.host, path, tlsVerify: false }, sha(MANIFEST))).bytes, MANIFEST);
    }
    assert.deepEqual(await helper.calls(), [`get ${r.host}`]);
    assert.deepEqual(
      r.seen.filter((s) => s.path.startsWith('/token')).map((s) => s.method),
      ['POST', 'POST'],
    );
    assert.ok(!r.seen.some((s) => s.authorization?.startsWith('Basic')));
  });

  it('are refused for a Basic challenge, with no request carrying them', async (t) => {
    const seen: (string | undefined)[] = [];
    const { host } = await serve(t, (req, res) => {
      seen.push(req.headers.authorization);
      res.statusCode = 401;
      res.setHeader('www-authenticate', 'Basic realm="registry"');
      res.end();
    });
    const f = await authFile(t, {
      auths: { [host]: { auth: Buffer.from(':').toString('base64'), identitytoken: REFRESH } },
    });
    await assert.rejects(
      getManifest(client(t, { authFile: f }), { host, path: 'x', tlsVerify: false }, 'latest'),
      (err: Error & { code: string }) => {
        assert.equal(err.code, 'REGISTRY');
        assert.match(err.message, /asks for Basic authentication, but the credentials .* are an identity token/);
        assert.ok(!err.message.includes(REFRESH));
        return true;
      },
    );
    assert.deepEqual(seen, [undefined], 'only the anonymous ping');
  });

  it('that the realm refuses fail as REGISTRY without the token in the message', async (t) => {
    const r = await bearerRegistry(t);
    const f = await authFile(t, {
      auths: { [r.host]: { auth: Buffer.from('u:').toString('base64'), identitytoken: 'wrong-refresh-secret' } },
    });
    await assert.rejects(
      getManifest(client(t, { authFile: f }), { host: r.host, path: 'x', tlsVerify: false }, 'latest'),
      (err: Error & { code: string }) => {
        assert.equal(err.code, 'REGISTRY');
        assert.match(err.message, /HTTP 401.*refresh-token grant/);
        assert.ok(!err.message.includes('wrong-refresh-secret'));
        return true;
      },
    );
  });
});

describe('token GETs', () => {
  it('name the user as account= and send Basic only with a user and a password', async (t) => {
    const r = await bearerRegistry(t);
    const f = await authFile(t, { auths: { [r.host]: { auth: Buffer.from('alice:').toString('base64') } } });
    await getManifest(client(t, { authFile: f }), { host: r.host, path: 'ns/repo', tlsVerify: false }, sha(MANIFEST));
    const tr = r.seen.find((s) => s.path.startsWith('/token'))!;
    assert.equal(tr.method, 'GET');
    assert.equal(tr.path, '/token?account=alice&service=svc&scope=repository%3Ans%2Frepo%3Apull');
    assert.equal(tr.authorization, undefined);
  });
});
