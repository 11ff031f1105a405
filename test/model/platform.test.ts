/** Platforms and the choice of a list instance (src/model/platform.ts). */
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { isOcikitError } from '../../src/errors.js';
import type { Digest } from '../../src/model/digest.js';
import { parseManifest, type ManifestList } from '../../src/model/manifest.js';
import {
  type Platform,
  armVariantFromCpuinfo,
  chooseInstance,
  hostPlatform,
  normalizeArchitecture,
  platformString,
  wantedPlatforms,
} from '../../src/model/platform.js';

const code = (c: string) => (e: unknown) => isOcikitError(e, c as never);

describe('platformString', () => {
  const table: [Parameters<typeof platformString>[0], string][] = [
    [{ architecture: 'arm64', os: 'linux', variant: 'v8' }, 'linux/arm64/v8'],
    [{ architecture: 'amd64', os: 'linux' }, 'linux/amd64'],
    [{ architecture: 'amd64', os: 'linux', variant: '' }, 'linux/amd64'],
    [{ architecture: 'amd64', os: 'windows', 'os.version': '10.0' }, 'windows/amd64'],
  ];
  for (const [p, s] of table) {
    it(`formats ${JSON.stringify(p)} as ${s}`, () => assert.equal(platformString(p), s));
  }
});

describe('chooseInstance', () => {
  const list = parseManifest(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: `sha256:${'1'.repeat(64)}`,
            size: 1,
            platform: { architecture: 'arm', os: 'linux', variant: 'v6' },
          },
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: `sha256:${'2'.repeat(64)}`,
            size: 1,
            platform: { architecture: 'arm', os: 'linux', variant: 'v7' },
          },
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: `sha256:${'3'.repeat(64)}`,
            size: 1,
            platform: { architecture: 'arm64', os: 'linux' },
          },
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: `sha256:${'4'.repeat(64)}`,
            size: 1,
            platform: { architecture: 'amd64', os: 'linux' },
          },
        ],
      }),
    ),
    'list',
  ) as ManifestList;
  const table: [string, { architecture: string; os: string; variant?: string }, string][] = [
    ['arm v7', { architecture: 'arm', os: 'linux', variant: 'v7' }, '2'],
    ['arm v6', { architecture: 'arm', os: 'linux', variant: 'v6' }, '1'],
    ['arm64 v8 = arm64 without variant', { architecture: 'arm64', os: 'linux', variant: 'v8' }, '3'],
    ['amd64', { architecture: 'amd64', os: 'linux' }, '4'],
  ];
  for (const [label, platform, want] of table) {
    it(`picks ${label}`, () =>
      assert.equal(chooseInstance(list, { platform }, 'l').digest, `sha256:${want.repeat(64)}`));
  }
  it('defaults to the host platform', () => {
    // Built around the host, so it checks something on every architecture (it used to pass
    // silently on any host but amd64).
    const host = hostPlatform();
    const other = host.architecture === 's390x' ? 'ppc64le' : 's390x';
    const entry = (digit: string, platform: object) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: `sha256:${digit.repeat(64)}`,
      size: 1,
      platform,
    });
    const around = parseManifest(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: [entry('5', { architecture: other, os: 'linux' }), entry('6', host)],
        }),
      ),
      'list',
    ) as ManifestList;
    assert.equal(chooseInstance(around, {}, 'l').digest, `sha256:${'6'.repeat(64)}`);
  });
  it('fails for an unknown instance digest', () => {
    assert.throws(
      () => chooseInstance(list, { instance: `sha256:${'9'.repeat(64)}` as Digest }, 'l'),
      code('NOT_FOUND'),
    );
  });
});

describe('hostPlatform', () => {
  it('names the host as Go does', () => {
    const p = hostPlatform();
    assert.equal(p.os, process.platform);
    assert.notEqual(p.architecture, 'x64');
    assert.match(p.architecture, /^[a-z0-9]+$/);
  });
});

describe('chooseInstance messages', () => {
  it('names the wanted platform with platformString', () => {
    const list = parseManifest(
      Buffer.from(
        JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }),
      ),
      'list',
    ) as ManifestList;
    assert.throws(
      () => chooseInstance(list, { platform: { architecture: 'arm', os: 'linux', variant: 'v6' } }, 'L'),
      (e: unknown) =>
        isOcikitError(e, 'NOT_FOUND') && e.message === 'L: manifest list has no instance for platform linux/arm/v6',
    );
  });
});

type Entry = readonly [digit: string, platform: Record<string, string> | null, annotations?: Record<string, string>];

