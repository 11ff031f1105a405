/**
 * The `transport:details` dispatcher (src/transports/reference.ts). The case table follows
 * containers/image 5.23's own tests (`transports/alltransports/alltransports_test.go`,
 * `oci/layout/oci_transport_test.go`, `oci/internal/oci_util_test.go`,
 * `directory/directory_transport_test.go`, `docker/docker_transport_test.go`,
 * `storage/storage_transport_test.go`); the round trip is checked over generated references.
 */
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { isOcikitError } from '../../src/errors.js';
import type { Digest } from '../../src/model/digest.js';
import {
  type ImageReference,
  containersStorageRef,
  formatImageReference,
  isValidOciRef,
  parseImageReference,
} from '../../src/transports/reference.js';

const code = (c: string) => (e: unknown) => isOcikitError(e, c as never);
const HEX = 'a'.repeat(64);
const DIGEST = `sha256:${HEX}` as Digest;

describe('isValidOciRef', () => {
  const valid = [
    'latest',
    'v1.0',
    'r.tar',
    'foo/bar:1',
    'localhost/foo:latest',
    'registry.example.com:5000/ns/img:v1',
    'a--b',
    'a_b',
    'localhost/x@sha256:abc',
  ];
  const invalid = ['', '/abs', 'a/', 'a//b', '-x', 'x-', 'a__b', 'a b', 'ü', 'a:-b'];
  for (const r of valid) it(`accepts ${r}`, () => assert.equal(isValidOciRef(r), true));
  for (const r of invalid) it(`refuses ${JSON.stringify(r)}`, () => assert.equal(isValidOciRef(r), false));
});

