/**
 * Signature fetching against scripted servers: the lookaside N loop (to the first 404 or ENOENT;
 * any other answer fatal), its bounds (count, size, time), the signature API extension taking the
 * lookaside's place when the ping announces it, and sigstore attachments (manifest unknown means
 * none, anything else is an error; layers verified against their digests).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { isOcikitError } from '../../src/errors.js';
import type { Digest } from '../../src/model/digest.js';
import {
  MAX_SIGNATURES,
  MAX_SIGNATURE_SIZE,
  fetchImageSignatures,
  sigstoreAttachmentTag,
} from '../../src/registry/signatures.js';
import { lookasideBase } from '../../src/trust/registries-d.js';
import { tempDir } from '../helpers/tmp.js';
import { client, serve } from './fake-registry.js';

const HEX = 'cd'.repeat(32);
const DIGEST = `sha256:${HEX}` as Digest;
/** A blob `FromBlob` takes as simple signing (an OpenPGP compressed-data packet tag first). */
const sig = (n: number) => Buffer.from([0xa3, 0x01, n]);
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Script {
  /** Lookaside answers by signature number: a body, or a status. */
  lookaside?: (n: number) => Buffer | number;
  /** Extra headers of the ping. */
  pingHeaders?: Record<string, string>;
  /** Other registry paths. */
  routes?: Record<string, (res: ServerResponse) => void>;
}

async function fixture(t: TestContext, script: Script) {
  const seen: string[] = [];
  const srv = await serve(t, (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '';
    seen.push(url);
    if (url === '/v2/') {
      res.writeHead(200, script.pingHeaders ?? {}).end();
      return;
    }
    const m = /^\/sigs\/+ns\/app@sha256=[0-9a-f]{64}\/signature-(\d+)$/.exec(url);
    if (m && script.lookaside) {
      const a = script.lookaside(Number(m[1]));
      if (typeof a === 'number') res.writeHead(a).end();
      else res.writeHead(200).end(a);
      return;
    }
    const route = script.routes?.[url];
    if (route) route(res);
    else
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
  });
  const loc = { host: srv.host, path: 'ns/app', tlsVerify: false };
  const lookaside = lookasideBase(`${srv.origin}/sigs/`, 'ns/app', 'test');
  return { srv, seen, loc, lookaside, c: client(t) };
}

const fails =
  (re: RegExp, code = 'REGISTRY') =>
  (err: unknown) => {
    assert.ok(isOcikitError(err), String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, re);
    return true;
  };

