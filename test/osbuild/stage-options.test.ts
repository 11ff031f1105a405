/**
 * Validation of the install (org.osbuild.skopeo stage) options: the schema-validation cases of
 * osbuild's `stages/test/test_skopeo.py`, and ocikit's stricter checks.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isOcikitError } from '../../src/errors.js';
import { isOverlayDriver, parseInstallOptions } from '../../src/osbuild/stage-options.js';

function fails(options: unknown): { fields: readonly string[]; message: string } {
  try {
    parseInstallOptions(options);
  } catch (err) {
    assert.ok(isOcikitError(err, 'INVALID_INPUT'), `expected INVALID_INPUT, got ${String(err)}`);
    return { fields: (err as { values?: readonly string[] }).values ?? [], message: (err as Error).message };
  }
  assert.fail(`options ${JSON.stringify(options)} were accepted`);
}

describe('parseInstallOptions', () => {
  // The invalid cases of upstream's schema test; each names the field that is wrong.
  const invalid: [string, unknown, string][] = [
    ['no destination', {}, 'destination'],
    ['empty destination', { destination: {} }, 'destination.type'],
    ['unknown type foo', { destination: { type: 'foo' } }, 'destination.type'],
    ['oci without path', { destination: { type: 'oci' } }, 'destination.path'],
    ['dir without path', { destination: { type: 'dir' } }, 'destination.path'],
    ['oci-archive without path', { destination: { type: 'oci-archive' } }, 'destination.path'],
    ['misspelt os-archive', { destination: { type: 'os-archive', path: '/x' } }, 'destination.type'],
    [
      'remove-signatures not a boolean',
      { destination: { type: 'dir', path: '/x' }, 'remove-signatures': 'YesPlease' },
      'remove-signatures',
    ],
    ['unknown top-level key', { destination: { type: 'dir', path: '/x' }, extra: 1 }, 'extra'],
    [
      'remove-signatures inside destination',
      { destination: { type: 'dir', path: '/x', 'remove-signatures': true } },
      'destination.remove-signatures',
    ],
    ['path on containers-storage', { destination: { type: 'containers-storage', path: '/x' } }, 'destination.path'],
    [
      'storage-path on oci',
      { destination: { type: 'oci', path: '/x', 'storage-path': '/y' } },
      'destination.storage-path',
    ],
    ['path not a string', { destination: { type: 'oci', path: 7 } }, 'destination.path'],
    ['empty path', { destination: { type: 'oci', path: '' } }, 'destination.path'],
    ['path naming the tree root', { destination: { type: 'oci-archive', path: '/./' } }, 'destination.path'],
    ['NUL in path', { destination: { type: 'dir', path: '/a\0b' } }, 'destination.path'],
    [
      'storage-path not a string',
      { destination: { type: 'containers-storage', 'storage-path': ['x'] } },
      'destination.storage-path',
    ],
    [
      'storage-driver not a name',
      { destination: { type: 'containers-storage', 'storage-driver': 'vfs@/x' } },
      'destination.storage-driver',
    ],
    [
      'storage-driver not a string',
      { destination: { type: 'containers-storage', 'storage-driver': 1 } },
      'destination.storage-driver',
    ],
    [
      'storage-driver null',
      { destination: { type: 'containers-storage', 'storage-driver': null } },
      'destination.storage-driver',
    ],
    [
      'storage-path null',
      { destination: { type: 'containers-storage', 'storage-path': null } },
      'destination.storage-path',
    ],
    ['destination not an object', { destination: 'oci:/x' }, 'destination'],
    ['type not a string', { destination: { type: ['oci'], path: '/x' } }, 'destination.type'],
  ];
  for (const [title, options, field] of invalid) {
    it(`refuses ${title}, naming ${field}`, () => {
      const { fields, message } = fails(options);
      assert.ok(fields.includes(field), `fields ${JSON.stringify(fields)} should include ${field}`);
      assert.match(message, new RegExp(field.replace(/[.]/g, '\\.')));
    });
  }

  it('refuses options that are not an object', () => {
    for (const v of [null, [], 'x', 3]) fails(v);
  });

  it('reports every problem in one error', () => {
    const { fields } = fails({
      destination: { type: 'oci', path: 3, bogus: true },
      'remove-signatures': 'no',
      more: 1,
    });
    assert.deepEqual([...fields].sort(), ['destination.bogus', 'destination.path', 'more', 'remove-signatures']);
  });

  // The valid cases of upstream's schema test, with what they turn into.
  const valid: [string, unknown, unknown][] = [
    [
      'oci with a path',
      { destination: { type: 'oci', path: '/some/path' } },
      { destination: { type: 'oci', path: '/some/path' }, removeSignatures: false },
    ],
    [
      'oci-archive with a path',
      { destination: { type: 'oci-archive', path: '/some/path' } },
      { destination: { type: 'oci-archive', path: '/some/path' }, removeSignatures: false },
    ],
    [
      'dir with remove-signatures',
      { destination: { type: 'dir', path: '/some/path' }, 'remove-signatures': true },
      { destination: { type: 'dir', path: '/some/path' }, removeSignatures: true },
    ],
    [
      'containers-storage with defaults',
      { destination: { type: 'containers-storage' } },
      {
        destination: {
          type: 'containers-storage',
          storagePath: '/var/lib/containers/storage',
          storageDriver: 'overlay',
        },
        removeSignatures: false,
      },
    ],
    [
      'containers-storage with path and driver',
      {
        destination: {
          type: 'containers-storage',
          'storage-path': '/usr/share/containers/storage',
          'storage-driver': 'vfs',
        },
        'remove-signatures': false,
      },
      {
        destination: { type: 'containers-storage', storagePath: '/usr/share/containers/storage', storageDriver: 'vfs' },
        removeSignatures: false,
      },
    ],
    [
      'a relative path',
      { destination: { type: 'dir', path: 'srv/img' } },
      { destination: { type: 'dir', path: 'srv/img' }, removeSignatures: false },
    ],
  ];
  for (const [title, options, expected] of valid) {
    it(`accepts ${title}`, () => {
      assert.deepEqual(parseInstallOptions(options), expected);
    });
  }

  // Keys are data: built from JSON text (an object literal `{__proto__: …}` would set the prototype).
  for (const key of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
    it(`treats the option key ${key} as a key: refused, never inherited`, () => {
      const top = JSON.parse(`{"destination": {"type": "dir", "path": "/x"}, "${key}": {"x": 1}}`);
      assert.deepEqual(fails(top).fields, [key]);
      const inner = JSON.parse(`{"destination": {"type": "dir", "path": "/x", "${key}": "/y"}}`);
      assert.deepEqual(fails(inner).fields, [`destination.${key}`]);
      // A destination under the key is not a destination of the options.
      const nested = JSON.parse(`{"${key}": {"destination": {"type": "dir", "path": "/x"}}}`);
      assert.deepEqual([...fails(nested).fields].sort(), [key, 'destination'].sort());
    });
  }

  it('returns frozen data', () => {
    const o = parseInstallOptions({ destination: { type: 'oci', path: '/x' } });
    assert.ok(Object.isFrozen(o) && Object.isFrozen(o.destination));
  });
});

describe('isOverlayDriver', () => {
  for (const [driver, expected] of [
    ['overlay', true],
    ['overlay2', true],
    ['vfs', false],
    ['btrfs', false],
  ] as const) {
    it(`${driver} → ${expected}`, () => assert.equal(isOverlayDriver(driver), expected));
  }
});
