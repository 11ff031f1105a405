import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { linkSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, symlink, writeFile, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseContainersInput, resolveContainersInput } from '../../src/osbuild/inputs.js';
import { readManifestLists } from '../../src/osbuild/manifest-lists.js';
import { type GeneratedImage, makeDirImage, makeList } from '../helpers/images.js';
import { runNode } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { UPSTREAM } from '../helpers/fixtures.js';

const FIX = UPSTREAM;
const BIN = fileURLToPath(new URL('../../../bin/ocikit', import.meta.url));

/** Lays out an osbuild-style input: images/<id> dir images and lists/<digest> files. */
async function layout(root: string, images: { key?: string; opts?: Parameters<typeof makeDirImage>[1] }[]) {
  const imagesPath = join(root, 'images');
  const listsPath = join(root, 'lists');
  await mkdir(imagesPath, { recursive: true });
  await mkdir(listsPath, { recursive: true });
  const made: GeneratedImage[] = [];
  for (const spec of images) {
    const tmp = join(root, `tmp-${made.length}`);
    const img = await makeDirImage(tmp, spec.opts);
    const key = spec.key ?? img.configDigest;
    await rm(join(imagesPath, key), { recursive: true, force: true });
    await import('node:fs/promises').then((fs) => fs.rename(tmp, join(imagesPath, key)));
    made.push({ ...img, dir: join(imagesPath, key) });
  }
  return { imagesPath, listsPath, made };
}

async function writeList(listsPath: string, imgs: GeneratedImage[], flavour: 'oci' | 'docker' = 'oci') {
  const l = makeList(imgs, flavour);
  await writeFile(join(listsPath, l.digest), l.bytes);
  return l;
}

const archivesOf = (made: GeneratedImage[], fmt = 'dir') =>
  Object.fromEntries(made.map((m, i) => [m.configDigest, { format: fmt, name: `localhost/img${i}:latest` }]));

async function rejects(p: Promise<unknown>, code: string, includes: string[] = []) {
  await assert.rejects(p, (err: Error & { code?: string }) => {
    assert.equal(err.code, code, `code of: ${err.message}`);
    for (const s of includes)
      assert.ok(err.message.includes(s), `message ${JSON.stringify(err.message)} should include ${s}`);
    return true;
  });
}

