/**
 * One layer as a verified stream into a tiny recording visitor (deploy R3–R9, corpus 52): media types,
 * compression by magic, blob digests and sizes, DiffIDs over the whole decompressed stream,
 * foreign layers, empty layers and bytes after the last gzip member.
 */
import * as assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import * as zlib from 'node:zlib';
import { planLayers, streamLayer } from '../../src/deploy/layer-stream.js';
import type { DeployWarning } from '../../src/deploy/types.js';
import { isOcikitError } from '../../src/errors.js';
import type { LayerEntry, LayerVisitor } from '../../src/internal/tar/entry.js';
import { openDirImage } from '../../src/transports/dir/read.js';
import {
  type TestLayer,
  gzLayer,
  sha,
  skippableFrame,
  ustarLayer,
  writeDeployImage,
  zstdOf,
} from '../helpers/deploy-image.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';

/** Records entry names and file contents. */
function recorder() {
  const files = new Map<string, string>();
  let current: LayerEntry | undefined;
  let body: Buffer[] = [];
  const visitor: LayerVisitor = {
    entry(e) {
      current = e;
      body = [];
    },
    data(c) {
      body.push(Buffer.from(c));
    },
    end() {
      files.set(current!.name.toString(), Buffer.concat(body).toString());
    },
  };
  return { visitor, files };
}

/** Streams every layer of an image made of `layers`; returns what the visitor saw per layer and the warnings. */
async function run(t: TestContext, layers: TestLayer[], opts: Parameters<typeof writeDeployImage>[2] = {}) {
  const root = await tempDir(t);
  const img = await writeDeployImage(root, layers, opts);
  const reader = await openDirImage(img.dir);
  const warnings: DeployWarning[] = [];
  const seen: Map<string, string>[] = [];
  const results = [];
  for (const plan of planLayers(reader)) {
    const r = recorder();
    results.push(await streamLayer(reader, plan, r.visitor, { warn: (w) => warnings.push(w) }));
    seen.push(r.files);
  }
  return { seen, results, warnings };
}

const entries = [{ name: 'etc/' }, { name: 'etc/hello', body: 'hello\n' }];
const OCI_TAR = 'application/vnd.oci.image.layer.v1.tar';

