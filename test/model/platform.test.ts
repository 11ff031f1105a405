/** Platforms and the choice of a list instance (src/model/platform.ts). */
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { isOcikitError } from '../../src/errors.js';
import type { Digest } from '../../src/model/digest.js';
import { parseManifest, type ManifestList } from '../../src/model/manifest.js';
import { chooseInstance, hostPlatform, platformString } from '../../src/model/platform.js';

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
