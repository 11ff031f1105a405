/**
 * A full device, for real: a 4 MiB tmpfs mounted in the test, used as the fetch cache, as the tree
 * an install writes into, and as TMPDIR for an oci-archive's extraction, each time by a whole
 * `bin/ocikit` process given an image that does not fit. It must fail with exit status 1 and one
 * `ocikit:` line (no stack, no unhandled rejection) that names the path being written and says the
 * device is full (`NO_SPACE`, never a digest mismatch or a corrupt archive), and leave the tmpfs as
 * it found it, so the space is free again. Plus the short writes a filling device makes.
 */
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, open, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { writeAll, writevAll } from '../../src/internal/fs.js';
import { type GeneratedImage, makeDirImage } from '../helpers/images.js';
import { runNode } from '../helpers/process.js';
import { pushDir, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';
import { mountTmpfs } from '../helpers/tmpfs.js';
import { haveTool, needTool } from '../helpers/tools.js';
import { ACCEPT_ANYTHING_POLICY } from '../helpers/trust-policy.js';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../../../bin/ocikit', import.meta.url));
/** Incompressible, so its gzip'd layer is as large: more than the 4 MiB tmpfs holds. */
const LAYER = 6 * 1024 * 1024;

/** Runs `ocikit ARGS` and checks it failed with exactly one `ocikit:` line matching `line`. */
async function failsWithNoSpace(args: string[], env: Record<string, string>, line: RegExp): Promise<void> {
  const r = await runNode([BIN, ...args], { env });
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, `one line, no stack:\n${r.stderr}`);
  assert.match(r.stderr, line);
  assert.doesNotMatch(r.stderr, /digest|corrupt|not a valid tar/i);
}

/** An install stage: a dir image (or an oci-archive made from it) in `<root>/images`, options for an oci destination. */
async function stage(root: string, img: GeneratedImage, format: 'dir' | 'oci-archive', tree: string) {
  await mkdir(join(root, 'images'), { recursive: true });
  let key: string = img.configDigest;
  if (format === 'dir') await rename(img.dir, join(root, 'images', key));
  else {
    key = 'app.tar';
    await run('skopeo', ['copy', '-q', `dir:${img.dir}`, `oci-archive:${join(root, 'images', key)}:app`]);
  }
  const inputs = join(root, 'inputs.json');
  await writeFile(
    inputs,
    JSON.stringify({
      images: { path: join(root, 'images'), data: { archives: { [key]: { format, name: 'localhost/big:1' } } } },
    }),
  );
  const options = join(root, 'options.json');
  await writeFile(options, JSON.stringify({ destination: { type: 'oci', path: '/usr/share/containers/oci' } }));
  return ['install', '--inputs', inputs, '--options', options, '--tree', tree];
}

describe('a full device', () => {
  let reg: TestRegistry | undefined;
  let big: GeneratedImage | undefined;
  let work: string | undefined;

  before(async () => {
    if (!haveTool('docker-registry') || !haveTool('skopeo')) return;
    reg = await startRegistry();
    const { mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    work = await mkdtemp(join(tmpdir(), 'ocikit-full-disk-'));
    big = await makeDirImage(join(work, 'big'), { layers: 1, layerSize: LAYER });
    await pushDir(big.dir, reg.host, 'test/big:latest');
  });
  after(async () => {
    await reg?.stop();
    if (work) await (await import('node:fs/promises')).rm(work, { recursive: true, force: true });
  });

  it('fetching into a full cache: NO_SPACE naming the blob file, the staging directory removed', async (t) => {
    if (!needTool(t, 'docker-registry', 'skopeo')) return;
    const cache = await mountTmpfs(t, '4m');
    if (!cache) return;
    await writeFile(join(cache, 'was-here'), 'x');
    const dir = await tempDir(t);
    const sources = join(dir, 'sources.json');
    const item = { image: { name: `${reg!.host}/test/big`, digest: big!.manifestDigest, 'tls-verify': false } };
    await writeFile(sources, JSON.stringify({ 'org.osbuild.skopeo': { items: { [big!.configDigest]: item } } }));
    await failsWithNoSpace(
      ['fetch', '--sources', sources, '--cache', cache, '--policy', ACCEPT_ANYTHING_POLICY],
      {},
      new RegExp(
        `^ocikit: writing: ${cache}/\\.tmp-fetch-[^/]+/blobs/[0-9a-f]{64}: no space left on the device \\(ENOSPC\\)\\n$`,
      ),
    );
    assert.deepEqual(await readdir(cache), ['was-here'], 'the cache holds what it held before, and nothing else');
  });

  it('installing into a tree on a full device: NO_SPACE naming the blob written, the tree as it was', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const tree = await mountTmpfs(t, '4m');
    if (!tree) return;
    await mkdir(join(tree, 'etc'));
    const root = await tempDir(t);
    const img = await makeDirImage(join(root, 'gen'), { layers: 1, layerSize: LAYER });
    const args = await stage(root, img, 'dir', tree);
    await failsWithNoSpace(
      args,
      { TMPDIR: root },
      new RegExp(
        `^ocikit: writing: ${tree}/usr/share/containers/\\.oci\\.ocikit-[^/]+/oci/blobs/sha256/${img.layers[0]!.digest.slice(7)}: no space left on the device \\(ENOSPC\\)\\n$`,
      ),
    );
    assert.deepEqual(await readdir(tree), ['etc'], 'nothing the install made is left in the tree');
  });

  it('extracting an oci-archive into a full TMPDIR: NO_SPACE naming the file extracted, not a corrupt archive', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const tmp = await mountTmpfs(t, '4m');
    if (!tmp) return;
    await writeFile(join(tmp, 'was-here'), 'x');
    const root = await tempDir(t);
    await mkdir(join(root, 'tree'));
    const img = await makeDirImage(join(root, 'gen'), { layers: 1, layerSize: LAYER });
    const args = await stage(root, img, 'oci-archive', join(root, 'tree'));
    await failsWithNoSpace(
      args,
      { TMPDIR: tmp },
      new RegExp(
        `^ocikit: extracting ${root}/images/app\\.tar: writing: ${tmp}/ocikit-oci-archive-[^/]+/blobs/sha256/[0-9a-f]{64}: no space left on the device \\(ENOSPC\\)\\n$`,
      ),
    );
    assert.deepEqual(await readdir(tmp), ['was-here'], 'the extraction is removed');
    assert.deepEqual(await readdir(join(root, 'tree')), []);
  });

  it('never takes a short write for a whole one: writeAll and writevAll fail once nothing fits', async (t) => {
    const dev = await mountTmpfs(t, '4m');
    if (!dev) return;
    const fh = await open(join(dev, 'f'), 'w');
    t.after(() => fh.close());
    const three = Buffer.alloc(3 * 1024 * 1024, 1);
    await writeAll(fh, three, 0);
    // 1 MiB is left: a plain write(2) stores that much of the next 3 MiB and reports no error.
    const short = await fh.write(three, 0, three.length, three.length);
    assert.ok(short.bytesWritten < three.length, 'the device stores only part of the write');
    await assert.rejects(writeAll(fh, three, three.length), { code: 'ENOSPC' });
    await assert.rejects(writevAll(fh, [three.subarray(0, 1), three], three.length), { code: 'ENOSPC' });
  });
});
