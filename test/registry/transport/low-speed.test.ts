/**
 * Tests for src/registry/transport/low-speed.ts: the watch itself, and through the client API a
 * server that drips a byte a second (aborted, retried with Range, then a REGISTRY error naming the
 * registry and the rate), one that never sends headers, a stalled manifest and token, and a slow
 * but steady server above the floor (which succeeds).
 */
import * as assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { getManifest } from '../../../src/registry/client.js';
import { DEFAULT_LOW_SPEED, lowSpeedLimit, watchSpeed } from '../../../src/registry/transport/low-speed.js';
import { tempDir } from '../../helpers/tmp.js';
import { BLOB, BLOB_DIGEST, MANIFEST, client, downloadTestBlob, serve } from '../fake-registry.js';

/** Writes `body[from..]` one byte every `everyMs` (at most 60 bytes), until the response closes. */
function drip(res: ServerResponse, body: Buffer, from: number, everyMs: number): void {
  let i = from;
  const timer = setInterval(() => {
    if (i >= body.length || i - from >= 60 || res.destroyed) return clearInterval(timer);
    res.write(body.subarray(i, i + 1));
    i++;
  }, everyMs);
  res.on('close', () => clearInterval(timer));
}

const QUICK = { attempts: 2, baseDelayMs: 1, maxDelayMs: 5 };

