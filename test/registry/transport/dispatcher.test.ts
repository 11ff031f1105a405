/**
 * Tests for src/registry/transport/dispatcher.ts: the dispatcher factory, its TLS settings (the
 * system trust store, extra CAs, client certificates, one secure context per settings), its
 * proxies (test/helpers/connect-proxy.ts: CONNECT for https, absolute-form for http, credentials
 * to the proxy only, errors naming the proxy without its password), and the private undici load
 * paths (this test is what fails when an undici upgrade moves the files the fast start-up depends on).
 */
import * as assert from 'node:assert/strict';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import type { IncomingHttpHeaders } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import tls, { type TLSSocket } from 'node:tls';
import type { Dispatcher } from 'undici';
import {
  type DispatcherOptions,
  connectOptions,
  createDispatcher,
  request,
  undiciLoadPath,
} from '../../../src/registry/transport/dispatcher.js';
import { startConnectProxy } from '../../helpers/connect-proxy.js';
import { makePki, type TestPki } from '../../helpers/pki.js';
import { freePort } from '../../helpers/registry.js';
import { needTool } from '../../helpers/tools.js';
import { tempDir } from '../../helpers/tmp.js';
import { closeServer, selfSignedCert, serve } from '../fake-registry.js';

const require = createRequire(import.meta.url);

describe('undiciLoadPath', () => {
  it("loads undici's Agent and request from its private modules, the very ones the package index exports", () => {
    assert.equal(
      undiciLoadPath(),
      'lib',
      "undici's file layout changed: update the private paths in src/registry/transport/dispatcher.ts",
    );
    const index = require('undici') as typeof import('undici');
    assert.equal(require('undici/lib/dispatcher/agent.js'), index.Agent);
    assert.equal((require('undici/lib/api/index.js') as { request: unknown }).request, index.Agent.prototype.request);
  });
});

