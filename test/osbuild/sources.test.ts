import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFetchSources } from '../../src/osbuild/sources.js';

const D = (c: string) => `sha256:${c.repeat(64)}`;

describe('parseFetchSources', () => {
  const img = { name: 'quay.io/a/b', digest: D('b') };
  it('reads skopeo, skopeo-index and containers-storage items, with "digests" as an alias of "items"', () => {
    const items = parseFetchSources({
      'org.osbuild.skopeo': {
        digests: {
          [D('a')]: { image: img },
          [D('c')]: {
            image: { ...img, 'containers-transport': 'containers-storage', 'storage-location': '/srv/store' },
          },
        },
      },
      'org.osbuild.skopeo-index': { items: { [D('d')]: { image: { name: 'quay.io/a/b', 'tls-verify': false } } } },
      'org.osbuild.containers-storage': { items: { [D('e')]: {} } },
    });
    assert.deepEqual(
      items.map((i) => [i.kind, i.id]),
      [
        ['image', D('a')],
        ['local', D('c')],
        ['list', D('d')],
        ['local', D('e')],
      ],
    );
    assert.equal(items[0]!.kind === 'image' && items[0]!.tlsVerify, true);
    assert.equal(items[1]!.kind === 'local' && items[1]!.storageLocation, '/srv/store');
  });
  it('accepts empty item sets', () => {
    assert.deepEqual(parseFetchSources({ 'org.osbuild.skopeo': { items: {} } }), []);
  });
  const bad: [string, unknown, string][] = [
    ['a non-object', [], 'INVALID_INPUT'],
    ['an unknown source', { 'org.osbuild.curl': { items: {} } }, 'INVALID_INPUT'],
    ['an unknown source key', { 'org.osbuild.skopeo': { items: {}, options: {} } }, 'INVALID_INPUT'],
    ['both items and digests', { 'org.osbuild.skopeo': { items: {}, digests: {} } }, 'INVALID_INPUT'],
    ['an unanchored key', { 'org.osbuild.skopeo': { items: { [`../${D('a')}`]: { image: img } } } }, 'INVALID_DIGEST'],
    ['an uppercase key', { 'org.osbuild.skopeo': { items: { [D('A')]: { image: img } } } }, 'INVALID_DIGEST'],
    [
      'an unknown item key',
      { 'org.osbuild.skopeo': { items: { [D('a')]: { image: img, extra: 1 } } } },
      'INVALID_INPUT',
    ],
    [
      'an unknown image key',
      { 'org.osbuild.skopeo': { items: { [D('a')]: { image: { ...img, tag: 'x' } } } } },
      'INVALID_INPUT',
    ],
    [
      'a missing name',
      { 'org.osbuild.skopeo': { items: { [D('a')]: { image: { digest: D('b') } } } } },
      'INVALID_INPUT',
    ],
    [
      'an invalid name',
      { 'org.osbuild.skopeo': { items: { [D('a')]: { image: { ...img, name: 'Quay.io/A' } } } } },
      'INVALID_INPUT',
    ],
    [
      'a bad digest',
      { 'org.osbuild.skopeo': { items: { [D('a')]: { image: { ...img, digest: 'sha256:1' } } } } },
      'INVALID_DIGEST',
    ],
    [
      'a name with another digest',
      { 'org.osbuild.skopeo': { items: { [D('a')]: { image: { ...img, name: `quay.io/a/b@${D('c')}` } } } } },
      'INVALID_INPUT',
    ],
    [
      'a non-boolean tls-verify',
      { 'org.osbuild.skopeo': { items: { [D('a')]: { image: { ...img, 'tls-verify': 'no' } } } } },
      'INVALID_INPUT',
    ],
    [
      'an unknown transport',
      { 'org.osbuild.skopeo': { items: { [D('a')]: { image: { ...img, 'containers-transport': 'oci' } } } } },
      'INVALID_INPUT',
    ],
    [
      'storage-location with the docker transport',
      { 'org.osbuild.skopeo': { items: { [D('a')]: { image: { ...img, 'storage-location': '/s' } } } } },
      'INVALID_INPUT',
    ],
    [
      'a relative storage-location',
      {
        'org.osbuild.skopeo': {
          items: {
            [D('a')]: { image: { ...img, 'containers-transport': 'containers-storage', 'storage-location': 's' } },
          },
        },
      },
      'INVALID_INPUT',
    ],
    [
      'a list from containers-storage',
      {
        'org.osbuild.skopeo-index': {
          items: { [D('a')]: { image: { name: 'x/y', 'containers-transport': 'containers-storage' } } },
        },
      },
      'UNSUPPORTED',
    ],
    [
      'options on a containers-storage item',
      { 'org.osbuild.containers-storage': { items: { [D('a')]: { x: 1 } } } },
      'INVALID_INPUT',
    ],
  ];
  for (const [why, doc, code] of bad) {
    it(`refuses ${why} with ${code}`, () => {
      assert.throws(() => parseFetchSources(doc), { code });
    });
  }

  // Keys are data: the documents are JSON text (an object literal `{__proto__: …}` sets the prototype).
  for (const key of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
    it(`treats ${key} as a key of every map: refused, never inherited`, () => {
      const item = `{"image": {"name": "quay.io/a/b", "digest": "${D('b')}"}}`;
      const docs: [string, string][] = [
        [`{"org.osbuild.skopeo": {"items": {"${key}": ${item}}}}`, 'INVALID_DIGEST'],
        [`{"${key}": {"items": {}}}`, 'INVALID_INPUT'],
        [`{"org.osbuild.skopeo": {"${key}": {"items": {"${D('a')}": ${item}}}}}`, 'INVALID_INPUT'],
        [`{"org.osbuild.skopeo": {"items": {"${D('a')}": {"${key}": ${item}}}}}`, 'INVALID_INPUT'],
        [`{"org.osbuild.skopeo": {"items": {"${D('a')}": {"image": {"${key}": {"name": "x/y"}}}}}}`, 'INVALID_INPUT'],
      ];
      for (const [text, code] of docs) {
        assert.throws(
          () => parseFetchSources(JSON.parse(text)),
          (e: Error & { code?: string }) => {
            assert.equal(e.code, code, `${text}: ${e.message}`);
            assert.ok(e.message.includes(key), `${text}: ${e.message} names ${key}`);
            return true;
          },
        );
      }
    });
  }
});