describe('lookaside', () => {
  it('reads signature-1, -2, … until the first 404, in order', async (t) => {
    const f = await fixture(t, { lookaside: (n) => (n <= 3 ? sig(n) : 404) });
    const got = await fetchImageSignatures(f.c, f.loc, DIGEST, {
      lookaside: f.lookaside,
      useSigstoreAttachments: false,
    });
    assert.deepEqual(
      got.map((s) => (s.kind === 'simple-signing' ? Buffer.from(s.bytes) : null)),
      [sig(1), sig(2), sig(3)],
    );
    assert.equal(got[0]?.source, `${f.srv.origin}/sigs//ns/app@sha256=${HEX}/signature-1`);
    assert.deepEqual(
      f.seen.filter((u) => u.startsWith('/sigs')).map((u) => u.slice(-11)),
      ['signature-1', 'signature-2', 'signature-3', 'signature-4'],
    );
  });

  it('fails on any other answer: a 500 or a 403 is never the end of the list', async (t) => {
    for (const status of [500, 403]) {
      const f = await fixture(t, { lookaside: (n) => (n === 1 ? sig(1) : status) });
      await assert.rejects(
        fetchImageSignatures(f.c, f.loc, DIGEST, { lookaside: f.lookaside, useSigstoreAttachments: false }),
        fails(new RegExp(`signature-2: HTTP ${status}`)),
      );
    }
  });

  it('refuses a blob that is not a signature, one too large and too many', async (t) => {
    const junk = await fixture(t, { lookaside: (n) => (n === 1 ? Buffer.from('hello') : 404) });
    await assert.rejects(
      fetchImageSignatures(junk.c, junk.loc, DIGEST, { lookaside: junk.lookaside, useSigstoreAttachments: false }),
      fails(/unrecognized signature format/, 'SIGNATURE'),
    );
    const big = await fixture(t, { lookaside: () => Buffer.alloc(MAX_SIGNATURE_SIZE + 1, 0xa3) });
    await assert.rejects(
      fetchImageSignatures(big.c, big.loc, DIGEST, { lookaside: big.lookaside, useSigstoreAttachments: false }),
      fails(/larger than 4194304 bytes/),
    );
    const many = await fixture(t, { lookaside: (n) => sig(n % 256) });
    await assert.rejects(
      fetchImageSignatures(many.c, many.loc, DIGEST, { lookaside: many.lookaside, useSigstoreAttachments: false }),
      fails(/more than 128 signatures/),
    );
    // exactly the maximum is fine
    const max = await fixture(t, { lookaside: (n) => (n <= MAX_SIGNATURES ? sig(n % 256) : 404) });
    const all = await fetchImageSignatures(max.c, max.loc, DIGEST, {
      lookaside: max.lookaside,
      useSigstoreAttachments: false,
    });
    assert.equal(all.length, MAX_SIGNATURES);
  });

  it('gives up at the deadline', async (t) => {
    const f = await fixture(t, { lookaside: () => 0 });
    f.srv.server.removeAllListeners('request');
    f.srv.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (req.url === '/v2/') res.writeHead(200).end();
      // every lookaside request hangs
    });
    await assert.rejects(
      fetchImageSignatures(f.c, f.loc, DIGEST, { lookaside: f.lookaside, useSigstoreAttachments: false }, undefined, {
        timeoutMs: 300,
      }),
      fails(/timed out/),
    );
  });

  it('reads file:// lookasides until ENOENT; other errors are fatal', async (t) => {
    const dir = await tempDir(t);
    const sigDir = join(dir, `ns/app@sha256=${HEX}`);
    await mkdir(sigDir, { recursive: true });
    await writeFile(join(sigDir, 'signature-1'), sig(1));
    await writeFile(join(sigDir, 'signature-2'), sig(2));
    const f = await fixture(t, {});
    const where = { lookaside: lookasideBase(`file://${dir}`, 'ns/app', 't'), useSigstoreAttachments: false };
    assert.equal((await fetchImageSignatures(f.c, f.loc, DIGEST, where)).length, 2);
    await mkdir(join(sigDir, 'signature-3'));
    await assert.rejects(
      fetchImageSignatures(f.c, f.loc, DIGEST, where),
      fails(/signature-3 is a directory/, 'INVALID_INPUT'),
    );
  });

  it('refuses a scheme it cannot read', async (t) => {
    const f = await fixture(t, {});
    await assert.rejects(
      fetchImageSignatures(f.c, f.loc, DIGEST, { lookaside: 'ftp://x/ns/app', useSigstoreAttachments: false }),
      fails(/unsupported scheme ftp:/, 'CONFIG'),
    );
  });
});

describe('the signature API extension', () => {
  const list = JSON.stringify({
    signatures: [
      { schemaVersion: 2, name: `${DIGEST}@a`, type: 'atomic', content: sig(7).toString('base64') },
      { schemaVersion: 1, name: `${DIGEST}@b`, type: 'atomic', content: sig(8).toString('base64') },
      { schemaVersion: 2, name: `${DIGEST}@c`, type: 'other', content: sig(9).toString('base64') },
    ],
  });

  it('is used instead of the lookaside when the ping announces it; only version 2 "atomic" entries count', async (t) => {
    const f = await fixture(t, {
      pingHeaders: { 'x-registry-supports-signatures': '1' },
      lookaside: () => sig(1),
      routes: { [`/extensions/v2/ns/app/signatures/${DIGEST}`]: (res) => res.writeHead(200).end(list) },
    });
    const got = await fetchImageSignatures(f.c, f.loc, DIGEST, {
      lookaside: f.lookaside,
      useSigstoreAttachments: false,
    });
    assert.deepEqual(
      got.map((s) => (s.kind === 'simple-signing' ? Buffer.from(s.bytes) : null)),
      [sig(7)],
    );
    assert.ok(!f.seen.some((u) => u.startsWith('/sigs')), f.seen.join(' '));
  });

  it('fails when the extension does not answer 200, and is not used without the header', async (t) => {
    const f = await fixture(t, { pingHeaders: { 'x-registry-supports-signatures': '1' } });
    await assert.rejects(
      fetchImageSignatures(f.c, f.loc, DIGEST, { lookaside: f.lookaside, useSigstoreAttachments: false }),
      fails(/downloading signatures for .*: HTTP 404/),
    );
    const g = await fixture(t, {
      pingHeaders: { 'x-registry-supports-signatures': '0' },
      lookaside: () => 404,
      routes: { [`/extensions/v2/ns/app/signatures/${DIGEST}`]: (res) => res.writeHead(200).end(list) },
    });
    assert.deepEqual(
      await fetchImageSignatures(g.c, g.loc, DIGEST, { lookaside: g.lookaside, useSigstoreAttachments: false }),
      [],
    );
  });
});