describe('createDispatcher', () => {
  it('builds an undici Agent', async () => {
    const agent = createDispatcher({ tlsVerify: true });
    const { Agent } = require('undici') as typeof import('undici');
    assert.ok(agent instanceof Agent);
    await agent.close();
  });

  it('checks certificates with tlsVerify true and accepts a self-signed one with tlsVerify false', async (t) => {
    const server = createHttpsServer(await selfSignedCert(await tempDir(t)), (_req, res) => res.end('hello'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    t.after(() => closeServer(server));
    const origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const get = async (agent: Dispatcher) => {
      try {
        const res = await request(agent, { origin, path: '/', method: 'GET' });
        return await res.body.text();
      } finally {
        await agent.close();
      }
    };
    await assert.rejects(get(createDispatcher({ tlsVerify: true })), /self[- ]signed/i);
    assert.equal(await get(createDispatcher({ tlsVerify: false })), 'hello');
  });

  it('accepts every optional field when it is undefined', async () => {
    const agent = createDispatcher({
      tlsVerify: false,
      ca: undefined,
      cert: undefined,
      key: undefined,
      proxy: undefined,
    });
    await agent.close();
  });
});

/** A self-signed HTTPS server on 127.0.0.1 recording the headers of each request; answers 'hello'. */
async function httpsServer(t: TestContext): Promise<{ port: number; seen: IncomingHttpHeaders[] }> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createHttpsServer(await selfSignedCert(await tempDir(t)), (req, res) => {
    seen.push(req.headers);
    res.end('hello');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => closeServer(server));
  return { port: (server.address() as AddressInfo).port, seen };
}

/** GET `url` through `d`, closing `d`: the body text. */
async function getThrough(d: Dispatcher, url: string): Promise<string> {
  try {
    const u = new URL(url);
    const res = await request(d, { origin: u.origin, path: u.pathname, method: 'GET' });
    return await res.body.text();
  } finally {
    await d.close();
  }
}

describe('createDispatcher with a proxy', () => {
  it('sends https through a CONNECT tunnel, with TLS to the registry inside it as the settings say', async (t) => {
    const reg = await httpsServer(t);
    const proxy = await startConnectProxy(t);
    const url = `https://registry.example:${reg.port}/v2/`;
    await assert.rejects(
      getThrough(createDispatcher({ tlsVerify: true, proxy: `http://${proxy.host}` }), url),
      /self[- ]signed/i,
    );
    assert.equal(await getThrough(createDispatcher({ tlsVerify: false, proxy: `http://${proxy.host}` }), url), 'hello');
    assert.deepEqual(proxy.lines(), [`CONNECT registry.example:${reg.port}`, `CONNECT registry.example:${reg.port}`]);
  });

  it('sends plain http to the proxy as an absolute-form request, without a tunnel', async (t) => {
    const reg = await serve(t, (req, res) => res.end(`${req.url} ${req.headers.host}`));
    const proxy = await startConnectProxy(t);
    const port = reg.host.split(':')[1];
    const body = await getThrough(
      createDispatcher({ tlsVerify: true, proxy: `http://${proxy.host}` }),
      `http://registry.example:${port}/v2/`,
    );
    assert.equal(body, `/v2/ registry.example:${port}`);
    assert.deepEqual(proxy.lines(), [`GET http://registry.example:${port}/v2/`]);
  });

  it('sends the credentials of the proxy URL, percent-decoded, to the proxy only', async (t) => {
    const reg = await httpsServer(t);
    const proxy = await startConnectProxy(t, { credentials: { user: 'al ice', password: 'p@ss:w/rd' } });
    const plain = await serve(t, (req, res) => res.end(String(req.headers['proxy-authorization'])));
    const proxyUrl = `http://al%20ice:p%40ss%3Aw%2Frd@${proxy.host}`;
    const url = `https://registry.example:${reg.port}/v2/`;
    assert.equal(await getThrough(createDispatcher({ tlsVerify: false, proxy: proxyUrl }), url), 'hello');
    const httpUrl = `http://registry.example:${plain.host.split(':')[1]}/v2/`;
    assert.equal(await getThrough(createDispatcher({ tlsVerify: true, proxy: proxyUrl }), httpUrl), 'undefined');
    const basic = `Basic ${Buffer.from('al ice:p@ss:w/rd').toString('base64')}`;
    assert.deepEqual(
      proxy.requests.map((r) => [r.method, r.proxyAuthorization, r.allowed]),
      [
        ['CONNECT', basic, true],
        ['GET', basic, true],
      ],
    );
    assert.equal(reg.seen.length, 1);
    assert.equal(reg.seen[0]!['proxy-authorization'], undefined, 'the registry never sees the proxy credentials');
    assert.equal(reg.seen[0]!.authorization, undefined);
  });

  for (const scheme of ['https', 'http'] as const) {
    it(`fails naming the proxy and never its password when it answers 407 (${scheme} target)`, async (t) => {
      const reg = await httpsServer(t);
      const proxy = await startConnectProxy(t, { credentials: { user: 'u', password: 'right' } });
      const d = createDispatcher({ tlsVerify: false, proxy: `http://u:s3cret%21@${proxy.host}` });
      await assert.rejects(getThrough(d, `${scheme}://registry.example:${reg.port}/v2/`), (e: Error) => {
        assert.match(e.message, new RegExp(`^through proxy http://${proxy.host}: .*407`));
        assert.ok(!e.message.includes('s3cret') && !e.message.includes('u:'), e.message);
        return true;
      });
    });
  }

  it('fails naming the proxy for a refused CONNECT (502) and a refused connection, keeping the code', async (t) => {
    const proxy = await startConnectProxy(t, { refuse: 502 });
    await assert.rejects(
      getThrough(createDispatcher({ tlsVerify: true, proxy: `http://${proxy.host}` }), 'https://registry.example/v2/'),
      new RegExp(`^Error: through proxy http://${proxy.host}: CONNECT answered HTTP 502$`),
    );
    const closed = await freePort();
    await assert.rejects(
      getThrough(createDispatcher({ tlsVerify: true, proxy: `http://u:pw@127.0.0.1:${closed}` }), 'https://r.example/'),
      (e: Error & { code?: string }) => {
        assert.match(e.message, new RegExp(`^through proxy http://127.0.0.1:${closed}: .*ECONNREFUSED`));
        assert.equal(e.code, 'ECONNREFUSED');
        return true;
      },
    );
  });

  it('reaches an https:// proxy over TLS, with the TLS settings of the connection', async (t) => {
    const reg = await httpsServer(t);
    const proxy = await startConnectProxy(t, { tls: await selfSignedCert(await tempDir(t)) });
    const url = `https://registry.example:${reg.port}/v2/`;
    await assert.rejects(getThrough(createDispatcher({ tlsVerify: true, proxy: `https://${proxy.host}` }), url));
    assert.deepEqual(proxy.lines(), [], 'the unverified proxy is not used');
    assert.equal(
      await getThrough(createDispatcher({ tlsVerify: false, proxy: `https://${proxy.host}` }), url),
      'hello',
    );
    assert.deepEqual(proxy.lines(), [`CONNECT registry.example:${reg.port}`]);
  });

  it('refuses a socks5 proxy with UNSUPPORTED and a bad proxy URL with CONFIG', () => {
    assert.throws(() => createDispatcher({ tlsVerify: true, proxy: 'socks5://u:pw@127.0.0.1:1080' }), {
      code: 'UNSUPPORTED',
      message: 'proxy socks5://127.0.0.1:1080: socks5 proxies are not supported',
    });
    assert.throws(() => createDispatcher({ tlsVerify: true, proxy: 'ftp://u:pw@p' }), { code: 'CONFIG' });
  });
});

/** An HTTPS server on 127.0.0.1 with the test PKI's server certificate; `clientCa` requires client certificates. */
async function pkiServer(t: TestContext, pki: TestPki, clientCa?: Buffer) {
  const server = createHttpsServer(
    {
      cert: pki.server.cert,
      key: pki.server.key,
      ...(clientCa ? { ca: clientCa, requestCert: true, rejectUnauthorized: true } : {}),
    },
    (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      res.setHeader('connection', 'close'); // every request a new connection
      res.end(peer?.subject?.CN ?? 'anonymous');
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => closeServer(server));
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * Calls `spy` on every `tls.createSecureContext` (the module's named import included, through
 * `syncBuiltinESMExports`); returns the function that restores it.
 */
function spyCreateSecureContext(spy: (o: tls.SecureContextOptions | undefined) => void): () => void {
  const real = tls.createSecureContext;
  (tls as { createSecureContext: typeof real }).createSecureContext = (o) => {
    spy(o);
    return real(o);
  };
  syncBuiltinESMExports();
  return () => {
    (tls as { createSecureContext: typeof real }).createSecureContext = real;
    syncBuiltinESMExports();
  };
}

async function getWith(opts: DispatcherOptions, origin: string): Promise<string> {
  const agent = createDispatcher(opts);
  try {
    const res = await request(agent, { origin, path: '/', method: 'GET' });
    return await res.body.text();
  } finally {
    await agent.close();
  }
}

describe('connectOptions: the trust store and certs.d material', () => {
  it('trusts the system store as SSL_CERT_FILE / SSL_CERT_DIR name it, and nothing when it is empty', async (t) => {
    if (!needTool(t, 'openssl')) return;
    const dir = await tempDir(t);
    const pki = await makePki(dir);
    const origin = await pkiServer(t, pki);
    const none = join(dir, 'none');
    assert.equal(
      await getWith({ tlsVerify: true, env: { SSL_CERT_FILE: pki.ca.certFile, SSL_CERT_DIR: none } }, origin),
      'anonymous',
    );
    const caDir = join(dir, 'cadir');
    await mkdir(caDir);
    await writeFile(join(caDir, 'ca.pem'), pki.ca.cert);
    assert.equal(
      await getWith({ tlsVerify: true, env: { SSL_CERT_FILE: none, SSL_CERT_DIR: caDir } }, origin),
      'anonymous',
    );
    await assert.rejects(
      getWith({ tlsVerify: true, env: { SSL_CERT_FILE: none, SSL_CERT_DIR: none } }, origin),
      /unable to (get local issuer|verify)/i,
    );
    // certs.d's extra CAs come on top of the (here empty) system store.
    assert.equal(
      await getWith({ tlsVerify: true, ca: [pki.ca.cert], env: { SSL_CERT_FILE: none, SSL_CERT_DIR: none } }, origin),
      'anonymous',
    );
  });

  it("never falls back to Node's bundled roots on Linux: an empty store gives a context with no CA at all", (t) => {
    if (process.platform !== 'linux') return t.skip('Linux only');
    const env = { SSL_CERT_FILE: '/nonexistent/ocikit-test', SSL_CERT_DIR: '/nonexistent/ocikit-test' };
    const seen: unknown[] = [];
    const restore = spyCreateSecureContext((o) => seen.push(o?.ca));
    try {
      const opts = connectOptions({ tlsVerify: true, env });
      assert.ok(opts.secureContext);
    } finally {
      restore();
    }
    assert.deepEqual(seen, [[]]);
  });

  it("tlsVerify false builds one context with no CA at all (never Node's bundled roots) and reaches any server", async (t) => {
    // A module instance of its own, so that its context is built under the spy.
    const url = new URL('../../../src/registry/transport/dispatcher.js', import.meta.url);
    const fresh = (await import(`${url.href}?unverified`)) as { connectOptions: typeof connectOptions };
    const seen: unknown[] = [];
    const restore = spyCreateSecureContext((o) => seen.push(o?.ca));
    let first: ReturnType<typeof connectOptions>;
    let second: ReturnType<typeof connectOptions>;
    try {
      first = fresh.connectOptions({ tlsVerify: false });
      second = fresh.connectOptions({ tlsVerify: false, env: {} });
    } finally {
      restore();
    }
    assert.deepEqual(seen, [[]], 'one context, built with an empty CA list');
    assert.equal(first.rejectUnauthorized, false);
    assert.ok(first.secureContext !== undefined && first.secureContext === second.secureContext);
    if (!needTool(t, 'openssl')) return;
    const pki = await makePki(await tempDir(t));
    assert.equal(await getWith({ tlsVerify: false }, await pkiServer(t, pki)), 'anonymous');
  });

  it('sends the client certificate to a server that requires one, also with tlsVerify false', async (t) => {
    if (!needTool(t, 'openssl')) return;
    const dir = await tempDir(t);
    const pki = await makePki(dir);
    const origin = await pkiServer(t, pki, pki.ca.cert);
    const env = { SSL_CERT_FILE: pki.ca.certFile, SSL_CERT_DIR: join(dir, 'none') };
    const client = { cert: pki.client.cert, key: pki.client.key };
    assert.equal(await getWith({ tlsVerify: true, env, ...client }, origin), 'ocikit_test_client');
    assert.equal(await getWith({ tlsVerify: false, ...client }, origin), 'ocikit_test_client');
    await assert.rejects(getWith({ tlsVerify: true, env }, origin), /certificate|socket|closed|reset/i);
  });

  it('builds the secure context once: later connections and dispatchers of the same settings parse no certificate', async (t) => {
    if (!needTool(t, 'openssl')) return;
    const dir = await tempDir(t);
    const pki = await makePki(dir);
    const origin = await pkiServer(t, pki);
    // A store of a few hundred certificates: the real one and the test CA.
    await writeFile(
      join(dir, 'bundle.pem'),
      Buffer.concat([pki.ca.cert, await readFile('/etc/ssl/certs/ca-certificates.crt').catch(() => Buffer.alloc(0))]),
    );
    const env = { SSL_CERT_FILE: join(dir, 'bundle.pem'), SSL_CERT_DIR: join(dir, 'none') };
    let calls = 0;
    const restore = spyCreateSecureContext(() => calls++);
    try {
      const t0 = performance.now();
      assert.equal(await getWith({ tlsVerify: true, env }, origin), 'anonymous');
      const first = performance.now() - t0;
      assert.equal(calls, 1, 'the first dispatcher builds the context');
      const agent = createDispatcher({ tlsVerify: true, env });
      const t1 = performance.now();
      for (let i = 0; i < 3; i++) {
        const res = await request(agent, { origin, path: '/', method: 'GET' });
        assert.equal(await res.body.text(), 'anonymous');
      }
      const later = (performance.now() - t1) / 3;
      await agent.close();
      assert.equal(calls, 1, 'three more connections (the server closes each) and a second dispatcher build nothing');
      t.diagnostic(
        `first connection ${first.toFixed(1)} ms (store read and parsed), later ones ${later.toFixed(1)} ms each`,
      );
    } finally {
      restore();
    }
  });
});
