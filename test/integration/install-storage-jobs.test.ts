/**
 * install() into containers-storage with several skopeo copies at once (`jobs`), real skopeo and
 * podman on vfs stores:
 * - four images (three sharing a base layer, one given with its manifest list) installed with
 *   jobs 2 and with jobs 1 give the same store: names, IDs, digests, list digests, layers;
 * - the summary and the per-image progress follow the input order even when a later image
 *   finishes first (a skopeo wrapper, test/helpers/skopeo-gate.ts, fixes the order);
 * - a failing image (a blob with the wrong content): no copy starts after it, the running one
 *   finishes before install rejects, and embed's undo (`embed/rollback.ts`) then leaves an
 *   existing store as it was before;
 * - `ocikit install --jobs 1` copies one image after the other; a bad `--jobs` is a usage error.
 */
import * as assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { rollback, snapshot } from '../../src/embed/rollback.js';
import { type InstallProgress, install } from '../../src/install/install.js';
import { runTool } from '../../src/internal/exec.js';
import type { Digest } from '../../src/model/digest.js';
import { storeImages } from '../../src/transports/containers-storage/image-records.js';
import { buildImage } from '../helpers/images.js';
import {
  type Env,
  addDirImage,
  addList,
  assertCode,
  env,
  flipByte,
  inputs,
  listInputs,
  req,
  sha,
  storageOptions,
  store,
} from '../helpers/install-env.js';
import { runNode } from '../helpers/process.js';
import { makeSkopeoGate } from '../helpers/skopeo-gate.js';
import { needTool } from '../helpers/tools.js';

const BIN = fileURLToPath(new URL('../../../bin/ocikit', import.meta.url));
const STORE = 'var/lib/containers/storage';

/** Writes a dir image under `images/<id>` whose layers are `base`'s followed by one of its own. */
async function addOnBase(e: Env, base: Awaited<ReturnType<typeof buildImage>>, label: string): Promise<string> {
  const own = await buildImage({ layerSize: 2048, label });
  const layers = [...base.layers, ...own.layers];
  const cfg = JSON.parse(own.config.toString('utf8')) as Record<string, unknown>;
  cfg.rootfs = { type: 'layers', diff_ids: layers.map((l) => l.diffID) };
  cfg.history = layers.map((_, i) => ({ created: '1970-01-01T00:00:00Z', created_by: `layer ${i}` }));
  const config = Buffer.from(JSON.stringify(cfg));
  const m = JSON.parse(own.manifest.toString('utf8')) as { config: object; layers: object[] };
  const manifest = Buffer.from(
    JSON.stringify({
      ...m,
      config: { ...m.config, digest: sha(config), size: config.length },
      layers: layers.map((l) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        digest: l.digest,
        size: l.size,
      })),
    }),
  );
  const dir = join(e.images, sha(config));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'version'), 'Directory Transport Version: 1.1\n');
  await writeFile(join(dir, 'manifest.json'), manifest);
  await writeFile(join(dir, sha(config).slice(7)), config);
  for (const l of layers) await writeFile(join(dir, l.digest.slice(7)), l.bytes);
  return sha(config);
}

/** What podman and the store's records show of every image: names, ID, digests, layers. */
async function storeContent(tree: string, runroot: string): Promise<unknown> {
  const root = join(tree, STORE);
  const podman = async (...args: string[]) =>
    JSON.parse(
      (
        await runTool(['podman', '--root', root, '--runroot', runroot, '--storage-driver', 'vfs', ...args])
      ).stdout.toString('utf8'),
    ) as Record<string, unknown>[];
  const listed = (await podman('images', '--format', 'json')).map((i) => ({
    id: i.Id,
    digest: i.Digest,
    names: i.Names,
    repoDigests: i.RepoDigests,
  }));
  listed.sort((a, b) => String(a.id).localeCompare(String(b.id)));
  const inspected = await podman('image', 'inspect', ...listed.map((i) => String(i.id)));
  const records = ((await storeImages(root)) ?? []).map((r) => ({
    id: r.id,
    layer: (r as Record<string, unknown>).layer,
    names: r.names,
  }));
  records.sort((a, b) => String(a.id).localeCompare(String(b.id)));
  return {
    listed,
    inspected: inspected.map((i) => ({
      id: i.Id,
      digest: i.Digest,
      tags: i.RepoTags,
      repoDigests: i.RepoDigests,
      layers: (i.RootFS as { Layers: string[] }).Layers,
    })),
    records,
  };
}