describe('sigstore attachments', () => {
  const tagPath = `/v2/ns/app/manifests/${sigstoreAttachmentTag(DIGEST)}`;
  const payload = Buffer.from('{"critical":{}}');
  const manifest = (layerDigest: string) =>
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(Buffer.from('{}')), size: 2 },
      layers: [
        {
          mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
          digest: layerDigest,
          size: payload.length,
          annotations: { 'dev.cosignproject.cosign/signature': 'c2ln' },
        },
      ],
    });
  const oci = { 'content-type': 'application/vnd.oci.image.manifest.v1+json' };

  it('reads the sha256-<hex>.sig manifest and its layers, after the lookaside', async (t) => {
    assert.equal(sigstoreAttachmentTag(DIGEST), `sha256-${HEX}.sig`);
    const f = await fixture(t, {
      lookaside: (n) => (n === 1 ? sig(1) : 404),
      routes: {
        [tagPath]: (res) => res.writeHead(200, oci).end(manifest(sha(payload))),
        [`/v2/ns/app/blobs/${sha(payload)}`]: (res) => res.writeHead(200).end(payload),
      },
    });
    const got = await fetchImageSignatures(f.c, f.loc, DIGEST, {
      lookaside: f.lookaside,
      useSigstoreAttachments: true,
    });
    assert.equal(got.length, 2);
    assert.equal(got[0]?.kind, 'simple-signing');
    const s = got[1];
    assert.ok(s?.kind === 'sigstore');
    assert.equal(s.mimeType, 'application/vnd.dev.cosign.simplesigning.v1+json');
    assert.deepEqual(Buffer.from(s.payload), payload);
    assert.deepEqual(s.annotations, { 'dev.cosignproject.cosign/signature': 'c2ln' });
  });

  it('takes a manifest-unknown 404 as none, and fails on any other 404, a wrong type or a wrong blob', async (t) => {
    const none = await fixture(t, {});
    assert.deepEqual(await fetchImageSignatures(none.c, none.loc, DIGEST, { useSigstoreAttachments: true }), []);
    const plain = await fixture(t, { routes: { [tagPath]: (res) => res.writeHead(404).end('nope') } });
    await assert.rejects(
      fetchImageSignatures(plain.c, plain.loc, DIGEST, { useSigstoreAttachments: true }),
      fails(/HTTP 404, and the registry does not say the manifest is unknown/),
    );
    const docker = await fixture(t, {
      routes: {
        [tagPath]: (res) =>
          res
            .writeHead(200, { 'content-type': 'application/vnd.docker.distribution.manifest.v2+json' })
            .end(manifest(sha(payload))),
      },
    });
    await assert.rejects(
      fetchImageSignatures(docker.c, docker.loc, DIGEST, { useSigstoreAttachments: true }),
      fails(/unexpected MIME type for sigstore attachment manifest/),
    );
    const wrong = await fixture(t, {
      routes: {
        [tagPath]: (res) => res.writeHead(200, oci).end(manifest(sha(payload))),
        [`/v2/ns/app/blobs/${sha(payload)}`]: (res) => res.writeHead(200).end(Buffer.from('{"critical":[]}')),
      },
    });
    await assert.rejects(
      fetchImageSignatures(wrong.c, wrong.loc, DIGEST, { useSigstoreAttachments: true }),
      (err: unknown) => isOcikitError(err, 'DIGEST_MISMATCH'),
    );
  });
});
