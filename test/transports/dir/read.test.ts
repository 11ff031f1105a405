import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdir, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  DIR_VERSION,
  dirBlobPath,
  dirInstanceManifestPath,
  openDirImage,
  readDirManifest,
  resolveDirManifest,
} from '../../../src/transports/dir/read.js';
import { parseManifest } from '../../../src/model/manifest.js';
import type { Digest } from '../../../src/model/digest.js';
import { isOcikitError } from '../../../src/errors.js';
import { makeDirImage, makeList } from '../../helpers/images.js';
import { tempDir } from '../../helpers/tmp.js';

const code = (c: string) => (e: unknown) => isOcikitError(e, c as never);
const HEX = 'a'.repeat(64);

async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A merged list dir (osbuild style): list in manifest.json, instances as <hex>.manifest.json. */
async function mergedListDir(dir: string) {
  const amd = await makeDirImage(dir, { platform: { architecture: 'amd64', os: 'linux' } });
  const arm = await makeDirImage(join(dir, '..', 'arm-tmp'), {
    platform: { architecture: 'arm64', os: 'linux', variant: 'v8' },
  });
  for (const f of [arm.configDigest, ...arm.layers.map((l) => l.digest)])
    await rename(join(arm.dir, f.slice(7)), join(dir, f.slice(7)));
  await writeFile(dirInstanceManifestPath(dir, arm.manifestDigest as Digest), arm.manifest);
  await rename(join(dir, 'manifest.json'), dirInstanceManifestPath(dir, amd.manifestDigest as Digest));
  const list = makeList([amd, arm]);
  await writeFile(join(dir, 'manifest.json'), list.bytes);
  return { amd, arm, list };
}

describe('DIR_VERSION', () => {
  it('is the 33-byte version line skopeo writes', () => {
    assert.equal(DIR_VERSION, 'Directory Transport Version: 1.1\n');
    assert.equal(Buffer.byteLength(DIR_VERSION), 33);
  });
});

describe('dirBlobPath', () => {
  it('names a blob by bare hex', () => assert.equal(dirBlobPath('/x', `sha256:${HEX}` as Digest), `/x/${HEX}`));
  it('refuses a non-digest', () =>
    assert.throws(() => dirBlobPath('/x', 'sha256:../../etc' as Digest), code('INVALID_DIGEST')));
});

describe('dirInstanceManifestPath', () => {
  it('names an instance <hex>.manifest.json', () =>
    assert.equal(dirInstanceManifestPath('/x', `sha256:${HEX}` as Digest), `/x/${HEX}.manifest.json`));
  it('refuses a non-digest', () =>
    assert.throws(() => dirInstanceManifestPath('/x', 'md5:1' as Digest), code('INVALID_DIGEST')));
});