/** Four images: three on one base layer, one given with its manifest list. */
async function fourImages(e: Env): Promise<unknown> {
  const base = await buildImage({ layerSize: 4096 });
  const archives: Record<string, { format: string; name: string }> = {};
  for (let k = 0; k < 3; k++)
    archives[await addOnBase(e, base, `on-base-${k}`)] = { format: 'dir', name: `localhost/i${k}:latest` };
  const listed = await addDirImage(e, { platform: { architecture: 'amd64', os: 'linux' } });
  await addList(e, [listed, await buildImage({ platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } })]);
  archives[listed.configDigest] = { format: 'dir', name: 'localhost/i3:latest' };
  return { ...(inputs(e, archives) as object), 'manifest-lists': await listInputs(e) };
}

const phases = (events: readonly InstallProgress[]) =>
  events.filter((p) => p.phase !== 'progress').map((p) => `${p.index} ${p.phase}`);

describe('install into containers-storage, several copies at once', () => {
  it('jobs 2 and jobs 1 give the same store (names, IDs, digests, list digests, shared layers)', async (t) => {
    if (!needTool(t, 'skopeo', 'podman')) return;
    const one = await env(t);
    const two = await env(t);
    const inp = await fourImages(one);
    const gate = await makeSkopeoGate(two.root);
    await gate.waitFor('i0', 'i1.start');
    const s1 = await install(req(one, inp, storageOptions(), { jobs: 1 }));
    const s2 = await install(req(two, inp, storageOptions(), { jobs: 2, skopeo: { binary: gate.binary } }));
    const strip = (s: typeof s1) => s.images.map(({ destination: _, ...rest }) => rest);
    assert.deepEqual(strip(s2), strip(s1));
    assert.equal(s2.images.filter((i) => i.listDigest !== null).length, 1);
    const c1 = await storeContent(one.tree, one.runroot);
    assert.deepEqual(await storeContent(two.tree, two.runroot), c1);
    // The three images on one base share its layer: 1 + 3 + 1 layers in all.
    const layers = new Set((c1 as { inspected: { layers: string[] }[] }).inspected.flatMap((i) => i.layers));
    assert.equal(layers.size, 5);
    // Two copies did run at once: the first waited for the second to start.
    const log = await gate.log();
    assert.ok(log.indexOf('start i1') < log.indexOf('end i0'), log.join(', '));
  });

  it('the summary and the progress follow the input order when a later image finishes first', async (t) => {
    if (!needTool(t, 'skopeo', 'podman')) return;
    const e = await env(t);
    const inp = await fourImages(e);
    const gate = await makeSkopeoGate(e.root);
    await gate.waitFor('i0', 'i1.end');
    const events: InstallProgress[] = [];
    const s = await install(
      req(e, inp, storageOptions(), { skopeo: { binary: gate.binary }, onProgress: (p) => events.push(p) }),
    );
    assert.deepEqual(
      s.images.map((i) => i.name),
      ['localhost/i0:latest', 'localhost/i1:latest', 'localhost/i2:latest', 'localhost/i3:latest'],
    );
    // Default jobs 2: i0 and i1 start; i1 ends first, i2 takes its place; i0 ends, i3 starts.
    assert.deepEqual(phases(events).slice(0, 3), ['0 start', '1 start', '1 done']);
    assert.ok(phases(events).indexOf('2 start') < phases(events).indexOf('0 done'), phases(events).join(', '));
    for (let i = 0; i < 4; i++) {
      const own = events.filter((p) => p.index === i).map((p) => p.phase);
      assert.equal(own[0], 'start');
      assert.equal(own.at(-1), 'done');
      assert.equal(own.filter((p) => p !== 'progress').length, 2);
      assert.ok(events.every((p) => p.index !== i || p.name === `localhost/i${i}:latest`));
    }
  });

  it('a failing image: nothing starts after it, the running copy finishes first, and the undo leaves the store as before', async (t) => {
    if (!needTool(t, 'skopeo', 'podman')) return;
    const e = await env(t);
    // A store with an image of its own, not named by this install.
    const pre = await addDirImage(e);
    await install(
      req(e, inputs(e, { [pre.configDigest]: { format: 'dir', name: 'localhost/pre:latest' } }), storageOptions()),
    );
    const before = await storeContent(e.tree, e.runroot);
    const f = await env(t);
    const inp = await fourImages(f);
    // i0's own layer (its second) gets the wrong content; i1 runs until i0 has failed.
    const archives = (inp as { images: { data: { archives: Record<string, { name: string }> } } }).images.data.archives;
    const i0 = Object.keys(archives).find((k) => archives[k]!.name === 'localhost/i0:latest')!;
    const m = JSON.parse(await readFile(join(f.images, i0, 'manifest.json'), 'utf8')) as {
      layers: { digest: string }[];
    };
    await flipByte(join(f.images, i0, m.layers[1]!.digest.slice(7)));
    const gate = await makeSkopeoGate(f.root);
    await gate.waitFor('i1', 'i0.fail');
    const snap = await snapshot(e.tree, STORE, true);
    const events: InstallProgress[] = [];
    await assertCode(
      install(
        req(e, inp, storageOptions(), {
          jobs: 2,
          skopeo: { binary: gate.binary },
          onProgress: (p) => events.push(p),
        }),
      ),
      'TOOL_FAILED',
    );
    const log = await gate.log();
    assert.deepEqual(log.slice(0, 2).sort(), ['start i0', 'start i1']);
    assert.deepEqual(log.slice(2), ['fail i0', 'end i1']);
    assert.deepEqual(phases(events), ['0 start', '1 start', '1 done']);
    // install keeps what skopeo wrote (a store is shared); the running copy did land.
    const ids = new Set(((await storeImages(store(e))) ?? []).map((r) => `sha256:${r.id as string}`));
    assert.ok(ids.has(Object.keys(archives).find((k) => archives[k]!.name === 'localhost/i1:latest')!));
    // embed's undo: every image of this run not there before goes, whichever copy landed.
    await rollback(snap, { root: store(e), driver: 'vfs', runroot: e.runroot }, Object.keys(archives) as Digest[], {
      tmpdir: e.tmpdir,
    });
    assert.deepEqual(await storeContent(e.tree, e.runroot), before);
  });

  it('ocikit install --jobs 1 copies one image after the other; --jobs 0 is a usage error', async (t) => {
    if (!needTool(t, 'skopeo', 'podman')) return;
    const e = await env(t);
    const inp = await fourImages(e);
    const gate = await makeSkopeoGate(e.root);
    const files = { inputs: join(e.root, 'inputs.json'), options: join(e.root, 'options.json') };
    await writeFile(files.inputs, JSON.stringify(inp));
    await writeFile(files.options, JSON.stringify(storageOptions()));
    const args = [
      'install',
      '--inputs',
      files.inputs,
      '--options',
      files.options,
      '--tree',
      e.tree,
      '--runroot',
      e.runroot,
    ];
    const bad = await runNode([BIN, ...args, '--jobs', '0']);
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /^ocikit: install: --jobs "0" is not a number from 1 to 64\n$/);
    const r = await runNode([BIN, ...args, '--jobs', '1', '--json'], {
      env: { OCIKIT_SKOPEO: gate.binary, TMPDIR: e.tmpdir },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(await gate.log(), [
      'start i0',
      'end i0',
      'start i1',
      'end i1',
      'start i2',
      'end i2',
      'start i3',
      'end i3',
    ]);
    assert.equal((JSON.parse(r.stdout) as { images: unknown[] }).images.length, 4);
  });
});
