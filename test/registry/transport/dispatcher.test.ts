/**
 * Tests for src/registry/transport/dispatcher.ts: the dispatcher factory, its TLS settings (the
 * system trust store, extra CAs, client certificates, one secure context per settings), the
 * setting it refuses until it is implemented (proxy), and the private undici load path (this test is
 * what fails when an undici upgrade moves the files the fast start-up depends on).
 */
import * as assert from 'node:assert/strict';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import tls, { type TLSSocket } from 'node:tls';
import type { Agent } from 'undici';
import {
  type DispatcherOptions,
  connectOptions,
  createDispatcher,
  request,
  undiciLoadPath,
} from '../../../src/registry/transport/dispatcher.js';
import { makePki, type TestPki } from '../../helpers/pki.js';
import { needTool } from '../../helpers/tools.js';
import { tempDir } from '../../helpers/tmp.js';
import { closeServer, selfSignedCert } from '../fake-registry.js';

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
    const get = async (agent: Agent) => {
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

  it('refuses "proxy" with UNSUPPORTED until it is implemented', () => {
    assert.throws(() => createDispatcher({ tlsVerify: true, proxy: 'http://proxy.example:3128' }), {
      code: 'UNSUPPORTED',
      message: /"proxy"/,
    });
  });

  it('accepts the not-yet-implemented fields when they are undefined', async () => {
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