describe('streamLayer', () => {
  it('reads gzip, zstd and plain layers, reporting what the bytes were', async (t) => {
    if (!needTool(t, 'zstd')) return;
    const tar = ustarLayer(entries);
    const { seen, results, warnings } = await run(t, [
      { tar, blob: zlib.gzipSync(tar) },
      { tar, blob: zstdOf(tar), mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' },
      { tar, blob: tar, mediaType: OCI_TAR },
    ]);
    assert.deepEqual(
      results.map((r) => r.compression),
      ['gzip', 'zstd', 'none'],
    );
    for (const s of seen) assert.equal(s.get('etc/hello'), 'hello\n');
    assert.deepEqual(warnings, []);
    assert.equal(results[0]!.diffId, sha(tar));
  });

  it('R3: converts Docker layer types; refuses encrypted, bzip2, xz and other types', async (t) => {
    const docker = await run(t, [gzLayer(entries)], { docker: true });
    assert.equal(docker.seen[0]!.get('etc/hello'), 'hello\n');
    for (const [mediaType, why] of [
      ['application/vnd.oci.image.layer.v1.tar+gzip+encrypted', /encrypted/],
      ['application/vnd.oci.image.layer.v1.tar+bzip2', /bzip2 and xz/],
      ['application/vnd.oci.image.layer.v1.tar+xz', /bzip2 and xz/],
      ['application/octet-stream', /not a layer media type/],
      ['application/vnd.docker.image.rootfs.diff.tar.zstd', /not a layer media type/],
    ] as const) {
      await assert.rejects(
        run(t, [{ ...gzLayer(entries), mediaType }], { docker: mediaType.includes('docker') }),
        (e: unknown) => isOcikitError(e, 'UNSUPPORTED') && why.test((e as Error).message),
        mediaType,
      );
    }
  });

  it('R4: a layer whose media type names the wrong compression is read by its magic, with a warning', async (t) => {
    const { seen, results, warnings } = await run(t, [{ ...gzLayer(entries), mediaType: OCI_TAR }]);
    assert.equal(results[0]!.compression, 'gzip');
    assert.equal(seen[0]!.get('etc/hello'), 'hello\n');
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!.code, 'compression-mismatch');
    assert.match(warnings[0]!.detail, /says none, the bytes are gzip/);
  });

  it('R5: a zstd:chunked-style layer (frames and skippable frames) decodes to the tar', async (t) => {
    if (!needTool(t, 'zstd')) return;
    const tar = ustarLayer([...entries, { name: 'big', body: Buffer.alloc(200_000, 'z') }]);
    const blob = Buffer.concat([
      zstdOf(tar.subarray(0, 1024)),
      skippableFrame(Buffer.from('toc')),
      zstdOf(tar.subarray(1024)),
      skippableFrame(Buffer.from('tar-split'), 1),
      skippableFrame(Buffer.alloc(40), 0xf),
    ]);
    const { seen, results } = await run(t, [{ tar, blob, mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' }]);
    assert.equal(results[0]!.diffId, sha(tar));
    assert.equal(seen[0]!.get('big')!.length, 200_000);
  });

  it('R6: a changed blob byte or a wrong size is DIGEST_MISMATCH', async (t) => {
    const good = gzLayer(entries);
    const flipped = Buffer.from(good.blob);
    flipped[flipped.length >> 1]! ^= 0x55;
    await assert.rejects(
      run(t, [{ ...good, blob: flipped, digest: sha(good.blob) }]),
      (e: unknown) => isOcikitError(e, 'DIGEST_MISMATCH') && /blob: expected digest/.test((e as Error).message),
    );
    await assert.rejects(
      run(t, [{ ...good, size: good.blob.length - 1 }]),
      (e: unknown) => isOcikitError(e, 'DIGEST_MISMATCH') && /expected \d+ bytes/.test((e as Error).message),
    );
  });

  it('R7: a wrong DiffID is DIGEST_MISMATCH naming the layer; a diff_ids count that differs is INVALID_MANIFEST', async (t) => {
    const l1 = gzLayer(entries);
    const l2 = gzLayer([{ name: 'two', body: '2' }]);
    await assert.rejects(
      run(t, [l1, { ...l2, diffId: sha(Buffer.from('other')) }]),
      (e: unknown) =>
        isOcikitError(e, 'DIGEST_MISMATCH') &&
        (e as Error).message.includes(`layer 2 (${sha(l2.blob)}) DiffID (config rootfs.diff_ids[1])`),
    );
    await assert.rejects(
      run(t, [l1, l2], { diffIds: [sha(l1.tar)] }),
      (e: unknown) => isOcikitError(e, 'INVALID_MANIFEST') && /1 diff_ids for 2 layers/.test((e as Error).message),
    );
  });

  it('R7: the DiffID covers the padding after the end blocks (GNU tar records)', async (t) => {
    // More padding than one decompressed chunk: only draining after the reader stops hashes it all.
    const pad = 20 * 10240;
    const tar = ustarLayer(entries, pad);
    const ok = await run(t, [{ tar, blob: zlib.gzipSync(tar) }]);
    assert.equal(ok.results[0]!.diffId, sha(tar));
    await assert.rejects(
      run(t, [{ tar, blob: zlib.gzipSync(tar), diffId: sha(tar.subarray(0, tar.length - pad)) }]),
      (e: unknown) => isOcikitError(e, 'DIGEST_MISMATCH'),
    );
  });

  it('R8: a foreign layer is read from the input; absent, it is NOT_FOUND naming its digest and urls', async (t) => {
    const l = gzLayer(entries);
    const mediaType = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip';
    const urls = ['https://foreign.example/layer'];
    const present = await run(t, [{ ...l, mediaType, urls }], { docker: true });
    assert.equal(present.seen[0]!.get('etc/hello'), 'hello\n');
    await assert.rejects(
      run(t, [{ ...l, mediaType, urls, omit: true }], { docker: true }),
      (e: unknown) =>
        isOcikitError(e, 'NOT_FOUND') &&
        (e as Error).message.includes(sha(l.blob)) &&
        (e as Error).message.includes(urls[0]!) &&
        /never downloads/.test((e as Error).message),
    );
  });

  it('R9: a layer of only end blocks is valid and has no entries', async (t) => {
    const { results, seen } = await run(t, [gzLayer([])]);
    assert.equal(results[0]!.entries, 0);
    assert.equal(seen[0]!.size, 0);
  });

  it('corpus 52: a second member and zeros are data; junk after the tar ended is a warning, before it an error', async (t) => {
    const tar = ustarLayer(entries, 1024);
    const half = 1024;
    const two = Buffer.concat([zlib.gzipSync(tar.subarray(0, half)), zlib.gzipSync(tar.subarray(half))]);
    const members = await run(t, [{ tar, blob: Buffer.concat([two, Buffer.alloc(100)]) }]);
    assert.equal(members.results[0]!.diffId, sha(tar));
    assert.deepEqual(members.warnings, []);

    const junk = await run(t, [{ tar, blob: Buffer.concat([zlib.gzipSync(tar), Buffer.from('junk\n')]) }]);
    assert.equal(junk.results[0]!.diffId, sha(tar));
    assert.deepEqual(
      junk.warnings.map((w) => w.code),
      ['trailing-data'],
    );
    const cut = tar.subarray(0, 1024);
    await assert.rejects(
      run(t, [{ tar: cut, blob: Buffer.concat([zlib.gzipSync(cut), Buffer.from('junk\n')]) }]),
      (e: unknown) => isOcikitError(e, 'INVALID_INPUT') && /tar had not ended/.test((e as Error).message),
    );
  });
});
