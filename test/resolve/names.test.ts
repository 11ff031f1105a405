/**
 * Names and architectures: docker normalisation (the default), registries.conf short names
 * (containers/image `pkg/shortnames` without prompting), `--arch` names (osbuild/images
 * `SetArchitectureChoice`), and the entries file shapes (blueprint `[[containers]]`, osbuild-mpp `images`).
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadRegistriesConf } from '../../src/config/registries-conf.js';
import { isOcikitError } from '../../src/errors.js';
import { formatDockerReference } from '../../src/model/docker-reference.js';
import { platformOfChoice, rpmArch } from '../../src/resolve/arch.js';
import { parseEntries, readEntriesFile } from '../../src/resolve/entries.js';
import { nameCandidates } from '../../src/resolve/short-names.js';
import { tempDir } from '../helpers/tmp.js';

async function conf(t: Parameters<typeof tempDir>[0], text: string) {
  const dir = await tempDir(t);
  const file = join(dir, 'registries.conf');
  await writeFile(file, text);
  return loadRegistriesConf({ file, env: {}, home: dir, systemDropInDir: join(dir, 'none') });
}

const names = (c: ReturnType<typeof nameCandidates>) => c.candidates.map((r) => formatDockerReference(r));

describe('nameCandidates', () => {
  it('docker mode: docker.io and library/, as osbuild/images and skopeo docker:// normalise', () => {
    assert.deepEqual(names(nameCandidates('fedora', 'docker', undefined)), ['docker.io/library/fedora']);
    assert.deepEqual(names(nameCandidates('foo/bar:1', 'docker', undefined)), ['docker.io/foo/bar:1']);
    assert.deepEqual(names(nameCandidates(`quay.io/a/b@sha256:${'a'.repeat(64)}`, 'docker', undefined)), [
      `quay.io/a/b@sha256:${'a'.repeat(64)}`,
    ]);
  });

  it('registries-conf: an alias wins, with the tag of the input', async (t) => {
    const c = await conf(
      t,
      'unqualified-search-registries = ["a.example", "b.example"]\nshort-name-mode = "enforcing"\n[aliases]\n"fedora" = "registry.fedoraproject.org/fedora"\n',
    );
    const got = nameCandidates('fedora:41', 'registries-conf', c);
    assert.deepEqual(names(got), ['registry.fedoraproject.org/fedora:41']);
    assert.match(got.origin!, /^alias in /);
  });

  it('registries-conf: search registries in order (permissive), docker.io gets library/', async (t) => {
    const c = await conf(
      t,
      'unqualified-search-registries = ["quay.io", "docker.io"]\nshort-name-mode = "permissive"\n',
    );
    assert.deepEqual(names(nameCandidates('busybox', 'registries-conf', c)), [
      'quay.io/busybox',
      'docker.io/library/busybox',
    ]);
  });

  it('registries-conf: enforcing with one search registry uses it; with two it fails naming both', async (t) => {
    const one = await conf(t, 'unqualified-search-registries = ["quay.io"]\nshort-name-mode = "enforcing"\n');
    assert.deepEqual(names(nameCandidates('ns/app', 'registries-conf', one)), ['quay.io/ns/app']);
    const two = await conf(
      t,
      'unqualified-search-registries = ["quay.io", "docker.io"]\nshort-name-mode = "enforcing"\n',
    );
    assert.throws(
      () => nameCandidates('app', 'registries-conf', two),
      (e) => isOcikitError(e, 'INVALID_INPUT') && /ambiguous.*quay\.io\/app, docker\.io\/library\/app/.test(e.message),
    );
  });

  it('registries-conf: no alias and no search registries fails as containers/image does', async (t) => {
    const c = await conf(t, '');
    assert.throws(
      () => nameCandidates('app', 'registries-conf', c),
      (e) =>
        isOcikitError(e, 'INVALID_INPUT') &&
        /did not resolve to an alias and no unqualified-search registries/.test(e.message),
    );
  });

  it('registries-conf: qualified names (a dot, a port, localhost) are taken as they are', async (t) => {
    const c = await conf(
      t,
      'unqualified-search-registries = ["quay.io", "docker.io"]\nshort-name-mode = "enforcing"\n',
    );
    assert.deepEqual(names(nameCandidates('localhost/app', 'registries-conf', c)), ['localhost/app']);
    assert.deepEqual(names(nameCandidates('h:5000/app', 'registries-conf', c)), ['h:5000/app']);
    assert.deepEqual(names(nameCandidates('docker.io/app', 'registries-conf', c)), ['docker.io/library/app']);
  });
});

describe('platformOfChoice and rpmArch', () => {
  it('Go and RPM names, with the variants osbuild/images asks for', () => {
    assert.deepEqual(platformOfChoice({ arch: 'x86_64' }), { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(platformOfChoice({ arch: 'amd64' }), { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(platformOfChoice({ arch: 'aarch64' }), { os: 'linux', architecture: 'arm64', variant: 'v8' });
    assert.deepEqual(platformOfChoice({ arch: 'arm64' }), { os: 'linux', architecture: 'arm64' });
    assert.deepEqual(platformOfChoice({ arch: 'armhfp' }), { os: 'linux', architecture: 'arm', variant: 'v7' });
    assert.deepEqual(platformOfChoice({ arch: 'arm', variant: 'v6' }), {
      os: 'linux',
      architecture: 'arm',
      variant: 'v6',
    });
    assert.deepEqual(platformOfChoice({ arch: 's390x', os: 'linux' }), { os: 'linux', architecture: 's390x' });
    assert.throws(
      () => platformOfChoice({ arch: 'not-an-arch' }),
      (e) => isOcikitError(e, 'INVALID_INPUT'),
    );
    assert.equal(rpmArch('amd64'), 'x86_64');
    assert.equal(rpmArch('arm64'), 'aarch64');
    assert.equal(rpmArch('arm'), 'armhfp');
    assert.equal(rpmArch('ppc64le'), 'ppc64le');
  });
});

describe('entries files', () => {
  it('a whole blueprint in TOML: only [[containers]] is read', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'bp.toml');
    await writeFile(
      file,
      'name = "bp"\n[[packages]]\nname = "vim"\n[[containers]]\nsource = "quay.io/a/b:1"\n[[containers]]\nsource = "r.example/app"\nname = "localhost/app:1.2"\ntls-verify = false\nlocal-storage = true\n',
    );
    assert.deepEqual(await readEntriesFile(file), [
      { ref: 'quay.io/a/b:1', name: undefined, tlsVerify: undefined, local: undefined },
      { ref: 'r.example/app', name: 'localhost/app:1.2', tlsVerify: false, local: true },
    ]);
  });

  it('osbuild-mpp images with its defaults (name as written, index false)', () => {
    const d = `sha256:${'d'.repeat(64)}`;
    assert.deepEqual(
      parseEntries(
        {
          images: [
            { source: 'registry.gitlab.com/x/manifest-list-test', name: 'manifest-list-test', index: true },
            { source: 'r.example/centos-bootc-dev', tag: 'stream9' },
            { source: 'r.example/p', digest: d, arch: 'aarch64', 'containers-transport': 'containers-storage' },
          ],
        },
        'mpp.json',
      ),
      [
        {
          ref: 'registry.gitlab.com/x/manifest-list-test',
          name: 'manifest-list-test',
          list: true,
          arch: undefined,
          os: undefined,
          variant: undefined,
        },
        {
          ref: 'r.example/centos-bootc-dev:stream9',
          name: 'r.example/centos-bootc-dev:stream9',
          list: false,
          arch: undefined,
          os: undefined,
          variant: undefined,
        },
        {
          ref: `r.example/p@${d}`,
          name: 'r.example/p',
          list: false,
          arch: 'aarch64',
          os: undefined,
          variant: undefined,
          local: true,
        },
      ],
    );
  });

  it('unknown keys and bad types are refused, naming the file and entry', () => {
    assert.throws(
      () => parseEntries({ containers: [{ source: 'a/b', tag: 'x' }] }, 'f.json'),
      (e) => isOcikitError(e, 'INVALID_INPUT') && e.message === 'f.json: containers[0]: unknown key "tag"',
    );
    assert.throws(
      () => parseEntries({ containers: [{ source: 'a/b', 'tls-verify': 'no' }] }, 'f.json'),
      (e) => isOcikitError(e, 'INVALID_INPUT') && /containers\[0\]\.tls-verify must be a boolean/.test(e.message),
    );
    assert.throws(
      () => parseEntries({ packages: [] }, 'f.json'),
      (e) => isOcikitError(e, 'INVALID_INPUT'),
    );
  });
});