describe('watchSpeed', () => {
  it('aborts after a whole window under the floor, with the low-speed code and the rate', async () => {
    const w = watchSpeed({ bytesPerSecond: 1000, seconds: 0.3 }, undefined);
    const started = Date.now();
    // The watch's timer does not hold the process (a request's socket does): hold it here.
    const hold = setTimeout(() => undefined, 5000);
    const reason = await new Promise<unknown>((r) => w.signal!.addEventListener('abort', () => r(w.signal!.reason)));
    clearTimeout(hold);
    const took = Date.now() - started;
    assert.ok(took >= 280 && took < 1500, `aborted after ${took} ms`);
    assert.equal((reason as { code?: string }).code, 'OCIKIT_LOW_SPEED');
    assert.equal(
      (reason as Error).message,
      'no response: the transfer stayed below 1000 bytes/s for 0.3 s (the low-speed limit)',
    );
  });

  it('does not abort while bytes arrive above the floor, and stops cleanly', async () => {
    const w = watchSpeed({ bytesPerSecond: 1000, seconds: 0.2 }, undefined);
    w.answered();
    for (let i = 0; i < 12; i++) {
      w.add(100); // 100 bytes every 50 ms: 2000 bytes/s
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(w.signal!.aborted, false);
    w.stop();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(w.signal!.aborted, false);
  });

  it('is off with a floor of 0 (the caller signal passes through)', () => {
    const c = new AbortController();
    const w = watchSpeed({ bytesPerSecond: 0, seconds: 1 }, c.signal);
    assert.equal(w.signal, c.signal);
  });

  it('follows the caller signal', () => {
    const c = new AbortController();
    const w = watchSpeed(DEFAULT_LOW_SPEED, c.signal);
    c.abort(new Error('stop'));
    assert.equal(w.signal!.aborted, true);
    w.stop();
  });

  it('checks its settings', () => {
    assert.deepEqual(lowSpeedLimit(undefined), { bytesPerSecond: 1024, seconds: 30 });
    assert.deepEqual(lowSpeedLimit({ seconds: 2 }), { bytesPerSecond: 1024, seconds: 2 });
    for (const bad of [{ bytesPerSecond: -1 }, { bytesPerSecond: 1.5 }, { seconds: 0 }, { seconds: Number.NaN }]) {
      assert.throws(() => lowSpeedLimit(bad), { code: 'INVALID_INPUT' });
    }
  });
});

describe('the low-speed limit (through the client)', () => {
  it('ends a blob dripping a byte a second: aborted, resumed with Range, then REGISTRY naming registry and rate', async (t) => {
    const ranges: (string | undefined)[] = [];
    const { host } = await serve(t, (req, res) => {
      if (req.url === '/v2/') return res.end('{}');
      ranges.push(req.headers.range);
      const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
      if (from > 0) {
        res.statusCode = 206;
        res.setHeader('content-range', `bytes ${from}-${BLOB.length - 1}/${BLOB.length}`);
      }
      res.setHeader('content-length', BLOB.length - from);
      res.flushHeaders();
      drip(res, BLOB, from, 1000);
    });
    const dir = await tempDir(t);
    const c = client(t, { retry: QUICK, lowSpeed: { bytesPerSecond: 100, seconds: 2 } });
    const started = Date.now();
    await assert.rejects(downloadTestBlob(c, host, join(dir, 'b')), (e: Error & { code: string }) => {
      assert.equal(e.code, 'REGISTRY');
      assert.equal(
        e.message,
        `fetching blob ${BLOB_DIGEST} of ${host}/x: the transfer stayed below 100 bytes/s for 2 s (the low-speed limit) (after 2 attempts)`,
      );
      return true;
    });
    const took = Date.now() - started;
    assert.ok(took < 8000, `took ${took} ms`);
    assert.equal(ranges.length, 2);
    assert.equal(ranges[0], undefined);
    assert.match(ranges[1] ?? '', /^bytes=[1-9][0-9]*-$/, 'the retry resumes where the stall stopped');
  });

  it('succeeds from a slow but steady server above the floor', async (t) => {
    const body = BLOB.subarray(0, 6000);
    const { host } = await serve(t, (req, res) => {
      if (req.url === '/v2/') return res.end('{}');
      let i = 0;
      const timer = setInterval(() => {
        if (res.destroyed) return clearInterval(timer);
        res.write(body.subarray(i, i + 400)); // 4000 bytes/s, for 1.5 s
        i += 400;
        if (i >= body.length) {
          clearInterval(timer);
          res.end();
        }
      }, 100);
      res.on('close', () => clearInterval(timer));
    });
    const dir = await tempDir(t);
    const c = client(t, { retry: QUICK, lowSpeed: { bytesPerSecond: 1000, seconds: 1 } });
    const file = join(dir, 'b');
    await downloadTestBlob(c, host, file, body);
    assert.deepEqual(await readFile(file), body);
  });

  it('ends a request whose server accepts it and never sends headers', async (t) => {
    let asked = 0;
    const { host } = await serve(t, (req, res) => {
      if (req.url === '/v2/') return res.end('{}');
      asked++; // never answered
    });
    const c = client(t, { retry: QUICK, lowSpeed: { bytesPerSecond: 1, seconds: 1 } });
    const started = Date.now();
    await assert.rejects(getManifest(c, { host, path: 'x', tlsVerify: false }, 'latest'), {
      code: 'REGISTRY',
      message: `fetching manifest latest of ${host}/x: no response: the transfer stayed below 1 bytes/s for 1 s (the low-speed limit) (after 2 attempts)`,
    });
    assert.ok(Date.now() - started < 6000);
    assert.equal(asked, 2);
  });

  it('retries a manifest whose body stalls, and succeeds when the next attempt is whole', async (t) => {
    let asked = 0;
    const { host } = await serve(t, (req, res) => {
      if (req.url === '/v2/') return res.end('{}');
      res.setHeader('content-length', MANIFEST.length);
      if (++asked === 1) {
        res.flushHeaders();
        return drip(res, MANIFEST, 0, 1000);
      }
      res.end(MANIFEST);
    });
    const c = client(t, { retry: QUICK, lowSpeed: { bytesPerSecond: 100, seconds: 1 } });
    assert.deepEqual((await getManifest(c, { host, path: 'x', tlsVerify: false }, 'latest')).bytes, MANIFEST);
    assert.equal(asked, 2);
  });

  it('ends a stalled token request with REGISTRY naming the token server', async (t) => {
    let origin = '';
    const { host, origin: o } = await serve(t, (req, res) => {
      if (req.url!.startsWith('/token')) return; // never answered
      res.statusCode = 401;
      res.setHeader('www-authenticate', `Bearer realm="${origin}/token",service="s"`);
      res.end();
    });
    origin = o;
    const c = client(t, { retry: QUICK, lowSpeed: { bytesPerSecond: 1, seconds: 1 } });
    await assert.rejects(getManifest(c, { host, path: 'x', tlsVerify: false }, 'latest'), {
      code: 'REGISTRY',
      message: `requesting a token from ${origin}/token: no response: the transfer stayed below 1 bytes/s for 1 s (the low-speed limit) (after 2 attempts)`,
    });
  });
});