describe('parseImageReference', () => {
  const table: [string, ImageReference, string][] = [
    // [input, parsed, formatted]
    ['dir:/etc', { transport: 'dir', path: '/etc' }, 'dir:/etc'],
    ['dir:/', { transport: 'dir', path: '/' }, 'dir:/'],
    ['dir:relativepath', { transport: 'dir', path: 'relativepath' }, 'dir:relativepath'],
    ['dir:/a:b@c', { transport: 'dir', path: '/a:b@c' }, 'dir:/a:b@c'],
    ['oci:/etc:someimage', { transport: 'oci', path: '/etc', reference: 'someimage' }, 'oci:/etc:someimage'],
    [
      'oci:/etc:someimage:mytag',
      { transport: 'oci', path: '/etc', reference: 'someimage:mytag' },
      'oci:/etc:someimage:mytag',
    ],
    [
      'oci:/foo/bar:busybox:latest',
      { transport: 'oci', path: '/foo/bar', reference: 'busybox:latest' },
      'oci:/foo/bar:busybox:latest',
    ],
    ['oci:/foo/bar', { transport: 'oci', path: '/foo/bar' }, 'oci:/foo/bar'],
    ['oci:/etc:', { transport: 'oci', path: '/etc' }, 'oci:/etc'],
    [
      'oci:relativepath:latestimage',
      { transport: 'oci', path: 'relativepath', reference: 'latestimage' },
      'oci:relativepath:latestimage',
    ],
    [
      'oci-archive:/etc:someimage:mytag',
      { transport: 'oci-archive', path: '/etc', reference: 'someimage:mytag' },
      'oci-archive:/etc:someimage:mytag',
    ],
    [
      'oci-archive:/x.tar:localhost/x@sha256:abc',
      { transport: 'oci-archive', path: '/x.tar', reference: 'localhost/x@sha256:abc' },
      'oci-archive:/x.tar:localhost/x@sha256:abc',
    ],
    [
      'docker://busybox',
      { transport: 'docker', reference: { domain: 'docker.io', path: 'library/busybox', tag: 'latest' } },
      'docker://docker.io/library/busybox:latest',
    ],
    [
      'docker://busybox:notlatest',
      { transport: 'docker', reference: { domain: 'docker.io', path: 'library/busybox', tag: 'notlatest' } },
      'docker://docker.io/library/busybox:notlatest',
    ],
    [
      `docker://busybox@${DIGEST}`,
      { transport: 'docker', reference: { domain: 'docker.io', path: 'library/busybox', digest: DIGEST } },
      `docker://docker.io/library/busybox@${DIGEST}`,
    ],
    [
      'docker://docker.io/library/busybox:latest',
      { transport: 'docker', reference: { domain: 'docker.io', path: 'library/busybox', tag: 'latest' } },
      'docker://docker.io/library/busybox:latest',
    ],
    [
      'docker://localhost:5000/a/b:1',
      { transport: 'docker', reference: { domain: 'localhost:5000', path: 'a/b', tag: '1' } },
      'docker://localhost:5000/a/b:1',
    ],
    ['containers-storage:busybox', { transport: 'containers-storage', image: 'busybox' }, 'containers-storage:busybox'],
    [`containers-storage:@${HEX}`, { transport: 'containers-storage', image: `@${HEX}` }, `containers-storage:@${HEX}`],
    [
      'containers-storage:[vfs@/g+/r]busybox:notlatest',
      {
        transport: 'containers-storage',
        store: { driver: 'vfs', graphroot: '/g', runroot: '/r' },
        image: 'busybox:notlatest',
      },
      'containers-storage:[vfs@/g+/r]busybox:notlatest',
    ],
    [
      'containers-storage:[overlay@/g+/r:additionalimagestore=/s]x',
      {
        transport: 'containers-storage',
        store: { driver: 'overlay', graphroot: '/g', runroot: '/r', options: ['additionalimagestore=/s'] },
        image: 'x',
      },
      'containers-storage:[overlay@/g+/r:additionalimagestore=/s]x',
    ],
    [
      'containers-storage:[/g]x',
      { transport: 'containers-storage', store: { graphroot: '/g' }, image: 'x' },
      'containers-storage:[/g]x',
    ],
  ];
  for (const [input, parsed, formatted] of table) {
    it(`reads ${input}`, () => {
      assert.deepEqual(parseImageReference(input), parsed);
      assert.equal(formatImageReference(parsed), formatted);
      assert.deepEqual(parseImageReference(formatted), parsed);
    });
  }

  const refused: [string, string, string][] = [
    // [input, code, why]
    ['', 'INVALID_INPUT', 'empty'],
    ['busybox', 'INVALID_INPUT', 'no transport name'],
    [':busybox', 'INVALID_INPUT', 'empty transport name'],
    ['docker:', 'INVALID_INPUT', 'empty transport reference'],
    ['docker:busybox', 'INVALID_INPUT', 'missing // prefix'],
    [`docker://busybox:latest@${DIGEST}`, 'INVALID_INPUT', 'both tag and digest'],
    ['docker://UPPERCASEISINVALID', 'INVALID_INPUT', 'invalid name'],
    ['docker-archive:/x.tar:busybox:latest', 'INVALID_INPUT', 'a transport ocikit does not handle'],
    ['Dir:/x', 'INVALID_INPUT', 'transport names are case-sensitive'],
    ['dir:', 'INVALID_INPUT', 'an empty path'],
    ['dir:/a\0b', 'UNSAFE_PATH', 'a NUL byte'],
    ["oci:/tmp:invalid'image!value@", 'INVALID_INPUT', 'an invalid oci reference'],
    ['oci:/tmp:-x', 'INVALID_INPUT', 'an oci reference starting with a separator'],
    ['oci::x', 'INVALID_INPUT', 'an empty oci path'],
    ['oci-archive:', 'INVALID_INPUT', 'an empty oci-archive path'],
    ['containers-storage:', 'INVALID_INPUT', 'an empty image'],
    ['containers-storage:[unterminated', 'INVALID_INPUT', 'an unterminated store specifier'],
    ['containers-storage:[]busybox', 'INVALID_INPUT', 'an empty store specifier'],
    ['containers-storage:[relative/path]busybox', 'INVALID_INPUT', 'a relative graph root'],
    ['containers-storage:[vfs@relative/path]busybox', 'INVALID_INPUT', 'a relative graph root after a driver'],
    ['containers-storage:[@/g]busybox', 'INVALID_INPUT', 'an empty driver'],
    ['containers-storage:[vfs@]busybox', 'INVALID_INPUT', 'an empty root'],
    ['containers-storage:[vfs@/g+relative]busybox', 'INVALID_INPUT', 'a relative run root'],
    [
      'containers-storage:[vfs@/g+/r:a,b]busybox',
      'INVALID_INPUT',
      'options that are not key=/path (stricter than c/image)',
    ],
    ['containers-storage:[vfs@+/r]busybox', 'INVALID_INPUT', 'no graph root (stricter than c/image)'],
    ['containers-storage:[vfs@/g][x]busybox', 'INVALID_INPUT', 'an image read as a second store specifier'],
    ['containers-storage:[vfs@/g]a b', 'INVALID_INPUT', 'whitespace in the image'],
  ];
  for (const [input, want, why] of refused) {
    it(`refuses ${JSON.stringify(input)} (${why}) as ${want}, naming it on one line`, () =>
      assert.throws(
        () => parseImageReference(input),
        (e: unknown) =>
          code(want)(e) && (e as Error).message.includes(JSON.stringify(input)) && !(e as Error).message.includes('\n'),
      ));
  }
});