describe('openDirImage', () => {
  it('reads manifest (raw bytes), verified config and blobs', async (t) => {
    const dir = await tempDir(t);
    const img = await makeDirImage(join(dir, 'img'), { layers: 2 });
    const r = await openDirImage(img.dir);
    assert.deepEqual(r.manifest.raw, img.manifest);
    assert.equal(r.manifest.digest, img.manifestDigest);
    assert.deepEqual(r.config, img.config);
    assert.deepEqual(await readAll(await r.openBlob(r.manifest.layers[1]!)), img.layers[1]!.bytes);
    assert.equal(r.blobPath?.(r.manifest.layers[0]!), join(img.dir, img.layers[0]!.digest.slice(7)));
  });

  it('does not need the version file', async (t) => {
    const dir = await tempDir(t);
    const img = await makeDirImage(join(dir, 'img'));
    await rename(join(img.dir, 'version'), join(dir, 'moved'));
    assert.equal((await openDirImage(img.dir)).manifest.digest, img.manifestDigest);
  });

  it('picks the list instance for a platform and verifies it', async (t) => {
    const dir = await tempDir(t);
    const { arm, amd } = await mergedListDir(join(dir, 'm'));
    const r = await openDirImage(join(dir, 'm'), { platform: { architecture: 'arm64', os: 'linux' } });
    assert.equal(r.manifest.digest, arm.manifestDigest);
    const byDigest = await openDirImage(join(dir, 'm'), { instance: amd.manifestDigest as Digest });
    assert.deepEqual(byDigest.manifest.raw, amd.manifest);
  });

  it('refuses an instance file whose digest is not the requested one', async (t) => {
    const dir = await tempDir(t);
    const { arm, amd } = await mergedListDir(join(dir, 'm'));
    await writeFile(dirInstanceManifestPath(join(dir, 'm'), arm.manifestDigest as Digest), amd.manifest);
    await assert.rejects(
      openDirImage(join(dir, 'm'), { instance: arm.manifestDigest as Digest }),
      code('DIGEST_MISMATCH'),
    );
  });

  it('fails when the list has no instance for the platform', async (t) => {
    const dir = await tempDir(t);
    await mergedListDir(join(dir, 'm'));
    await assert.rejects(
      openDirImage(join(dir, 'm'), { platform: { architecture: 's390x', os: 'linux' } }),
      code('NOT_FOUND'),
    );
  });

  it('fails on a config that does not match its digest', async (t) => {
    const dir = await tempDir(t);
    const img = await makeDirImage(join(dir, 'img'));
    await writeFile(join(img.dir, img.configDigest.slice(7)), '{"tampered":true}');
    await assert.rejects(openDirImage(img.dir), code('DIGEST_MISMATCH'));
  });

  it('fails on a missing manifest or blob with NOT_FOUND', async (t) => {
    const dir = await tempDir(t);
    await mkdir(join(dir, 'empty'));
    await assert.rejects(openDirImage(join(dir, 'empty')), code('NOT_FOUND'));
    const img = await makeDirImage(join(dir, 'img'));
    const r = await openDirImage(img.dir);
    await rename(join(img.dir, img.layers[0]!.digest.slice(7)), join(dir, 'gone'));
    await assert.rejects(r.openBlob(r.manifest.layers[0]!), code('NOT_FOUND'));
  });

  it('refuses a blob that is a symlink', async (t) => {
    const dir = await tempDir(t);
    const img = await makeDirImage(join(dir, 'img'));
    const p = join(img.dir, img.layers[0]!.digest.slice(7));
    await rename(p, join(dir, 'real'));
    await symlink(join(dir, 'real'), p);
    const r = await openDirImage(img.dir);
    await assert.rejects(r.openBlob(r.manifest.layers[0]!), (e: unknown) => isOcikitError(e));
  });

  it('refuses a schema 1 manifest as UNSUPPORTED', async (t) => {
    const dir = await tempDir(t);
    await mkdir(join(dir, 's1'));
    const s1 = await readFile(
      new URL(
        '../../../../test/fixtures/upstream/containers-image/manifest/fixtures/v2s1-unsigned.manifest.json',
        import.meta.url,
      ),
    );
    await writeFile(join(dir, 's1', 'manifest.json'), s1);
    await assert.rejects(openDirImage(join(dir, 's1')), code('UNSUPPORTED'));
  });
});

describe('openDirImage with a parsed manifest.json', () => {
  it('uses it instead of reading manifest.json again', async (t) => {
    const dir = await tempDir(t);
    const img = await makeDirImage(join(dir, 'i'));
    const manifest = await readDirManifest('k', img.dir);
    await writeFile(join(img.dir, 'manifest.json'), 'not json');
    const r = await openDirImage(img.dir, { manifest });
    assert.deepEqual(r.manifest.raw, img.manifest);
    assert.deepEqual(r.config, img.config);
  });

  it('resolves a parsed list to the instance, reading only <hex>.manifest.json', async (t) => {
    const dir = await tempDir(t);
    const { arm, list } = await mergedListDir(join(dir, 'm'));
    const top = parseManifest(list.bytes, 'list');
    await writeFile(join(dir, 'm', 'manifest.json'), 'not json');
    const m = await resolveDirManifest(join(dir, 'm'), top, { platform: { architecture: 'arm64', os: 'linux' } });
    assert.equal(m.digest, arm.manifestDigest);
    assert.equal(m.config.digest, arm.configDigest);
    const r = await openDirImage(join(dir, 'm'), { manifest: top, platform: { architecture: 'arm64', os: 'linux' } });
    assert.equal(r.manifest.digest, arm.manifestDigest);
  });
});
