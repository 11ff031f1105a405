/**
 * Tests for src/registry/transport/dispatcher.ts: the dispatcher factory, its TLS setting, the
 * settings it refuses until they are implemented, and the private undici load path (this test is
 * what fails when an undici upgrade moves the files the fast start-up depends on).
 */
import * as assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import type { Agent } from 'undici';
import { createDispatcher, request, undiciLoadPath } from '../../../src/registry/transport/dispatcher.js';
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

  const later = [
    ['ca', { ca: 'PEM' }],
    ['cert', { cert: 'PEM' }],
    ['key', { key: 'PEM' }],
    ['proxy', { proxy: 'http://proxy.example:3128' }],
  ] as const;
  for (const [field, extra] of later) {
    it(`refuses "${field}" with UNSUPPORTED until it is implemented`, () => {
      assert.throws(() => createDispatcher({ tlsVerify: true, ...extra }), {
        code: 'UNSUPPORTED',
        message: new RegExp(`"${field}"`),
      });
    });
  }

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
