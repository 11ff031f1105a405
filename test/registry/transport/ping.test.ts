/** Tests for src/registry/transport/ping.ts: the scheme of a registry, through `getManifest`. */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { getManifest } from '../../../src/registry/client.js';
import { startConnectProxy } from '../../helpers/connect-proxy.js';
import { client, serve } from '../fake-registry.js';

describe('hostState (through getManifest)', () => {
  it('does not fall back to plain HTTP when TLS is verified', async (t) => {
    const { host } = await serve(t, (_req, res) => res.end('{}'));
    await assert.rejects(getManifest(client(t), { host, path: 'x' }, 'latest'), { code: 'REGISTRY' });
  });
});

describe('hostState with a proxy setting that cannot be used', () => {
  it('stops on the HTTPS try instead of falling back to plain HTTP (tls-verify off)', async (t) => {
    const { host } = await serve(t, (_req, res) => res.end('{}'));
    const proxy = await startConnectProxy(t);
    const port = host.split(':')[1];
    const env = { HTTPS_PROXY: 'socks5://127.0.0.1:1', HTTP_PROXY: `http://${proxy.host}` };
    await assert.rejects(
      getManifest(client(t, { env }), { host: `registry.example:${port}`, path: 'x', tlsVerify: false }, 'latest'),
      { code: 'UNSUPPORTED', message: /HTTPS_PROXY: socks5 proxies are not supported/ },
    );
    assert.deepEqual(proxy.lines(), [], 'no plain-HTTP fallback through HTTP_PROXY');
  });
});
