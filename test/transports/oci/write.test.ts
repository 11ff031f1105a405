/**
 * The OCI layout writer: `index.json` byte for byte as skopeo 1.9.3 writes it, a layout the reader
 * (and skopeo) reads back, and the golden layout of two fixed images as the writer of ocikit
 * before the writers moved beside their readers produced it.
 */
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { installNative } from '../../../src/install/to-layout.js';
import { isOcikitError } from '../../../src/errors.js';
import type { Digest } from '../../../src/model/digest.js';
import { openDirImage } from '../../../src/transports/dir/read.js';
import { OCI_LAYOUT_FILE, openOciLayout, parseIndexJson } from '../../../src/transports/oci/read.js';
import { createOciLayout, finishOciLayout, ociIndexJson, writeOciBlob } from '../../../src/transports/oci/write.js';
import { UPSTREAM } from '../../helpers/fixtures.js';
import { treeDigest, writeFixedDirImage } from '../../helpers/fixed-images.js';
import { tempDir } from '../../helpers/tmp.js';
import { needTool } from '../../helpers/tools.js';
import { spawnSync } from 'node:child_process';

const code = (c: string) => (e: unknown) => isOcikitError(e, c as never);
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;

/** Recorded from the writer before this module existed (two fixed images, see the test). */
const GOLDEN_LAYOUT = 'sha256:9c856c60d0fa9b456532abf290c812e1ecc4396cf91d42842204acdaf98fc4cf';

describe('ociIndexJson', () => {
  it("is skopeo 1.9.3's index.json, byte for byte (oci-two-refs)", async () => {
    const file = join(UPSTREAM, 'skopeo-observed/layouts/oci-two-refs/index.json');
    const bytes = await readFile(file);
    const entries = parseIndexJson(bytes, file).map((e) => ({
      mediaType: e.mediaType,
      digest: e.digest,
      size: e.size,
      refName: e.annotations['org.opencontainers.image.ref.name']!,
    }));
    assert.deepEqual(ociIndexJson(entries), bytes);
  });

  it("escapes names as Go's encoding/json does", () => {
    const d = `sha256:${'a'.repeat(64)}` as Digest;
    const json = ociIndexJson([{ mediaType: 'x', digest: d, size: 1, refName: 'a<b>&c' }]).toString();
    assert.ok(json.includes('"a\\u003cb\\u003e\\u0026c"'), json);
    assert.equal(JSON.parse(json).manifests[0].annotations['org.opencontainers.image.ref.name'], 'a<b>&c');
  });
});

describe('the OCI layout writer', () => {
  it('writes a layout the reader opens by name', async (t) => {
    const dir = await tempDir(t);
    const img = await writeFixedDirImage(join(dir, 'src'), 'oci', 3, [700]);
    const layout = join(dir, 'layout');
    await createOciLayout(layout);
    const config = await readFile(join(img.dir, img.configDigest.slice(7)));
    const layer = await readFile(join(img.dir, img.layers[0]!.digest.slice(7)));
    for (const b of [img.manifest, config, layer]) await writeOciBlob(layout, sha(b), (fh) => fh.writeFile(b));
    await finishOciLayout(layout, [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: img.manifestDigest as Digest,
        size: img.manifest.length,
        refName: 'localhost/x:1',
      },
    ]);
    assert.equal(await readFile(join(layout, 'oci-layout'), 'utf8'), OCI_LAYOUT_FILE);
    const r = await openOciLayout(layout, { ref: 'localhost/x:1' });
    assert.equal(r.manifest.digest, img.manifestDigest);
    assert.deepEqual(r.config, config);
  });

  it('refuses to create a layout where something exists', async (t) => {
    const dir = await tempDir(t);
    await assert.rejects(createOciLayout(dir), code('IO'));
  });

  it('refuses to write a blob twice', async (t) => {
    const dir = await tempDir(t);
    const layout = join(dir, 'l');
    await createOciLayout(layout);
    const b = Buffer.from('x');
    await writeOciBlob(layout, sha(b), (fh) => fh.writeFile(b));
    await assert.rejects(
      writeOciBlob(layout, sha(b), (fh) => fh.writeFile(b)),
      code('IO'),
    );
  });

  it('writes the same layout as before for two fixed images, which skopeo reads', async (t) => {
    const dir = await tempDir(t);
    const a = await writeFixedDirImage(join(dir, 'a'), 'oci', 1);
    const b = await writeFixedDirImage(join(dir, 'b'), 'docker', 2);
    const layout = join(dir, 'layout');
    const res = await installNative(
      [
        { reader: await openDirImage(a.dir), name: 'localhost/a:latest' },
        { reader: await openDirImage(b.dir), name: 'registry.example.com:5000/ns/b:v1.0' },
      ],
      { type: 'oci', path: layout },
    );
    assert.equal(await treeDigest(layout), GOLDEN_LAYOUT);
    if (!needTool(t, 'skopeo')) return;
    for (const r of res) {
      const out = spawnSync('skopeo', ['inspect', '--raw', r.reference]);
      assert.equal(out.status, 0, out.stderr.toString());
      assert.equal(sha(out.stdout), r.manifestDigest);
    }
  });
});
