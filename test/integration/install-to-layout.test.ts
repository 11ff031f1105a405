/**
 * install() into the native destinations (oci, oci-archive, dir): read back and copied on by
 * skopeo, progress per image, and the image itself for a dir image that came with a list.
 */
import * as assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { install, type InstallProgress } from '../../src/install/install.js';
import { runTool } from '../../src/internal/exec.js';
import { buildImage } from '../helpers/images.js';
import { addDirImage, addList, env, inputs, listInputs, req, sha } from '../helpers/install-env.js';
import { needTool } from '../helpers/tools.js';

describe('install into native destinations', () => {
  const types = ['oci', 'oci-archive', 'dir'] as const;
  for (const type of types) {
    it(`writes ${type} that skopeo inspects and copies on`, async (t) => {
      if (!needTool(t, 'skopeo')) return;
      const e = await env(t);
      const a = await addDirImage(e, { flavour: 'oci' });
      const b = await addDirImage(e, { flavour: 'docker' });
      const archives: Record<string, { format: string; name: string }> = {
        [a.configDigest]: { format: 'dir', name: 'localhost/a:latest' },
      };
      if (type !== 'dir') archives[b.configDigest] = { format: 'dir', name: 'localhost/b:latest' };
      const path = type === 'oci-archive' ? '/usr/share/images/all.tar' : `/usr/share/images/${type}`;
      const summary = await install(req(e, inputs(e, archives), { destination: { type, path } }));
      const location = join(e.tree, path);
      assert.equal(summary.destination.location, location);
      assert.equal(summary.images.length, Object.keys(archives).length);
      for (const [i, im] of summary.images.entries()) {
        const expected = type === 'dir' ? `dir:${location}` : `${type}:${location}:${im.name}`;
        assert.equal(im.destination, expected);
        assert.equal(im.listDigest, null);
        const raw = (await runTool(['skopeo', 'inspect', '--raw', im.destination])).stdout;
        assert.equal(sha(raw), im.manifestDigest, `manifest of ${im.name}`);
        const config = (await runTool(['skopeo', 'inspect', '--raw', '--config', im.destination])).stdout;
        assert.equal(sha(config), im.imageId, `config of ${im.name}`);
        const src = i === 0 ? a : b;
        if (src.mediaType.includes('oci') || type === 'dir') {
          assert.equal(
            im.manifestDigest,
            src.manifestDigest,
            'an OCI image (or any image in dir:) keeps its manifest bytes',
          );
          assert.equal(im.imageId, src.configDigest);
        }
        await runTool(['skopeo', 'copy', '-q', im.destination, `dir:${join(e.root, `copy-${i}`)}`]);
      }
      assert.deepEqual(await readdir(e.tmpdir), []);
    });
  }

  it('reports start, byte progress and done once per image', async (t) => {
    const e = await env(t);
    const a = await addDirImage(e, { layers: 2, layerSize: 50_000 });
    const b = await addDirImage(e, { layers: 1, layerSize: 30_000 });
    const events: InstallProgress[] = [];
    await install(
      req(
        e,
        inputs(e, {
          [a.configDigest]: { format: 'dir', name: 'localhost/a:latest' },
          [b.configDigest]: { format: 'dir', name: 'localhost/b:latest' },
        }),
        { destination: { type: 'oci', path: '/oci' } },
        { onProgress: (p) => events.push(p) },
      ),
    );
    for (const [index, img] of [a, b].entries()) {
      const mine = events.filter((p) => p.index === index);
      const total = img.layers.reduce((n, l) => n + l.size, 0);
      assert.deepEqual(mine[0], {
        index,
        count: 2,
        name: img === a ? 'localhost/a:latest' : 'localhost/b:latest',
        phase: 'start',
        bytes: 0,
        total,
      });
      assert.deepEqual(
        mine.map((p) => p.phase).filter((p) => p !== 'progress'),
        ['start', 'done'],
      );
      assert.equal(mine.at(-1)!.phase, 'done');
      assert.equal(mine.at(-1)!.bytes, total);
      assert.ok(mine.some((p) => p.phase === 'progress'));
    }
  });

  it('installs the image itself (not the list) for a dir image that came with a list', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const e = await env(t);
    const arm = await addDirImage(e, { platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } });
    const amd = await buildImage({ platform: { architecture: 'amd64', os: 'linux' } });
    await addList(e, [amd, arm]);
    const inp = {
      ...(inputs(e, { [arm.configDigest]: { format: 'dir', name: 'localhost/arm:latest' } }) as object),
      'manifest-lists': await listInputs(e),
    };
    const summary = await install(req(e, inp, { destination: { type: 'oci', path: '/oci' } }));
    assert.equal(summary.images[0]!.manifestDigest, arm.manifestDigest);
    const inspect = JSON.parse(
      (await runTool(['skopeo', 'inspect', summary.images[0]!.destination])).stdout.toString(),
    ) as { Architecture: string };
    assert.equal(inspect.Architecture, 'arm64');
  });
});