/** A parsed Docker list or OCI index whose entries are `sha256:<digit × 64>`. */
function listOf(flavour: 'oci' | 'docker', entries: readonly Entry[]): ManifestList {
  const oci = flavour === 'oci';
  const doc = {
    schemaVersion: 2,
    mediaType: oci
      ? 'application/vnd.oci.image.index.v1+json'
      : 'application/vnd.docker.distribution.manifest.list.v2+json',
    manifests: entries.map(([digit, platform, annotations]) => ({
      mediaType: oci
        ? 'application/vnd.oci.image.manifest.v1+json'
        : 'application/vnd.docker.distribution.manifest.v2+json',
      digest: `sha256:${digit.repeat(64)}`,
      size: 1,
      ...(platform ? { platform } : {}),
      ...(annotations ? { annotations } : {}),
    })),
  };
  return parseManifest(Buffer.from(JSON.stringify(doc)), 'list') as ManifestList;
}

const lx = (architecture: string, variant?: string) => ({ os: 'linux', architecture, ...(variant ? { variant } : {}) });

describe('wantedPlatforms (containers/image 5.23 WantedPlatforms)', () => {
  const table: [Platform, string[]][] = [
    [lx('amd64'), ['linux/amd64']],
    [lx('amd64', 'v2'), ['linux/amd64/v2', 'linux/amd64']],
    [lx('arm64'), ['linux/arm64', 'linux/arm64/v8']],
    [lx('arm64', 'v8'), ['linux/arm64/v8', 'linux/arm64']],
    [lx('arm'), ['linux/arm', 'linux/arm/v8', 'linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5']],
    [lx('arm', 'v8'), ['linux/arm/v8', 'linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5', 'linux/arm']],
    [lx('arm', 'v7'), ['linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5', 'linux/arm']],
    [lx('arm', 'v5'), ['linux/arm/v5', 'linux/arm']],
    [lx('arm', 'v9'), ['linux/arm/v9', 'linux/arm']],
    [lx('s390x'), ['linux/s390x']],
    [{ os: 'windows', architecture: 'amd64' }, ['windows/amd64']],
  ];
  for (const [want, order] of table) {
    it(`${platformString(want)} → ${order.join(', ')}`, () =>
      assert.deepEqual(wantedPlatforms(want).map(platformString), order));
  }
  it('takes the host for an empty os or architecture, and the host variant only without an architecture', () => {
    const h = hostPlatform();
    assert.deepEqual(wantedPlatforms({ os: '', architecture: '' }), wantedPlatforms(h));
    assert.deepEqual(wantedPlatforms(), wantedPlatforms(h));
    assert.equal(wantedPlatforms({ os: '', architecture: 'arm64' })[0]!.os, h.os);
    assert.equal(wantedPlatforms({ os: 'linux', architecture: '', variant: 'v6' })[0]!.variant, 'v6');
  });
});

