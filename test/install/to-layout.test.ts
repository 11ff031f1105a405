/**
 * installNative(): every destination read back and copied on by real skopeo, byte comparisons
 * with what skopeo itself writes, several images per layout, determinism, and hostile sources
 * (wrong, short, long and missing blobs) that must leave nothing at the destination.
 */
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, rename, stat, truncate, writeFile, appendFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { installNative, type InstallNativeProgress } from '../../src/install/to-layout.js';
import { openDirImage } from '../../src/transports/dir/read.js';
import { openOciLayout } from '../../src/transports/oci/read.js';
import { withOciArchive } from '../../src/transports/oci-archive/read.js';
import { isOcikitError } from '../../src/errors.js';
import { makeDirImage, makeTar } from '../helpers/images.js';
import { needTool } from '../helpers/tools.js';
import { tempDir } from '../helpers/tmp.js';
import { UPSTREAM } from '../helpers/fixtures.js';

const code = (c: string) => (e: unknown) => isOcikitError(e, c as never);
const NAME = 'localhost/foo:latest';

function skopeo(...args: string[]): string {
  const r = spawnSync('skopeo', args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `skopeo ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Every file under `dir`, relative path → bytes. */
async function tree(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const walk = async (rel: string) => {
    for (const e of await readdir(join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(r);
      else out.set(r, await readFile(join(dir, r)));
    }
  };
  await walk('');
  return out;
}

/** Sets every tar header's mtime to 0 and recomputes its checksum (to compare with skopeo's). */
function zeroTarMtimes(b: Buffer): Buffer {
  const x = Buffer.from(b);
  let at = 0;
  while (at + 512 <= x.length && x[at] !== 0) {
    const size = parseInt(x.subarray(at + 124, at + 135).toString('latin1'), 8);
    x.write('00000000000\0', at + 136, 'latin1');
    x.fill(0x20, at + 148, at + 156);
    let sum = 0;
    for (let i = at; i < at + 512; i++) sum += x[i]!;
    x.write(`${sum.toString(8).padStart(6, '0')}\0 `, at + 148, 'latin1');
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return x;
}

async function install(src: string, type: 'oci' | 'oci-archive' | 'dir', dest: string, name = NAME) {
  return installNative([{ reader: await openDirImage(src), name }], { type, path: dest });
}

async function onlyEntries(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

describe('installNative', () => {
  it('keeps an OCI image byte-for-byte and writes the layout skopeo writes', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const dir = await tempDir(t);
    const img = await makeDirImage(join(dir, 'src'), { flavour: 'oci', layers: 2 });
    const [res] = await install(img.dir, 'oci', join(dir, 'ours'));
    assert.equal(res?.manifestDigest, img.manifestDigest);
    assert.equal(res?.imageId, img.configDigest);
    assert.equal(res?.reference, `oci:${join(dir, 'ours')}:${NAME}`);
    skopeo('copy', '-q', `dir:${img.dir}`, `oci:${join(dir, 'theirs')}:${NAME}`);
    assert.deepEqual(await tree(join(dir, 'ours')), await tree(join(dir, 'theirs')));
  });

  it("converts a Docker image to exactly skopeo's OCI layout", async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const dir = await tempDir(t);
    const img = await makeDirImage(join(dir, 'src'), { flavour: 'docker', layers: 3 });
    const [res] = await install(img.dir, 'oci', join(dir, 'ours'));
    assert.notEqual(res?.manifestDigest, img.manifestDigest);
    skopeo('copy', '-q', `dir:${img.dir}`, `oci:${join(dir, 'theirs')}:${NAME}`);
    assert.deepEqual(await tree(join(dir, 'ours')), await tree(join(dir, 'theirs')));
    const inspected = JSON.parse(skopeo('inspect', `oci:${join(dir, 'ours')}:${NAME}`));
    assert.equal(inspected.Digest, res?.manifestDigest);
  });

  it("writes skopeo's oci-archive, header for header (mtime aside)", async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const dir = await tempDir(t);
    const img = await makeDirImage(join(dir, 'src'), { flavour: 'docker', layers: 2 });
    await install(img.dir, 'oci-archive', join(dir, 'ours.tar'));
    skopeo('copy', '-q', `dir:${img.dir}`, `oci-archive:${join(dir, 'theirs.tar')}:${NAME}`);
    const ours = await readFile(join(dir, 'ours.tar'));
    assert.deepEqual(ours, zeroTarMtimes(await readFile(join(dir, 'theirs.tar'))));
  });

  for (const flavour of ['oci', 'docker'] as const) {
    it(`writes a valid skopeo dir: keeping the ${flavour} manifest bytes`, async (t) => {
      if (!needTool(t, 'skopeo')) return;
      const dir = await tempDir(t);
      const img = await makeDirImage(join(dir, 'src'), { flavour, layers: 2 });
      const [res] = await install(img.dir, 'dir', join(dir, 'ours'));
      assert.equal(res?.reference, `dir:${join(dir, 'ours')}`);
      assert.equal(res?.manifestDigest, img.manifestDigest);
      skopeo('copy', '-q', `dir:${img.dir}`, `dir:${join(dir, 'theirs')}`);
      assert.deepEqual(await tree(join(dir, 'ours')), await tree(join(dir, 'theirs')));
      skopeo('copy', '-q', `dir:${join(dir, 'ours')}`, `dir:${join(dir, 'again')}`);
      assert.equal(JSON.parse(skopeo('inspect', `dir:${join(dir, 'ours')}`)).Digest, img.manifestDigest);
    });
  }

  for (const type of ['oci', 'oci-archive'] as const) {
    it(`puts two images into one ${type}, each resolvable by name and copied on by skopeo`, async (t) => {
      if (!needTool(t, 'skopeo')) return;
      const dir = await tempDir(t);
      const a = await makeDirImage(join(dir, 'a'), { flavour: 'oci' });
      const b = await makeDirImage(join(dir, 'b'), { flavour: 'docker' });
      const dest = join(dir, type === 'oci' ? 'layout' : 'x.tar');
      const res = await installNative(
        [
          { reader: await openDirImage(a.dir), name: 'localhost/a:latest' },
          { reader: await openDirImage(b.dir), name: 'registry.example.com:5000/ns/b:v1.0' },
        ],
        { type, path: dest },
      );
      for (const r of res) {
        assert.equal(r.reference, `${type}:${dest}:${r.name}`);
        assert.equal(JSON.parse(skopeo('inspect', r.reference)).Digest, r.manifestDigest);
        const out = join(dir, `copy-${r.imageId.slice(7, 15)}`);
        skopeo('copy', '-q', r.reference, `dir:${out}`);
        assert.equal(JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')).config.digest, r.imageId);
      }
      assert.equal(res[0]?.manifestDigest, a.manifestDigest);
    });
  }

  it('writes a blob shared by two images once', async (t) => {
    const dir = await tempDir(t);
    const a = await makeDirImage(join(dir, 'a'), { flavour: 'oci', layers: 2 });
    const r = await openDirImage(a.dir);
    await installNative(
      [
        { reader: r, name: 'localhost/a:one' },
        { reader: r, name: 'localhost/a:two' },
      ],
      { type: 'oci', path: join(dir, 'l') },
    );
    assert.equal((await readdir(join(dir, 'l', 'blobs', 'sha256'))).length, 4); // manifest, config, 2 layers
    const index = JSON.parse(await readFile(join(dir, 'l', 'index.json'), 'utf8'));
    assert.deepEqual(
      index.manifests.map(
        (m: { annotations: Record<string, string> }) => m.annotations['org.opencontainers.image.ref.name'],
      ),
      ['localhost/a:one', 'localhost/a:two'],
    );
    assert.equal((await openOciLayout(join(dir, 'l'), { ref: 'localhost/a:two' })).manifest.digest, a.manifestDigest);
  });

  it('writes byte-identical archives for the same inputs', async (t) => {
    const dir = await tempDir(t);
    const a = await makeDirImage(join(dir, 'a'), { flavour: 'docker', layers: 3 });
    await install(a.dir, 'oci-archive', join(dir, '1.tar'));
    await install(a.dir, 'oci-archive', join(dir, '2.tar'));
    assert.deepEqual(await readFile(join(dir, '1.tar')), await readFile(join(dir, '2.tar')));
  });

  it('reads back its own archive through withOciArchive', async (t) => {
    const dir = await tempDir(t);
    const a = await makeDirImage(join(dir, 'a'), { flavour: 'oci', layers: 2 });
    await install(a.dir, 'oci-archive', join(dir, 'x.tar'));
    const res = await withOciArchive(
      join(dir, 'x.tar'),
      (reader) => installNative([{ reader, name: NAME }], { type: 'dir', path: join(dir, 'back') }),
      {
        ref: NAME,
        tmpdir: dir,
      },
    );
    assert.equal(res[0]?.manifestDigest, a.manifestDigest);
    assert.deepEqual(await readFile(join(dir, 'back', 'manifest.json')), a.manifest);
  });

  it('keeps uncompressed Docker layers uncompressed, with the OCI tar media type', async (t) => {
    const dir = await tempDir(t);
    const { createHash } = await import('node:crypto');
    const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
    const layer = await makeTar({ 'f.txt': 'plain' });
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layer)] } }),
    );
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: config.length, digest: sha(config) },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar', size: layer.length, digest: sha(layer) }],
    });
    await mkdir(join(dir, 'src'));
    await writeFile(join(dir, 'src', 'manifest.json'), manifest);
    await writeFile(join(dir, 'src', sha(config).slice(7)), config);
    await writeFile(join(dir, 'src', sha(layer).slice(7)), layer);
    await install(join(dir, 'src'), 'oci', join(dir, 'out'));
    const r = await openOciLayout(join(dir, 'out'));
    assert.equal(r.manifest.layers[0]?.mediaType, 'application/vnd.oci.image.layer.v1.tar');
    assert.equal(r.manifest.layers[0]?.digest, sha(layer));
  });

  it('reports progress up to the total of each image', async (t) => {
    const dir = await tempDir(t);
    const a = await makeDirImage(join(dir, 'a'), { layers: 2, layerSize: 100_000 });
    const events: InstallNativeProgress[] = [];
    await installNative(
      [{ reader: await openDirImage(a.dir), name: NAME }],
      { type: 'oci', path: join(dir, 'o') },
      { onProgress: (e) => events.push(e) },
    );
    const total = a.layers.reduce((s, l) => s + l.size, 0);
    assert.ok(events.length >= 2);
    assert.deepEqual(events.at(-1), { index: 0, name: NAME, done: total, total });
  });

  it('reports progress by item index, also after a repeated name was merged away', async (t) => {
    const dir = await tempDir(t);
    const a = await makeDirImage(join(dir, 'a'), { layerSize: 1000 });
    const b = await makeDirImage(join(dir, 'b'), { layerSize: 2000 });
    const ra = await openDirImage(a.dir);
    const events: InstallNativeProgress[] = [];
    await installNative(
      [
        { reader: ra, name: 'localhost/a:1' },
        { reader: ra, name: 'localhost/a:1' },
        { reader: await openDirImage(b.dir), name: 'localhost/b:1' },
      ],
      { type: 'oci', path: join(dir, 'o') },
      { onProgress: (e) => events.push(e) },
    );
    const last = (i: number) => events.filter((e) => e.index === i).at(-1);
    assert.deepEqual(last(0), { index: 0, name: 'localhost/a:1', done: a.layers[0]!.size, total: a.layers[0]!.size });
    assert.equal(last(1), undefined);
    assert.deepEqual(last(2), { index: 2, name: 'localhost/b:1', done: b.layers[0]!.size, total: b.layers[0]!.size });
  });

  it('never shares inodes with the source', async (t) => {
    const dir = await tempDir(t);
    const a = await makeDirImage(join(dir, 'a'), { flavour: 'oci' });
    await install(a.dir, 'dir', join(dir, 'o'));
    const l = a.layers[0]!.digest.slice(7);
    assert.notEqual((await stat(join(a.dir, l))).ino, (await stat(join(dir, 'o', l))).ino);
  });

  const hostile: [string, string, (file: string) => Promise<void>][] = [
    [
      'a blob with the wrong content',
      'DIGEST_MISMATCH',
      async (f) => {
        const b = await readFile(f);
        b.writeUInt8(b.readUInt8(b.length - 1) ^ 1, b.length - 1);
        await writeFile(f, b);
      },
    ],
    ['a truncated blob', 'DIGEST_MISMATCH', (f) => truncate(f, 10)],
    ['a blob with extra bytes', 'DIGEST_MISMATCH', (f) => appendFile(f, 'x')],
    ['a missing blob', 'NOT_FOUND', async (f) => rename(f, `${f}.gone`)],
  ];
  for (const [label, want, spoil] of hostile) {
    for (const type of ['oci', 'oci-archive', 'dir'] as const) {
      it(`fails on ${label} into ${type} (${want}), leaving nothing`, async (t) => {
        const dir = await tempDir(t);
        const a = await makeDirImage(join(dir, 'src'), { flavour: 'docker', layers: 3, layerSize: 50_000 });
        const reader = await openDirImage(a.dir);
        await spoil(join(a.dir, a.layers[1]!.digest.slice(7)));
        await mkdir(join(dir, 'tree'));
        await assert.rejects(
          installNative([{ reader, name: NAME }], { type, path: join(dir, 'tree', 'dest') }),
          code(want),
        );
        assert.deepEqual(await onlyEntries(join(dir, 'tree')), []);
      });
    }
  }

  it('refuses an existing destination with EXISTS and leaves it alone', async (t) => {
    const dir = await tempDir(t);
    const a = await makeDirImage(join(dir, 'src'));
    await mkdir(join(dir, 'emptydir'));
    await writeFile(join(dir, 'file.tar'), 'keep');
    await assert.rejects(install(a.dir, 'oci', join(dir, 'emptydir')), code('EXISTS'));
    await assert.rejects(install(a.dir, 'oci-archive', join(dir, 'file.tar')), code('EXISTS'));
    assert.deepEqual(await readdir(join(dir, 'emptydir')), []);
    assert.equal(await readFile(join(dir, 'file.tar'), 'utf8'), 'keep');
  });

  it('keeps signatures in a dir destination as skopeo does, and drops them with removeSignatures', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const dir = await tempDir(t);
    const a = await makeDirImage(join(dir, 'src'));
    const sig1 = await readFile(join(UPSTREAM, 'containers-image/signature/fixtures/dir-img-valid-2/signature-1'));
    // A real simple-signing (OpenPGP) signature from containers/image's fixtures.
    const sig2 = await readFile(join(UPSTREAM, 'containers-image/signature/fixtures/dir-img-valid/signature-1'));
    await writeFile(join(a.dir, 'signature-1'), sig1);
    await writeFile(join(a.dir, 'signature-2'), sig2);
    await writeFile(join(a.dir, 'signature-4'), 'after a gap: not read');
    await install(a.dir, 'dir', join(dir, 'ours'));
    skopeo('copy', '--quiet', `dir:${a.dir}`, `dir:${join(dir, 'theirs')}`);
    assert.deepEqual(await tree(join(dir, 'ours')), await tree(join(dir, 'theirs')));
    assert.deepEqual(await readFile(join(dir, 'ours', 'signature-2')), sig2);
    await installNative(
      [{ reader: await openDirImage(a.dir), name: NAME }],
      { type: 'dir', path: join(dir, 'nosig') },
      { removeSignatures: true },
    );
    assert.deepEqual(
      (await onlyEntries(join(dir, 'nosig'))).filter((n) => n.startsWith('signature')),
      [],
    );
  });

  it('refuses a signed image into an OCI layout unless removeSignatures, as skopeo does', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const dir = await tempDir(t);
    const a = await makeDirImage(join(dir, 'src'));
    await writeFile(join(a.dir, 'signature-1'), 'sig');
    const r = spawnSync('skopeo', ['copy', '--quiet', `dir:${a.dir}`, `oci:${join(dir, 'skopeo-oci')}:x`], {
      encoding: 'utf8',
    });
    assert.notEqual(r.status, 0, 'skopeo refuses it too');
    for (const type of ['oci', 'oci-archive'] as const) {
      await assert.rejects(install(a.dir, type, join(dir, `out-${type}`)), code('UNSUPPORTED'));
      assert.ok(!(await readdir(dir)).includes(`out-${type}`));
      await installNative(
        [{ reader: await openDirImage(a.dir), name: NAME }],
        { type, path: join(dir, `out-${type}`) },
        { removeSignatures: true },
      );
      skopeo('inspect', '--raw', `${type}:${join(dir, `out-${type}`)}:${NAME}`);
    }
  });

  it('copies and verifies large blobs (several 4 MiB reads each) for every destination', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const dir = await tempDir(t);
    const a = await makeDirImage(join(dir, 'src'), { layers: 2, layerSize: 17 * 1024 * 1024 });
    for (const type of ['oci', 'oci-archive', 'dir'] as const) {
      const out = join(dir, `out-${type}`);
      await install(a.dir, type, out);
      skopeo(
        'copy',
        '--quiet',
        `${type}:${out}${type === 'dir' ? '' : `:${NAME}`}`,
        `dir:${join(dir, `back-${type}`)}`,
      );
      for (const l of a.layers) assert.deepEqual(await readFile(join(dir, `back-${type}`, l.digest.slice(7))), l.bytes);
    }
  });

  for (const [label, damage, want] of [
    [
      'a flipped byte',
      async (f: string) => {
        const b = await readFile(f);
        b[b.length >> 1]! ^= 0xff;
        await writeFile(f, b);
      },
      'DIGEST_MISMATCH',
    ],
    ['a truncated file', async (f: string) => truncate(f, 16 * 1024 * 1024), 'DIGEST_MISMATCH'],
    ['extra bytes', async (f: string) => appendFile(f, 'x'), 'DIGEST_MISMATCH'],
  ] as const) {
    it(`refuses a large blob with ${label}, leaving nothing`, async (t) => {
      const dir = await tempDir(t);
      const a = await makeDirImage(join(dir, 'src'), { layerSize: 17 * 1024 * 1024 });
      await damage(join(a.dir, a.layers[0]!.digest.slice(7)));
      // 17 MiB spans several read chunks: the damage is met mid-stream, not in the first read.
      for (const type of ['oci', 'oci-archive', 'dir'] as const) {
        await assert.rejects(install(a.dir, type, join(dir, `out-${type}`)), code(want));
      }
      assert.deepEqual(await onlyEntries(dir), ['src']);
    });
  }

  it('refuses several images into one dir with INVALID_INPUT', async (t) => {
    const dir = await tempDir(t);
    const r = await openDirImage((await makeDirImage(join(dir, 'src'))).dir);
    await assert.rejects(
      installNative(
        [
          { reader: r, name: 'localhost/a:1' },
          { reader: r, name: 'localhost/a:2' },
        ],
        { type: 'dir', path: join(dir, 'o') },
      ),
      code('INVALID_INPUT'),
    );
  });

  it('refuses a name that is not an oci reference, and one name for two images', async (t) => {
    const dir = await tempDir(t);
    const a = await openDirImage((await makeDirImage(join(dir, 'a'))).dir);
    const b = await openDirImage((await makeDirImage(join(dir, 'b'))).dir);
    await assert.rejects(
      installNative([{ reader: a, name: 'bad name' }], { type: 'oci', path: join(dir, 'o') }),
      code('INVALID_INPUT'),
    );
    await assert.rejects(
      installNative(
        [
          { reader: a, name: NAME },
          { reader: b, name: NAME },
        ],
        { type: 'oci', path: join(dir, 'o') },
      ),
      code('INVALID_INPUT'),
    );
    assert.deepEqual((await readdir(dir)).sort(), ['a', 'b']);
  });

  it('stops with INTERRUPTED when aborted, leaving nothing', async (t) => {
    const dir = await tempDir(t);
    const a = await makeDirImage(join(dir, 'src'), { layers: 2, layerSize: 100_000 });
    await mkdir(join(dir, 'tree'));
    const ac = new AbortController();
    await assert.rejects(
      installNative(
        [{ reader: await openDirImage(a.dir), name: NAME }],
        { type: 'oci', path: join(dir, 'tree', 'o') },
        { signal: ac.signal, onProgress: () => ac.abort() },
      ),
      code('INTERRUPTED'),
    );
    assert.deepEqual(await readdir(join(dir, 'tree')), []);
  });

  it('leaves at most a hidden temporary sibling when SIGKILLed mid-copy', async (t) => {
    const dir = await tempDir(t);
    const gen = fileURLToPath(new URL('../../../bench/gen-big-image.mjs', import.meta.url));
    const driver = fileURLToPath(new URL('../../../bench/install-native-driver.mjs', import.meta.url));
    assert.equal(spawnSync('node', [gen, join(dir, 'big'), '--size-mb', '40', '--layers', '3']).status, 0);
    await mkdir(join(dir, 'tree'));
    for (const type of ['oci', 'oci-archive'] as const) {
      const child = spawn('node', [driver, join(dir, 'big'), type, join(dir, 'tree', type)], { stdio: 'ignore' });
      // Kill as soon as the temporary sibling exists (the copy is under way).
      for (let i = 0; i < 2000; i++) {
        if ((await readdir(join(dir, 'tree'))).some((n) => n.startsWith(`.${type}.`))) break;
        await new Promise((r) => setTimeout(r, 2));
      }
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      const left = await readdir(join(dir, 'tree'));
      assert.ok(!left.includes(type), `${type}: the destination must not appear (${left.join(', ')})`);
      assert.ok(
        left.every((n) => n.startsWith('.')),
        left.join(', '),
      );
    }
  });
});
