/** Tests for src/registry/transport/ping.ts: the scheme of a registry, through `getManifest`. */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { getManifest } from '../../../src/registry/client.js';
import { client, serve } from '../fake-registry.js';

describe('hostState (through getManifest)', () => {
  it('does not fall back to plain HTTP when TLS is verified', async (t) => {
    const { host } = await serve(t, (_req, res) => res.end('{}'));
    await assert.rejects(getManifest(client(t), { host, path: 'x' }, 'latest'), { code: 'REGISTRY' });
  });
});