describe('chooseInstance: the containers/image 5.23 rule', () => {
  const pick = (l: ManifestList, want: Platform) => chooseInstance(l, { platform: want }, 'L').digest.slice(7, 8);
  for (const flavour of ['oci', 'docker'] as const) {
    it(`${flavour}: the order of the wanted platforms beats the list order`, () => {
      const l = listOf(flavour, [
        ['1', lx('arm', 'v6')],
        ['2', lx('arm', 'v7')],
        ['3', lx('arm64', 'v8')],
        ['4', lx('arm64')],
      ]);
      assert.equal(pick(l, lx('arm', 'v7')), '2');
      assert.equal(pick(l, lx('arm', 'v6')), '1');
      assert.equal(pick(l, lx('arm', 'v8')), '2');
      assert.equal(pick(l, lx('arm')), '2', 'no variant: none, then v8, v7');
      assert.equal(pick(l, lx('arm64')), '4', 'arm64 without a variant prefers the entry without one');
      assert.equal(pick(l, lx('arm64', 'v8')), '3');
      assert.throws(() => pick(l, lx('arm', 'v5')), code('NOT_FOUND'), 'v5 accepts v5 and none only');
    });
    it(`${flavour}: an entry without a variant serves a wanted variant only after every compatible one`, () => {
      const l = listOf(flavour, [
        ['1', lx('arm')],
        ['2', lx('arm', 'v5')],
      ]);
      assert.equal(pick(l, lx('arm', 'v7')), '2');
      assert.equal(pick(l, lx('arm', 'v9')), '1');
    });
    it(`${flavour}: other operating systems and amd64 variants never match linux/amd64`, () => {
      const l = listOf(flavour, [
        ['1', { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1' }],
        ['2', { os: 'darwin', architecture: 'amd64' }],
        ['3', lx('amd64', 'v3')],
        ['4', lx('amd64')],
      ]);
      assert.equal(pick(l, lx('amd64')), '4');
      assert.equal(pick(l, { os: 'windows', architecture: 'amd64' }), '1', 'os.version plays no part');
      assert.equal(pick(l, lx('amd64', 'v3')), '3');
      assert.equal(pick(l, lx('amd64', 'v2')), '4', 'an unknown variant, then none');
    });
    it(`${flavour}: of duplicates the first wins; a zstd annotation does not count`, () => {
      const l = listOf(flavour, [
        ['1', lx('s390x')],
        ['2', lx('s390x'), { 'io.github.containers.compression.zstd': 'true' }],
      ]);
      assert.equal(pick(l, lx('s390x')), '1');
    });
  }
  it('oci: an entry without a platform is taken when nothing matches, the first of them', () => {
    const l = listOf('oci', [
      ['1', lx('ppc64le')],
      ['2', null],
      ['3', null],
      ['4', lx('riscv64')],
    ]);
    assert.equal(pick(l, lx('riscv64')), '4');
    assert.equal(pick(l, lx('amd64')), '2');
  });
  it('docker: an entry without a platform never matches', () => {
    const l = listOf('docker', [
      ['1', lx('ppc64le')],
      ['2', null],
    ]);
    assert.throws(
      () => pick(l, lx('amd64')),
      (e: unknown) =>
        isOcikitError(e, 'NOT_FOUND') &&
        e.message ===
          'L: manifest list has no instance for platform linux/amd64; it has linux/ppc64le, 1 entry without a platform',
    );
  });
  it('names the wanted platform and each platform of the list once', () => {
    const l = listOf('oci', [
      ['1', lx('arm64', 'v8')],
      ['2', lx('arm64', 'v8')],
      ['3', { os: 'windows', architecture: 'arm' }],
    ]);
    assert.throws(
      () => pick(l, lx('arm', 'v7')),
      (e: unknown) =>
        isOcikitError(e, 'NOT_FOUND') &&
        e.message === 'L: manifest list has no instance for platform linux/arm/v7; it has linux/arm64/v8, windows/arm',
    );
  });
});

describe('normalizeArchitecture', () => {
  const table: [string, { architecture: string; variant?: string }][] = [
    ['x86_64', { architecture: 'amd64' }],
    ['amd64', { architecture: 'amd64' }],
    ['aarch64', { architecture: 'arm64', variant: 'v8' }],
    ['armv7', { architecture: 'arm', variant: 'v7' }],
    ['arm64', { architecture: 'arm64' }],
    ['armhfp', { architecture: 'arm', variant: 'v7' }],
    ['arm', { architecture: 'arm' }],
    ['ppc64le', { architecture: 'ppc64le' }],
    ['s390x', { architecture: 's390x' }],
    ['riscv64', { architecture: 'riscv64' }],
  ];
  for (const [name, want] of table) {
    it(`${name} → ${JSON.stringify(want)}`, () => assert.deepEqual({ ...normalizeArchitecture(name) }, want));
  }
  for (const name of ['armv6', 'x86-64', 'toString', '', 'AMD64']) {
    it(`refuses ${JSON.stringify(name)}`, () =>
      assert.throws(
        () => normalizeArchitecture(name),
        (e: unknown) => isOcikitError(e, 'INVALID_INPUT') && e.message.includes('accepted: amd64, x86_64'),
      ));
  }
});

describe('the host variant (containers/image getCPUVariantArm)', () => {
  const table: [string, string | undefined][] = [
    ['processor\t: 0\nBogoMIPS\t: 50.00\nCPU architecture: 8\nCPU variant\t: 0x0\n', 'v8'],
    ['CPU architecture: AArch64\n', 'v8'],
    ['processor : 0\nmodel name : ARMv7 Processor rev 4 (v7l)\ncpu architecture : 7\n', 'v7'],
    ['CPU architecture: 7M\n', 'v7'],
    ['CPU architecture: ?(12)\n', 'v7'],
    ['CPU architecture: 6TEJ\n', 'v6'],
    ['CPU architecture: 5TE\n', 'v5'],
    ['CPU architecture: 4T\n', 'v4'],
    ['CPU architecture: 3\n', 'v3'],
    ['CPU architecture: 9\nCPU architecture: 8\n', undefined],
    ['processor : 0\nvendor_id : GenuineIntel\n', undefined],
  ];
  for (const [text, want] of table) {
    it(`${JSON.stringify(text.slice(-24))} → ${want ?? 'none'}`, () => assert.equal(armVariantFromCpuinfo(text), want));
  }
  it('hostPlatform carries the variant this host has', async () => {
    const h = hostPlatform();
    if (h.os === 'linux' && (h.architecture === 'arm64' || h.architecture === 'arm')) {
      const { readFile } = await import('node:fs/promises');
      assert.equal(h.variant, armVariantFromCpuinfo(await readFile('/proc/cpuinfo', 'utf8')));
    } else {
      assert.equal(h.variant, undefined);
    }
  });
});
