/**
 * `deploy()` over each input format the container stages take (deploy R1): the same image as a
 * `dir:` input, an `oci-archive` (written by skopeo), a `containers-storage` store (written by
 * skopeo, read back through it) and a `dir:` image matched to a manifest list, all giving the
 * same tree by the canonical listing.
 */
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { deploy } from '../../src/deploy/deploy.js';
import { runTool } from '../../src/internal/exec.js';
import { type DeployImage, gzLayer, writeDeployImage } from '../helpers/deploy-image.js';
import { makeList } from '../helpers/images.js';
import { listTree } from '../helpers/tree-listing.js';
import { tempDir } from '../helpers/tmp.js';
import { haveTool, needTool } from '../helpers/tools.js';

/** The listing without the root line (TREE's own times differ from tree to tree). */
async function deployed(t: Parameters<typeof tempDir>[0], inputs: unknown): Promise<string[]> {
  const tree = join(await tempDir(t), 'tree');
  await deploy(inputs, tree);
  return listTree(tree).filter((l) => !l.startsWith('.\t'));
}

describe('deploy: every input format gives the same tree', { skip: !haveTool('skopeo') && !process.env.CI }, () => {
  let root: string;
  let img: DeployImage;
  let policy: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'ocikit-deploy-inputs-'));
    img = await writeDeployImage(
      root,
      [
        gzLayer([
          { name: 'etc/' },
          { name: 'etc/os-release', body: 'ID=test\n' },
          { name: 'usr/' },
          { name: 'usr/bin/' },
          { name: 'usr/bin/tool', body: 'x' },
        ]),
        gzLayer([
          { name: 'etc/os-release', body: 'ID=layer2\n' },
          { name: 'opt/' },
          { name: 'opt/new', body: 'y', mode: 0o600 },
        ]),
      ],
      { name: 'localhost/deploy-inputs:1' },
    );
    policy = join(root, 'policy.json');
    await writeFile(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  });
  after(() => (root ? rm(root, { recursive: true, force: true }) : undefined));

  it('dir, oci-archive, containers-storage and dir with its manifest list', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    /** skopeo copies the dir: image to `dest`, with the permissive policy of this suite. */
    const copyTo = (dest: string) => runTool(['skopeo', '--policy', policy, 'copy', '--quiet', `dir:${img.dir}`, dest]);
    const expected = await deployed(t, img.inputs);
    assert.ok(expected.some((l) => l.startsWith('etc/os-release\t')));
    assert.ok(expected.some((l) => l.startsWith('opt/new\tf\t0600\t')));

    // oci-archive, written by skopeo from the dir: image
    await mkdir(join(root, 'archives'));
    await copyTo(`oci-archive:${join(root, 'archives', 'img.tar')}:localhost/deploy-inputs:1`);
    const archive = {
      images: {
        path: join(root, 'archives'),
        data: { archives: { 'img.tar': { format: 'oci-archive', name: 'localhost/deploy-inputs:1' } } },
      },
    };
    assert.deepEqual(await deployed(t, archive), expected, 'oci-archive');

    // containers-storage: the host store osbuild's input hands the stage at <path>/storage
    const cs = join(root, 'cs');
    await copyTo(`containers-storage:[vfs@${join(cs, 'storage')}+${join(root, 'run')}]localhost/deploy-inputs:1`);
    const storage = {
      images: {
        path: cs,
        data: {
          archives: {
            [img.imageId]: {
              format: 'containers-storage',
              name: 'localhost/deploy-inputs:1',
              storage: { driver: 'vfs' },
            },
          },
        },
      },
    };
    assert.deepEqual(await deployed(t, storage), expected, 'containers-storage');

    // dir: with a manifest list naming it (and an instance for another platform)
    const manifest = await readFile(join(img.dir, 'manifest.json'));
    const mediaType = 'application/vnd.oci.image.manifest.v1+json';
    const other = Buffer.from('{"schemaVersion":2}');
    const list = listOver(manifest, img.manifestDigest, mediaType, other);
    await mkdir(join(root, 'lists'));
    await writeFile(join(root, 'lists', list.digest), list.bytes);
    const withList = {
      ...img.inputs,
      'manifest-lists': { path: join(root, 'lists'), data: { files: { [list.digest]: {} } } },
    };
    assert.deepEqual(await deployed(t, withList), expected, 'dir with its list');
  });
});

/** An OCI index over the image (linux/amd64) and another, arm64 instance. */
function listOver(manifest: Buffer, digest: string, mediaType: string, other: Buffer) {
  const otherDigest = `sha256:${createHash('sha256').update(other).digest('hex')}`;
  return makeList([
    { manifest, manifestDigest: digest, mediaType, platform: { architecture: 'amd64', os: 'linux' } },
    { manifest: other, manifestDigest: otherDigest, mediaType, platform: { architecture: 'arm64', os: 'linux' } },
  ] as never);
}
