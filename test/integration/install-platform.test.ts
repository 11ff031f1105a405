/**
 * install() of a dir image that came with a manifest list: the `--override-*` flags it gives skopeo
 * make skopeo pick exactly the image's own instance, by the one platform rule
 * (src/model/platform.ts `chooseInstance`, containers/image 5.23's). Checked in podman: the store
 * holds the image install reported, under the list digest.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { install } from '../../src/install/install.js';
import { buildImage } from '../helpers/images.js';
import {
  addDirImage,
  addList,
  assertCode,
  env,
  inputs,
  listInputs,
  podmanInspect,
  req,
  storageOptions,
} from '../helpers/install-env.js';
import { needTool } from '../helpers/tools.js';

const arm64 = (variant?: string) => ({ architecture: 'arm64', os: 'linux', ...(variant ? { variant } : {}) });

describe('install: the list instance skopeo picks is the image', () => {
  for (const [label, mine, other] of [
    ['arm64/v8 after an arm64 entry without variant', arm64('v8'), arm64()],
    ['arm64 without variant after an arm64/v8 entry', arm64(), arm64('v8')],
  ] as const) {
    it(`installs ${label} (the old first-of-the-architecture rule refused it)`, async (t) => {
      if (!needTool(t, 'skopeo', 'podman')) return;
      const e = await env(t);
      const img = await addDirImage(e, { platform: mine });
      const sibling = await buildImage({ platform: other });
      const listDigest = await addList(e, [sibling, img]);
      const inp = {
        ...(inputs(e, { [img.configDigest]: { format: 'dir', name: 'localhost/pick:latest' } }) as object),
        'manifest-lists': await listInputs(e),
      };
      const summary = await install(req(e, inp, storageOptions()));
      assert.equal(summary.images[0]!.manifestDigest, img.manifestDigest);
      const info = await podmanInspect(e, 'localhost/pick:latest');
      assert.equal(`sha256:${info.Id as string}`, img.configDigest);
      assert.ok((info.RepoDigests as string[]).includes(`localhost/pick@${listDigest}`));
    });
  }

  it('refuses an image skopeo cannot be made to pick: a second entry for the same platform', async (t) => {
    if (!needTool(t, 'skopeo', 'podman')) return;
    const e = await env(t);
    const img = await addDirImage(e, { platform: arm64('v8') });
    const twin = await buildImage({ platform: arm64('v8') });
    const listDigest = await addList(e, [twin, img]);
    const inp = {
      ...(inputs(e, { [img.configDigest]: { format: 'dir', name: 'localhost/twin:latest' } }) as object),
      'manifest-lists': await listInputs(e),
    };
    const err = await assertCode(install(req(e, inp, storageOptions())), 'UNSUPPORTED');
    assert.equal(
      err.message,
      `image localhost/twin:latest (${img.manifestDigest}): for platform linux/arm64/v8 skopeo picks ` +
        `${twin.manifestDigest} of manifest list ${listDigest}, so it would install that instance instead`,
    );
  });
});