describe('parseContainersInput', () => {
  it('resolves dir images without lists to the reference shape', async (t) => {
    const root = await tempDir(t);
    const { imagesPath, made } = await layout(root, [{}]);
    const img = made[0]!;
    const result = await parseContainersInput({ images: { path: imagesPath, data: { archives: archivesOf(made) } } });
    assert.deepEqual(result, {
      [img.configDigest]: {
        filepath: join(imagesPath, img.configDigest),
        'manifest-list': null,
        data: { format: 'dir', name: 'localhost/img0:latest' },
        checksum: img.configDigest,
      },
    });
  });

  it('matches a dir image to its list by manifest digest', async (t) => {
    const root = await tempDir(t);
    const { imagesPath, listsPath, made } = await layout(root, [{}, {}]);
    const list = await writeList(listsPath, [made[0]!]);
    const r = await parseContainersInput({
      images: { path: imagesPath, data: { archives: archivesOf(made) } },
      'manifest-lists': { path: listsPath, data: { files: { [list.digest]: {} } } },
    });
    assert.equal(r[made[0]!.configDigest]!['manifest-list'], join(listsPath, list.digest));
    assert.equal(r[made[1]!.configDigest]!['manifest-list'], null);
  });

  it('lets one list serve several images (the reference crashes)', async (t) => {
    const root = await tempDir(t);
    const { imagesPath, listsPath, made } = await layout(root, [
      { opts: { platform: { architecture: 'amd64', os: 'linux' } } },
      { opts: { platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } } },
    ]);
    const list = await writeList(listsPath, made, 'docker');
    const r = await parseContainersInput({
      images: { path: imagesPath, data: { archives: archivesOf(made) } },
      'manifest-lists': { path: listsPath, data: { files: { [list.digest]: {} } } },
    });
    for (const m of made) assert.equal(r[m.configDigest]!['manifest-list'], join(listsPath, list.digest));
  });

  it('names every unmatched list in one error', async (t) => {
    const root = await tempDir(t);
    const { imagesPath, listsPath, made } = await layout(root, [{}, {}, {}]);
    const used = await writeList(listsPath, [made[0]!]);
    const a = await writeList(listsPath, [made[1]!]);
    const b = await writeList(listsPath, [made[2]!]);
    await rejects(
      parseContainersInput({
        images: { path: imagesPath, data: { archives: archivesOf([made[0]!]) } },
        'manifest-lists': { path: listsPath, data: { files: { [used.digest]: {}, [a.digest]: {}, [b.digest]: {} } } },
      }),
      'LIST_MISMATCH',
      [a.digest, b.digest],
    );
  });

  it('refuses an image that is in two different lists, naming both', async (t) => {
    const root = await tempDir(t);
    const { imagesPath, listsPath, made } = await layout(root, [{}, {}]);
    const a = await writeList(listsPath, [made[0]!]);
    const b = await writeList(listsPath, [made[0]!, made[1]!], 'docker');
    await rejects(
      parseContainersInput({
        images: { path: imagesPath, data: { archives: archivesOf(made) } },
        'manifest-lists': { path: listsPath, data: { files: { [a.digest]: {}, [b.digest]: {} } } },
      }),
      'LIST_MISMATCH',
      [a.digest, b.digest],
    );
  });

  it('never mutates its argument and gives the same answer twice', async (t) => {
    const root = await tempDir(t);
    const { imagesPath, listsPath, made } = await layout(root, [{}, {}]);
    const list = await writeList(listsPath, made);
    const inputs = {
      images: { path: imagesPath, data: { archives: archivesOf(made) } },
      'manifest-lists': { path: listsPath, data: { files: { [list.digest]: {} } } },
    };
    const before = JSON.stringify(inputs);
    const deepFreeze = (o: object): void => {
      Object.freeze(o);
      for (const v of Object.values(o)) if (typeof v === 'object' && v !== null) deepFreeze(v);
    };
    deepFreeze(inputs);
    const r1 = await parseContainersInput(inputs);
    const r2 = await parseContainersInput(inputs);
    assert.deepEqual(r1, r2);
    assert.equal(JSON.stringify(inputs), before);
  });

  it('matches a signed schema 1 image by its stripped digest', async (t) => {
    const root = await tempDir(t);
    const imagesPath = join(root, 'images');
    const listsPath = join(root, 'lists');
    await mkdir(listsPath, { recursive: true });
    const key = `sha256:${'a'.repeat(64)}`;
    await mkdir(join(imagesPath, key), { recursive: true });
    const manifest = await readFile(join(FIX, 'skopeo/integration/fixtures/uncompressed-image-s1/manifest.json'));
    await writeFile(join(imagesPath, key, 'manifest.json'), manifest);
    const stripped = 'sha256:3b93a98785ed46f9fa9fefd53127c3fa91e1d0314f90c00d8fb9b8d7448ec1ad';
    const listBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
        manifests: [
          {
            mediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
            digest: stripped,
            size: manifest.length,
            platform: { architecture: 'amd64', os: 'linux' },
          },
        ],
      }),
    );
    const { createHash } = await import('node:crypto');
    const listDigest = `sha256:${createHash('sha256').update(listBytes).digest('hex')}`;
    await writeFile(join(listsPath, listDigest), listBytes);
    const r = await parseContainersInput({
      images: { path: imagesPath, data: { archives: { [key]: { format: 'dir', name: 'localhost/s1' } } } },
      'manifest-lists': { path: listsPath, data: { files: { [listDigest]: {} } } },
    });
    assert.equal(r[key]!['manifest-list'], join(listsPath, listDigest));
  });

  it('resolves containers-storage images to <images path>/storage', async (t) => {
    const root = await tempDir(t);
    await mkdir(join(root, 'storage'));
    const id = `sha256:${'b'.repeat(64)}`;
    const data = { format: 'containers-storage', name: 'localhost/x', storage: { driver: 'vfs' } };
    const r = await parseContainersInput({ images: { path: root, data: { archives: { [id]: data } } } });
    assert.deepEqual(r[id], { filepath: join(root, 'storage'), 'manifest-list': null, data, checksum: id });
  });

  it("resolves a containers-storage image's store driver once: default overlay, overlay2 read as overlay", async (t) => {
    const root = await tempDir(t);
    await mkdir(join(root, 'storage'));
    const key = (c: string) => `sha256:${c.repeat(64)}`;
    const archives = {
      [key('1')]: { format: 'containers-storage', name: 'localhost/a' },
      [key('2')]: { format: 'containers-storage', name: 'localhost/b', storage: {} },
      [key('3')]: { format: 'containers-storage', name: 'localhost/c', storage: { driver: 'overlay2' } },
      [key('4')]: { format: 'containers-storage', name: 'localhost/d', storage: { driver: 'vfs' } },
    };
    const r = await resolveContainersInput({ images: { path: root, data: { archives } } });
    assert.deepEqual(
      r.map((i) => i.storageDriver),
      ['overlay', 'overlay', 'overlay', 'vfs'],
    );
  });

  for (const [label, storage] of [
    ['"storage" is not an object', 'vfs'],
    ['"storage" is an array', ['vfs']],
    ['storage.driver is not a string', { driver: 1 }],
    ['storage.driver is not a driver name', { driver: 'vfs]x' }],
  ] as const) {
    it(`refuses a containers-storage image whose ${label} (INVALID_INPUT)`, async (t) => {
      const root = await tempDir(t);
      await mkdir(join(root, 'storage'));
      const data = { format: 'containers-storage', name: 'localhost/x', storage };
      await rejects(
        resolveContainersInput({ images: { path: root, data: { archives: { [`sha256:${'c'.repeat(64)}`]: data } } } }),
        'INVALID_INPUT',
        ['storage'],
      );
    });
  }

  it('resolves oci-archive images by plain file name', async (t) => {
    const root = await tempDir(t);
    await writeFile(join(root, 'hello.img'), await readFile(join(FIX, 'skopeo-observed/archives/oci-archive.tar')));
    const r = await parseContainersInput({
      images: { path: root, data: { archives: { 'hello.img': { format: 'oci-archive', name: 'localhost/h' } } } },
    });
    assert.equal(r['hello.img']!.filepath, join(root, 'hello.img'));
    assert.equal(r['hello.img']!['manifest-list'], null);
  });

  const hostileKeys: [string, string, string][] = [
    ['dir', `../../x/sha256:${'a'.repeat(64)}/../y`, 'INVALID_DIGEST'],
    ['dir', `sha256:${'A'.repeat(64)}`, 'INVALID_DIGEST'],
    ['dir', `sha256:${'a'.repeat(63)}`, 'INVALID_DIGEST'],
    ['dir', ` sha256:${'a'.repeat(64)}`, 'INVALID_DIGEST'],
    ['dir', `sha256:${'a'.repeat(64)}\n`, 'INVALID_DIGEST'],
    ['containers-storage', 'latest', 'INVALID_DIGEST'],
    ['oci-archive', '../hello.img', 'INVALID_INPUT'],
    ['oci-archive', 'a/b', 'INVALID_INPUT'],
    ['oci-archive', '..', 'INVALID_INPUT'],
    ['oci-archive', '.', 'INVALID_INPUT'],
    ['oci-archive', '', 'INVALID_INPUT'],
  ];
  for (const [format, key, code] of hostileKeys) {
    it(`refuses the ${format} key ${JSON.stringify(key)} (${code})`, async (t) => {
      const root = await tempDir(t);
      await rejects(
        parseContainersInput({
          images: { path: root, data: { archives: { [key]: { format, name: 'localhost/x' } } } },
        }),
        code,
      );
    });
  }

  it('refuses a manifest-lists key that is not a digest', async (t) => {
    const root = await tempDir(t);
    await rejects(
      parseContainersInput({
        images: { path: root, data: { archives: {} } },
        'manifest-lists': { path: root, data: { files: { '../etc/passwd': {} } } },
      }),
      'INVALID_DIGEST',
      ['../etc/passwd'],
    );
  });

  it('refuses a manifest.json that is a symlink out of the image', async (t) => {
    const root = await tempDir(t);
    const { imagesPath, made } = await layout(root, [{}]);
    const dir = made[0]!.dir;
    await writeFile(join(root, 'outside.json'), made[0]!.manifest);
    await rm(join(dir, 'manifest.json'));
    await symlink(join(root, 'outside.json'), join(dir, 'manifest.json'));
    await rejects(
      parseContainersInput({ images: { path: imagesPath, data: { archives: archivesOf(made) } } }),
      'UNSAFE_PATH',
    );
  });

  it('accepts a manifest.json symlink that stays inside the image', async (t) => {
    const root = await tempDir(t);
    const { imagesPath, made } = await layout(root, [{}]);
    const dir = made[0]!.dir;
    await writeFile(join(dir, 'real.json'), made[0]!.manifest);
    await rm(join(dir, 'manifest.json'));
    await symlink('real.json', join(dir, 'manifest.json'));
    const r = await parseContainersInput({ images: { path: imagesPath, data: { archives: archivesOf(made) } } });
    assert.equal(r[made[0]!.configDigest]!.checksum, made[0]!.configDigest);
  });

  it('refuses a manifest.json that is a directory', async (t) => {
    const root = await tempDir(t);
    const { imagesPath, made } = await layout(root, [{}]);
    await rm(join(made[0]!.dir, 'manifest.json'));
    await mkdir(join(made[0]!.dir, 'manifest.json'));
    await rejects(
      parseContainersInput({ images: { path: imagesPath, data: { archives: archivesOf(made) } } }),
      'INVALID_INPUT',
    );
  });

  it('refuses a manifest over 4 MiB', async (t) => {
    const root = await tempDir(t);
    const { imagesPath, made } = await layout(root, [{}]);
    await writeFile(join(made[0]!.dir, 'manifest.json'), Buffer.alloc(4 * 1024 * 1024 + 1, 0x20));
    await rejects(
      parseContainersInput({ images: { path: imagesPath, data: { archives: archivesOf(made) } } }),
      'MANIFEST_TOO_LARGE',
    );
  });

  it('refuses malformed manifest JSON, naming the key and path', async (t) => {
    const root = await tempDir(t);
    const { imagesPath, made } = await layout(root, [{}]);
    await writeFile(join(made[0]!.dir, 'manifest.json'), '{"schemaVersion": 2,');
    await rejects(
      parseContainersInput({ images: { path: imagesPath, data: { archives: archivesOf(made) } } }),
      'INVALID_MANIFEST',
      [made[0]!.configDigest],
    );
  });

  it('names the key and path of a missing image', async (t) => {
    const root = await tempDir(t);
    const key = `sha256:${'c'.repeat(64)}`;
    await rejects(
      parseContainersInput({
        images: { path: root, data: { archives: { [key]: { format: 'dir', name: 'localhost/x' } } } },
      }),
      'NOT_FOUND',
      [key, join(root, key)],
    );
  });

  it('names the key of an unknown format', async (t) => {
    const root = await tempDir(t);
    await rejects(
      parseContainersInput({
        images: { path: root, data: { archives: { 'x.tar': { format: 'docker-archive', name: 'localhost/x' } } } },
      }),
      'INVALID_INPUT',
      ['x.tar', 'docker-archive'],
    );
  });

  const badShapes: [string, unknown][] = [
    ['not an object', []],
    ['no images', {}],
    ['images without path', { images: { data: { archives: {} } } }],
    ['archives not an object', { images: { path: '/x', data: { archives: [] } } }],
    ['archive without name', { images: { path: '/x', data: { archives: { a: { format: 'oci-archive' } } } } }],
    [
      'lists without files',
      { images: { path: '/x', data: { archives: {} } }, 'manifest-lists': { path: '/x', data: {} } },
    ],
  ];
  for (const [label, inputs] of badShapes) {
    it(`refuses inputs with ${label}`, async () => {
      await rejects(parseContainersInput(inputs), 'INVALID_INPUT');
    });
  }
});

