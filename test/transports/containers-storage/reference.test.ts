import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  formatStoreSpec,
  isStorageDriverName,
  parseContainersStorageRef,
} from '../../../src/transports/containers-storage/reference.js';

describe('formatStoreSpec', () => {
  const cases: [Parameters<typeof formatStoreSpec>[0], string][] = [
    [
      { driver: 'vfs', graphroot: '/t/var/lib/containers/storage', runroot: '/run/containers/storage' },
      '[vfs@/t/var/lib/containers/storage+/run/containers/storage]',
    ],
    [{ graphroot: '/g' }, '[/g]'],
    [
      { driver: 'overlay', graphroot: '/g', runroot: '/r', options: ['additionalimagestore=/s'] },
      '[overlay@/g+/r:additionalimagestore=/s]',
    ],
  ];
  for (const [spec, want] of cases) {
    it(`formats ${want} and parses it back`, () => {
      assert.equal(formatStoreSpec(spec), want);
      assert.deepEqual(parseContainersStorageRef(`containers-storage:${want}img`).spec, spec);
    });
  }

  for (const ch of [']', '@', ':', '+', ',']) {
    it(`refuses a path holding ${JSON.stringify(ch)}`, () => {
      assert.throws(() => formatStoreSpec({ driver: 'vfs', graphroot: `/a${ch}b` }), { code: 'UNSAFE_PATH' });
      assert.throws(() => formatStoreSpec({ driver: 'vfs', graphroot: '/a', runroot: `/r${ch}` }), {
        code: 'UNSAFE_PATH',
      });
    });
  }

  it('refuses relative paths and bad drivers', () => {
    assert.throws(() => formatStoreSpec({ graphroot: 'rel' }), { code: 'INVALID_INPUT' });
    assert.throws(() => formatStoreSpec({ driver: 'Over lay', graphroot: '/g' }), { code: 'INVALID_INPUT' });
    assert.throws(() => formatStoreSpec({ driver: 'vfs' }), { code: 'INVALID_INPUT' });
  });
});

describe('parseContainersStorageRef', () => {
  it('splits at the first ], @, : and + as containers/image does', () => {
    const r = parseContainersStorageRef('containers-storage:[d@/g+/r:a=/x,b=/y]name@sha256:abc');
    assert.deepEqual(r, {
      spec: { driver: 'd', graphroot: '/g', runroot: '/r', options: ['a=/x', 'b=/y'] },
      image: 'name@sha256:abc',
    });
  });
  it('takes a reference without a spec', () => {
    assert.deepEqual(parseContainersStorageRef('containers-storage:localhost/x'), { spec: null, image: 'localhost/x' });
  });
  for (const bad of ['containers-storage:[]x', 'containers-storage:[/g', 'containers-storage:[@/g]x', 'dir:/x']) {
    it(`refuses ${bad}`, () => {
      assert.throws(() => parseContainersStorageRef(bad), { code: 'INVALID_INPUT' });
    });
  }
});

describe('isStorageDriverName', () => {
  for (const name of ['overlay', 'overlay2', 'vfs', 'btrfs', 'zfs', 'a_b-1'])
    it(`accepts ${name}`, () => assert.equal(isStorageDriverName(name), true));
  for (const name of ['', 'Overlay', '-x', '_x', 'a@b', 'a]b', 'a b', 'a:b'])
    it(`refuses ${JSON.stringify(name)}`, () => assert.equal(isStorageDriverName(name), false));
});
