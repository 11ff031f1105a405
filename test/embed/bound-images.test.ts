/**
 * bootc bound images: the quadlet `Image=` rules (sections, comments, last value, specifiers,
 * AuthFile, continuations) and the directory rules (symlinks only, the extension, links resolved
 * inside the tree, never the host's), after containers/bootc `lib/src/boundimage.rs`.
 */
import * as assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BOUND_IMAGES_DIR, quadletImage, readBoundImages } from '../../src/embed/bound-images.js';
import { isOcikitError } from '../../src/errors.js';
import { tempDir } from '../helpers/tmp.js';

const PINNED = `quay.io/a/b@sha256:${'a'.repeat(64)}`;

describe('quadletImage', () => {
  it('takes Image= of the wanted section only, trimmed, the last one winning; comments skipped', () => {
    const text =
      '# c\n[Unit]\nImage=wrong\n\n[Container]\n; c\n  Image =  quay.io/a/b:1  \r\nImage=quay.io/a/b:2\n[Install]\nImage=no\n';
    assert.equal(quadletImage(text, 'Container', 'f'), 'quay.io/a/b:2');
    assert.equal(quadletImage('[Image]\nImage=quay.io/x/%%y:1\n', 'Image', 'f'), 'quay.io/x/%y:1');
  });
  const refused: [string, string, 'Image' | 'Container', string, RegExp][] = [
    ['no Image=', '[Container]\nExec=x\n', 'Container', 'INVALID_INPUT', /no Image= in its \[Container\] section/],
    ['Image= in another section only', '[Image]\nImage=a\n', 'Container', 'INVALID_INPUT', /no Image=/],
    [
      'a continuation line',
      '[Image]\nImage=quay.io/a/\\\n  b:1\n',
      'Image',
      'INVALID_INPUT',
      /line 2: a line continued/,
    ],
    ['a line without =', '[Image]\nImage\n', 'Image', 'INVALID_INPUT', /line 2: not a key=value line/],
    ['AuthFile= in an .image', '[Image]\nImage=a\nAuthFile=/x\n', 'Image', 'UNSUPPORTED', /AuthFile= is not supported/],
    ['a systemd specifier', '[Image]\nImage=quay.io/%u/b\n', 'Image', 'UNSUPPORTED', /systemd specifiers/],
    ['a lone % at the end', '[Image]\nImage=quay.io/b%\n', 'Image', 'UNSUPPORTED', /systemd specifiers/],
    ['another unit as the image', '[Container]\nImage=db.image\n', 'Container', 'UNSUPPORTED', /names a quadlet unit/],
  ];
  for (const [what, text, section, code, message] of refused) {
    it(`refuses ${what}`, () => {
      assert.throws(
        () => quadletImage(text, section, 'f'),
        (e) => isOcikitError(e, code as 'INVALID_INPUT') && message.test(e.message),
      );
    });
  }
  it('AuthFile= in a .container is not the image file rule (bootc reads only Image= there)', () => {
    assert.equal(quadletImage('[Container]\nImage=a\nAuthFile=/x\n', 'Container', 'f'), 'a');
  });
});

describe('readBoundImages', () => {
  async function tree(t: import('node:test').TestContext): Promise<string> {
    const root = await tempDir(t);
    await mkdir(join(root, BOUND_IMAGES_DIR), { recursive: true });
    await mkdir(join(root, 'usr/share/containers/systemd'), { recursive: true });
    return root;
  }
  it('a tree without the directory binds nothing', async (t) => {
    assert.deepEqual(await readBoundImages(await tempDir(t)), []);
  });
  it('follows absolute and relative links inside the tree; a link climbing above the root stays in it', async (t) => {
    const root = await tree(t);
    await writeFile(join(root, 'usr/share/containers/systemd/a.container'), '[Container]\nImage=quay.io/a/a:1\n');
    await writeFile(join(root, 'usr/share/containers/systemd/b.image'), `[Image]\nImage=${PINNED}\n`);
    // On the host, this relative link would reach /tmp/<dir>/evil.image; in the tree it reaches TREE/tmp/<dir>/evil.image.
    const host = await mkdtemp('/tmp/ocikit-bound-');
    t.after(() => rm(host, { recursive: true, force: true }));
    await writeFile(join(host, 'evil.image'), '[Image]\nImage=host/evil:1\n');
    await mkdir(join(root, host), { recursive: true });
    await writeFile(join(root, host, 'evil.image'), '[Image]\nImage=tree/c:1\n');
    const d = join(root, BOUND_IMAGES_DIR);
    await symlink('/usr/share/containers/systemd/a.container', join(d, 'a.container'));
    await symlink('../../../../usr/share/containers/systemd/b.image', join(d, 'b.image'));
    await symlink(`../../../../../../../../../..${host}/evil.image`, join(d, 'c.image'));
    await symlink('/usr/share/containers/systemd/b.image', join(root, 'usr/share/containers/systemd/link.image'));
    await symlink('/usr/share/containers/systemd/link.image', join(d, 'd.image'));
    assert.deepEqual(await readBoundImages(root), [
      { entry: 'a.container', file: 'usr/share/containers/systemd/a.container', ref: 'quay.io/a/a:1', pinned: false },
      { entry: 'b.image', file: 'usr/share/containers/systemd/b.image', ref: PINNED, pinned: true },
      { entry: 'c.image', file: `${host.slice(1)}/evil.image`, ref: 'tree/c:1', pinned: false },
      { entry: 'd.image', file: 'usr/share/containers/systemd/b.image', ref: PINNED, pinned: true },
    ]);
  });
  it('refuses a regular file, an unknown extension, a dangling link and a link loop', async (t) => {
    const cases: [string, (d: string) => Promise<void>, string, RegExp][] = [
      ['a regular file', (d) => writeFile(join(d, 'x.image'), '[Image]\nImage=a\n'), 'INVALID_INPUT', /not a symlink/],
      [
        'an extension',
        (d) => symlink('/usr/share/containers/systemd/x.kube', join(d, 'x.kube')),
        'INVALID_INPUT',
        /neither a \.image nor a \.container/,
      ],
      ['a dangling link', (d) => symlink('/nowhere.image', join(d, 'x.image')), 'NOT_FOUND', /does not exist/],
      ['a loop', (d) => symlink('x.image', join(d, 'x.image')), 'INVALID_INPUT', /more than 40 symlinks/],
    ];
    for (const [what, make, code, message] of cases) {
      const root = await tree(t);
      await make(join(root, BOUND_IMAGES_DIR));
      await assert.rejects(
        readBoundImages(root),
        (e) => isOcikitError(e, code as 'INVALID_INPUT') && message.test(e.message),
        what,
      );
    }
  });
});
