/**
 * The differential check of docs/deploy.md ("The differential check") on the realistic image
 * (`bench/deploy-image.sh --small`, built once): `ocikit deploy` into an empty tree equals
 * podman's vfs mount of the same image, and umoci's unpack, by the canonical listing, after exactly
 * the normalisations the rules allow — the `.` line dropped (R30, R37), mtimes truncated to the
 * microsecond (R37), and for podman one named case, `etc/attrdir`: vfs keeps the lower layer's
 * xattr on a directory present in both layers, ocikit replaces them (R39). The zstd image gives
 * the same tree as the gzip one (R49). Slow for a test file (~40 s: the image has 24k entries and
 * is written four times); it is the acceptance check.
 */
import * as assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runTool } from '../../src/internal/exec.js';
import { fields, normalise, podmanListing, umociListing, vfsStore } from '../helpers/deploy-oracle.js';
import { runNode } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { haveTool, needTool } from '../helpers/tools.js';
import { listTree } from '../helpers/tree-listing.js';

const BIN = fileURLToPath(new URL('../../../bin/ocikit', import.meta.url));
const SCRIPT = fileURLToPath(new URL('../../../bench/deploy-image.sh', import.meta.url));
const TOOLS = ['skopeo', 'podman', 'umoci', 'zstd', 'setfattr', 'tar'];

/** The image, built once for the file (in a directory removed when the file's tests end). */
let work: string | undefined;

/** `oci:LAYOUT:deploy` converted by skopeo to an osbuild `dir` input; returns the inputs file. */
async function dirInput(root: string, layout: string): Promise<string> {
  const tmp = join(root, `dir-${layout}`);
  await runTool(['skopeo', 'copy', '--quiet', `oci:${join(work!, layout)}:deploy`, `dir:${tmp}`]);
  const id = (JSON.parse(await readFile(join(tmp, 'manifest.json'), 'utf8')) as { config: { digest: string } }).config
    .digest;
  const images = join(root, `in-${layout}`);
  await mkdir(images);
  await rename(tmp, join(images, id));
  const file = join(root, `inputs-${layout}.json`);
  await writeFile(
    file,
    JSON.stringify({ images: { path: images, data: { archives: { [id]: { format: 'dir', name: 'deploy-test' } } } } }),
  );
  return file;
}

/** `ocikit deploy` of an inputs file into a new tree, listed and normalised. */
async function ocikitTree(root: string, inputs: string, name: string): Promise<string[]> {
  const tree = join(root, name);
  const r = await runNode([BIN, 'deploy', '--inputs', inputs, '--tree', tree]);
  assert.equal(r.status, 0, r.stderr);
  return normalise(listTree(tree));
}

/** Asserts `a` and `b` are equal except for the lines `allowed` lets through (then checked by it). */
function assertSameListing(
  ocikit: readonly string[],
  other: readonly string[],
  tool: string,
  allowed: (o: string, x: string) => boolean = () => false,
): void {
  assert.equal(ocikit.length, other.length, `${tool}: the same number of objects`);
  const diffs: string[] = [];
  for (let i = 0; i < ocikit.length; i++) {
    if (ocikit[i] === other[i]) continue;
    if (allowed(ocikit[i]!, other[i]!)) continue;
    diffs.push(`ocikit: ${ocikit[i]}\n${tool}: ${other[i]}`);
  }
  assert.deepEqual(diffs, [], `${tool} differs from ocikit`);
}

describe('the realistic image: ocikit deploy = podman (vfs) mount = umoci unpack', () => {
  before(async () => {
    if (process.getuid?.() !== 0 || !TOOLS.every(haveTool)) return;
    work = await mkdtemp(join(tmpdir(), 'ocikit-deploy-image-'));
    await runTool(['bash', SCRIPT, work, '--small']);
  });
  after(() => (work ? rm(work, { recursive: true, force: true }) : undefined));

  const gate = (t: TestContext) => {
    if (process.getuid?.() !== 0) {
      if (process.env.CI === 'true') throw new Error('needs root; CI runs as root');
      t.skip('needs root');
      return false;
    }
    return needTool(t, ...TOOLS);
  };

  it('the podman mount and umoci rootfs equal the ocikit tree; the zstd image gives the same tree', async (t) => {
    if (!gate(t)) return;
    const root = await tempDir(t);
    const store = await vfsStore(t);
    const [gz, zst] = [await dirInput(root, 'oci'), await dirInput(root, 'oci-zstd')];
    const ocikit = await ocikitTree(root, gz, 'tree');
    assert.ok(ocikit.length > 20_000, `${ocikit.length} objects`);

    const podman = await podmanListing(store, `oci:${join(work!, 'oci')}:deploy`);
    assert.ok(podman.ok, podman.ok ? '' : podman.error);
    // The one vfs difference (R39): etc/attrdir is a directory in both layers, the upper one
    // without xattrs; vfs keeps layer 1's user.layer1, ocikit replaces the xattrs (none left).
    let attrdir = 0;
    assertSameListing(ocikit, normalise(podman.lines), 'podman', (o, x) => {
      const [fo, fx] = [fields(o), fields(x)];
      if (fo.path !== 'etc/attrdir' || fx.path !== 'etc/attrdir') return false;
      assert.equal(fo.xattrs, '-', 'ocikit: the upper entry has no xattrs, so none are left (R39)');
      assert.equal(fx.xattrs, `user.layer1=${Buffer.from('base').toString('hex')}`, 'vfs keeps the lower xattr');
      assert.equal(o.replace(/\t[^\t]*\t[^\t]*$/, ''), x.replace(/\t[^\t]*\t[^\t]*$/, ''), 'everything else equal');
      attrdir++;
      return true;
    });
    assert.equal(attrdir, 1, 'the vfs xattr case was seen (else the normalisation is stale)');

    const umoci = await umociListing(t, `${join(work!, 'oci')}:deploy`);
    assert.ok(umoci.ok, umoci.ok ? '' : umoci.error);
    assertSameListing(ocikit, normalise(umoci.lines), 'umoci');

    assert.deepEqual(await ocikitTree(root, zst, 'tree-zstd'), ocikit, 'zstd layers: the same tree (R49)');
  });
});
