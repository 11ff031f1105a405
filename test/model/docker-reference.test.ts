import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDockerReference, parseDockerReference, registryApiHost } from '../../src/model/docker-reference.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseDockerReference', () => {
  const good: [string, string, string, string | undefined][] = [
    // input, domain, path, tag
    ['fedora', 'docker.io', 'library/fedora', undefined],
    ['fedora:39', 'docker.io', 'library/fedora', '39'],
    ['library/fedora', 'docker.io', 'library/fedora', undefined],
    ['user/app', 'docker.io', 'user/app', undefined],
    ['docker.io/fedora', 'docker.io', 'library/fedora', undefined],
    ['index.docker.io/fedora', 'docker.io', 'library/fedora', undefined],
    ['quay.io/centos-bootc/centos-bootc:stream9', 'quay.io', 'centos-bootc/centos-bootc', 'stream9'],
    ['localhost/x', 'localhost', 'x', undefined],
    ['localhost:5000/a/b', 'localhost:5000', 'a/b', undefined],
    ['127.0.0.1:5000/osbuild/hello', '127.0.0.1:5000', 'osbuild/hello', undefined],
    ['Registry/x', 'Registry', 'x', undefined],
    ['[::1]:5000/x', '[::1]:5000', 'x', undefined],
    ['a/b__c/d-e.f--g', 'docker.io', 'a/b__c/d-e.f--g', undefined],
  ];
  for (const [input, domain, path, tag] of good) {
    it(`normalises ${input}`, () => {
      const r = parseDockerReference(input);
      assert.equal(r.domain, domain);
      assert.equal(r.path, path);
      assert.equal(r.tag, tag);
    });
  }

  it('keeps a digest and a tag together', () => {
    const r = parseDockerReference(`quay.io/a/b:1@${D}`);
    assert.equal(r.tag, '1');
    assert.equal(r.digest, D);
    assert.equal(formatDockerReference(r), `quay.io/a/b:1@${D}`);
  });

  const bad: [string, unknown][] = [
    ['uppercase path', 'docker.io/Fedora'],
    ['uppercase single name', 'Fedora'],
    ['empty', ''],
    ['not a string', 42],
    ['bad digest', 'fedora@sha256:xyz'],
    ['sha512 digest', `fedora@sha512:${'a'.repeat(128)}`],
    ['bad tag', 'fedora:-x'],
    ['a 64-hex image ID', 'a'.repeat(64)],
    ['double slash', 'quay.io//x'],
    ['trailing separator', 'quay.io/x-'],
    ['bad domain', '-bad.io/x'],
    ['too long', `quay.io/${'a'.repeat(260)}`],
    ['space', 'quay.io/a b'],
  ];
  for (const [why, input] of bad) {
    it(`refuses ${why}`, () => {
      assert.throws(() => parseDockerReference(input), { code: 'INVALID_INPUT' });
    });
  }
});

describe('formatDockerReference', () => {
  it('writes the canonical form', () => {
    assert.equal(formatDockerReference(parseDockerReference('fedora')), 'docker.io/library/fedora');
  });
});

describe('registryApiHost', () => {
  it('maps docker.io to its API host and leaves others', () => {
    assert.equal(registryApiHost('docker.io'), 'registry-1.docker.io');
    assert.equal(registryApiHost('quay.io'), 'quay.io');
    assert.equal(registryApiHost('127.0.0.1:5000'), '127.0.0.1:5000');
  });
});