describe('readManifestLists', () => {
  it('maps every instance to its list and is read-only', async (t) => {
    const root = await tempDir(t);
    const { listsPath, made } = await layout(root, [{}, {}]);
    const list = await writeList(listsPath, made);
    const map = await readManifestLists({ path: listsPath, data: { files: { [list.digest]: {} } } });
    assert.equal(map.size, 2);
    for (const m of made) assert.equal(map.get(m.manifestDigest as never)?.digest, list.digest);
    assert.throws(() => (map as unknown as Map<string, unknown>).set('x', 1), TypeError);
    assert.throws(() => (map as unknown as Map<string, unknown>).delete('x'), TypeError);
  });

  it('refuses a list file whose digest is not its name', async (t) => {
    const root = await tempDir(t);
    const { listsPath, made } = await layout(root, [{}]);
    const list = makeList(made);
    const wrong = `sha256:${'d'.repeat(64)}`;
    await writeFile(join(listsPath, wrong), list.bytes);
    await rejects(readManifestLists({ path: listsPath, data: { files: { [wrong]: {} } } }), 'DIGEST_MISMATCH', [
      wrong,
      list.digest,
    ]);
  });

  it('refuses a file that is not a manifest list', async (t) => {
    const root = await tempDir(t);
    const { listsPath, made } = await layout(root, [{}]);
    const m = made[0]!;
    await writeFile(join(listsPath, m.manifestDigest), m.manifest);
    await rejects(
      readManifestLists({ path: listsPath, data: { files: { [m.manifestDigest]: {} } } }),
      'INVALID_MANIFEST',
    );
  });
});

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/**
 * `n` dir images in `groups` groups, fast: one manifest.json per group, hard-linked into each of
 * the group's images (an image's key need not be its config's digest for `inputs`, which reads
 * only manifest.json), and one list file per group naming its manifest.
 */