describe('formatImageReference', () => {
  const refused: [string, ImageReference, string][] = [
    ['an oci path holding ":"', { transport: 'oci', path: '/has:colon', reference: 'x' }, 'UNSAFE_PATH'],
    ['an oci-archive path holding ":"', { transport: 'oci-archive', path: '/a:b' }, 'UNSAFE_PATH'],
    ['an invalid oci reference', { transport: 'oci', path: '/p', reference: 'a b' }, 'INVALID_INPUT'],
    ['an empty dir path', { transport: 'dir', path: '' }, 'INVALID_INPUT'],
    [
      'a store root holding "+"',
      { transport: 'containers-storage', store: { graphroot: '/a+b' }, image: 'x' },
      'UNSAFE_PATH',
    ],
    ['an empty image', { transport: 'containers-storage', image: '' }, 'INVALID_INPUT'],
    ['an image starting with "["', { transport: 'containers-storage', image: '[x]y' }, 'INVALID_INPUT'],
    [
      'a docker reference without tag or digest',
      { transport: 'docker', reference: { domain: 'docker.io', path: 'library/x' } },
      'INVALID_INPUT',
    ],
    [
      'a docker reference with both',
      { transport: 'docker', reference: { domain: 'docker.io', path: 'library/x', tag: 't', digest: DIGEST } },
      'INVALID_INPUT',
    ],
    [
      'a docker reference that is not normalised',
      { transport: 'docker', reference: { domain: 'index.docker.io', path: 'x', tag: 't' } },
      'INVALID_INPUT',
    ],
    [
      'an invalid docker reference',
      { transport: 'docker', reference: { domain: 'docker.io', path: 'A', tag: 't' } },
      'INVALID_INPUT',
    ],
  ];
  for (const [label, r, want] of refused) {
    it(`refuses ${label} as ${want}`, () => assert.throws(() => formatImageReference(r), code(want)));
  }
  it('writes no reference part for an empty oci reference, as none', () =>
    assert.equal(formatImageReference({ transport: 'oci', path: '/p', reference: '' }), 'oci:/p'));
});

/** mulberry32: a small seeded generator, so the round trip sees the same references on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

describe('round trip over generated references', () => {
  const rand = prng(0x0c1c17);
  const int = (n: number) => Math.floor(rand() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  const many = (n: number, f: () => string, sep: string) => Array.from({ length: 1 + int(n) }, f).join(sep);
  const word = (alphabet: string, max = 6) => many(max - 1, () => pick([...alphabet]), '');
  const ALNUM = 'abcxyzABCXYZ0189';
  const LOWER = 'abcxyz0189';
  const PATH_CHARS = `${ALNUM}._-é ~`;

  const path = (extra = '') => `${pick(['/', '', './'])}${many(3, () => word(PATH_CHARS + extra), '/')}`;
  const ociRef = () => many(2, () => many(2, () => word(ALNUM), pick(['-', '.', '_', ':', '@', '+', '--'])), '/');
  const dockerName = () => {
    const domain = pick(['', 'localhost/', 'quay.io/', 'registry.example.com:5000/', 'Host.Example/', 'docker.io/']);
    const repo = many(2, () => many(1, () => word(LOWER), pick(['.', '_', '__', '-', '--'])), '/');
    const suffix = pick(['', `:${word(`${ALNUM}_.-`, 8)}`, `@${DIGEST}`]);
    return `${domain}${repo}${suffix}`;
  };
  const store = () => {
    const spec = `${pick(['', 'vfs@', 'overlay@'])}/${word(PATH_CHARS)}${pick(['', `+/${word(PATH_CHARS)}`])}`;
    return `[${spec}${pick(['', ':additionalimagestore=/s', ':a=/x,b=/y'])}]`;
  };
  const image = () => pick([dockerName(), `@${HEX}`, `${dockerName().split('@')[0]}@${HEX}`]);

  const generators: (() => string)[] = [
    () => `dir:${path(':@+[]')}`,
    () => `oci:${path()}${pick(['', ':', `:${ociRef()}`])}`,
    () => `oci-archive:${path()}${pick(['', `:${ociRef()}`])}`,
    () => `docker://${dockerName()}`,
    () => `containers-storage:${pick(['', store()])}${image()}`,
  ];

  it('parses, formats and parses back to the same reference, 2000 times', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const s = pick(generators)();
      let r: ImageReference;
      try {
        r = parseImageReference(s);
      } catch (err) {
        // Generated docker names may be invalid (a 64-hex repository, an over-long name): those
        // must be refused as INVALID_INPUT, never crash.
        assert.ok(isOcikitError(err, 'INVALID_INPUT'), `${s}: ${String(err)}`);
        continue;
      }
      const f = formatImageReference(r);
      assert.deepEqual(parseImageReference(f), r, `${s} -> ${f}`);
      assert.equal(formatImageReference(parseImageReference(f)), f, s);
      seen.add(r.transport);
    }
    assert.deepEqual([...seen].sort(), ['containers-storage', 'dir', 'docker', 'oci', 'oci-archive']);
  });
});

describe('containersStorageRef', () => {
  it('appends the image', () => {
    assert.equal(
      containersStorageRef({ driver: 'vfs', graphroot: '/g' }, 'localhost/a:b'),
      'containers-storage:[vfs@/g]localhost/a:b',
    );
  });
  it('refuses an empty or spaced image', () => {
    assert.throws(() => containersStorageRef({ graphroot: '/g' }, ''), { code: 'INVALID_INPUT' });
    assert.throws(() => containersStorageRef({ graphroot: '/g' }, 'a b'), { code: 'INVALID_INPUT' });
  });
});