function manyImages(root: string, n: number, groups: number): string {
  const images = join(root, 'images');
  const lists = join(root, 'lists');
  const shared = join(root, 'shared');
  for (const d of [images, lists, shared]) mkdirSync(d);
  const files: Record<string, object> = {};
  for (let g = 0; g < groups; g++) {
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(`config ${g}`), size: 9 },
        layers: [],
      }),
    );
    writeFileSync(join(shared, String(g)), manifest);
    const list = makeList([
      {
        manifest,
        manifestDigest: sha(manifest),
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        platform: { architecture: 'amd64', os: 'linux' },
      },
    ]);
    writeFileSync(join(lists, list.digest), list.bytes);
    files[list.digest] = {};
  }
  const archives: Record<string, object> = {};
  for (let i = 0; i < n; i++) {
    const key = sha(`image ${i}`);
    mkdirSync(join(images, key));
    linkSync(join(shared, String(i % groups)), join(images, key, 'manifest.json'));
    archives[key] = { format: 'dir', name: `localhost/many/img${i}:latest` };
  }
  const file = join(root, 'inputs.json');
  writeFileSync(
    file,
    JSON.stringify({
      images: { path: images, data: { archives } },
      'manifest-lists': { path: lists, data: { files } },
    }),
  );
  return file;
}

/** Runs `ocikit ARGS…` in bash under `ulimit -n LIMIT`. */
function underFileLimit(limit: number, args: string[]): Promise<{ status: number | null; out: string; err: string }> {
  return new Promise((res, rej) => {
    const child = spawn('bash', ['-c', `ulimit -n ${limit} && exec "$0" "$@"`, process.execPath, BIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', rej);
    child.on('close', (status) => res({ status, out: Buffer.concat(out).toString('utf8'), err }));
  });
}

describe('ocikit inputs at scale', () => {
  it('resolves 20,000 dir images and 2,000 lists under ulimit -n 1024', async (t) => {
    // tmpfs where there is one: 40,000 inodes are made and removed in a fraction of the time.
    const base = statSync('/dev/shm', { throwIfNoEntry: false })?.isDirectory() ? '/dev/shm' : tmpdir();
    const root = await mkdtemp(join(base, 'ocikit-test-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    const file = manyImages(root, 20_000, 2_000);
    const r = await underFileLimit(1024, ['inputs', file]);
    assert.equal(r.status, 0, r.err);
    const got = JSON.parse(r.out) as Record<string, { 'manifest-list': string | null }>;
    const values = Object.values(got);
    assert.equal(values.length, 20_000);
    assert.equal(values.filter((v) => v['manifest-list'] !== null).length, 20_000);
    assert.equal(new Set(values.map((v) => v['manifest-list'])).size, 2_000);
  });
});

describe('input keys are data', () => {
  const KEYS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty'];

  it('keeps oci-archive keys __proto__, constructor, toString, hasOwnProperty in `ocikit inputs`, and install installs each', async (t) => {
    const root = await tempDir(t);
    const images = join(root, 'in', 'images');
    await mkdir(images, { recursive: true });
    const archive = await readFile(join(FIX, 'skopeo-observed/archives/oci-archive.tar'));
    for (const k of KEYS) await writeFile(join(images, k), archive);
    // JSON text: JSON.parse makes `__proto__` a key (an object literal would make it the prototype).
    const archives = KEYS.map(
      (k, i) => `"${k}": {"format": "oci-archive", "name": "localhost/key${i}:1", "__proto__": {"note": ${i}}}`,
    );
    await writeFile(
      join(root, 'in', 'inputs.json'),
      `{"images": {"path": "images", "data": {"archives": {${archives.join(', ')}}}}}`,
    );

    const r = await runNode([BIN, 'inputs', 'in/inputs.json'], { cwd: root });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      [...r.stdout.matchAll(/^ {2}"(.*)": \{$/gm)].map((m) => m[1]),
      KEYS,
      'every key is printed, in input order',
    );
    const got = JSON.parse(r.stdout) as Record<string, { filepath: string; checksum: string; data: object }>;
    assert.deepEqual(Object.keys(got), KEYS);
    KEYS.forEach((k, i) => {
      assert.ok(Object.hasOwn(got, k), k);
      assert.equal(got[k]!.checksum, k);
      assert.equal(got[k]!.filepath, join(images, k));
      assert.deepEqual(Object.entries(got[k]!.data), [
        ['format', 'oci-archive'],
        ['name', `localhost/key${i}:1`],
        ['__proto__', { note: i }],
      ]);
    });

    await writeFile(join(root, 'options.json'), '{"destination": {"type": "oci", "path": "/oci"}}');
    await mkdir(join(root, 'tree'));
    const args = ['install', '--inputs', 'in/inputs.json', '--options', 'options.json', '--tree', 'tree', '--json'];
    const inst = await runNode([BIN, ...args], { cwd: root });
    assert.equal(inst.status, 0, inst.stderr);
    const summary = JSON.parse(inst.stdout) as { images: { name: string }[] };
    assert.deepEqual(
      summary.images.map((i) => i.name),
      KEYS.map((_, i) => `localhost/key${i}:1`),
    );
  });

  it('refuses manifest-lists keys __proto__, constructor, toString, hasOwnProperty in inputs and install alike', async (t) => {
    const root = await tempDir(t);
    await writeFile(join(root, 'options.json'), '{"destination": {"type": "oci", "path": "/oci"}}');
    await mkdir(join(root, 'tree'));
    for (const k of KEYS) {
      const text = `{"images": {"path": ".", "data": {"archives": {}}}, "manifest-lists": {"path": ".", "data": {"files": {"${k}": {}}}}}`;
      await writeFile(join(root, 'inputs.json'), text);
      await rejects(parseContainersInput(JSON.parse(text)), 'INVALID_DIGEST', [k]);
      const a = await runNode([BIN, 'inputs', 'inputs.json'], { cwd: root });
      const b = await runNode(
        [BIN, 'install', '--inputs', 'inputs.json', '--options', 'options.json', '--tree', 'tree'],
        { cwd: root },
      );
      assert.equal(a.status, 1);
      assert.equal(b.status, 1);
      assert.ok(a.stderr.includes(JSON.stringify(k)), a.stderr);
      assert.equal(b.stderr, a.stderr, 'the same error line');
    }
  });
});
