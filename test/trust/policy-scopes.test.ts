/**
 * Policy identities and namespace order per transport (containers/image 5.23
 * `docker/policyconfiguration/naming.go`, `storage/storage_reference.go`, the dir and OCI
 * transports), and the choice of requirements: identity, namespaces, the transport's "", default.
 */
import assert from 'node:assert/strict';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseDockerReference } from '../../src/model/docker-reference.js';
import { requirementsFor, scopeLabel } from '../../src/trust/evaluate.js';
import { parsePolicy } from '../../src/trust/policy-parse.js';
import {
  dockerPolicyIdentity,
  goClean,
  pathPolicyIdentity,
  resolvePolicyPath,
  storagePolicyIdentity,
} from '../../src/trust/policy-scopes.js';
import { tempDir } from '../helpers/tmp.js';

const D = `sha256:${'a'.repeat(64)}`;
const ID = 'b'.repeat(64);

describe('docker policy identity', () => {
  const table: [string, string, string[]][] = [
    [
      `registry.example.com:5000/ns/sub/repo@${D}`,
      `registry.example.com:5000/ns/sub/repo@${D}`,
      [
        'registry.example.com:5000/ns/sub/repo',
        'registry.example.com:5000/ns/sub',
        'registry.example.com:5000/ns',
        'registry.example.com:5000',
        '*.example.com',
        '*.com',
      ],
    ],
    [
      'busybox',
      'docker.io/library/busybox:latest',
      ['docker.io/library/busybox', 'docker.io/library', 'docker.io', '*.io'],
    ],
    ['quay.io/a/b:v1', 'quay.io/a/b:v1', ['quay.io/a/b', 'quay.io/a', 'quay.io', '*.io']],
    ['localhost:5000/x:t', 'localhost:5000/x:t', ['localhost:5000/x', 'localhost:5000']],
    [
      `127.0.0.1:39265/ns/repo@${D}`,
      `127.0.0.1:39265/ns/repo@${D}`,
      ['127.0.0.1:39265/ns/repo', '127.0.0.1:39265/ns', '127.0.0.1:39265', '*.0.0.1', '*.0.1', '*.1'],
    ],
  ];
  for (const [ref, identity, namespaces] of table) {
    it(ref, () => {
      const id = dockerPolicyIdentity(parseDockerReference(ref));
      assert.equal(id.transport, 'docker');
      assert.equal(id.identity, identity);
      assert.deepEqual(id.namespaces, namespaces);
      assert.ok(id.reference);
    });
  }
  it('refuses a reference with a tag and a digest, as the docker transport does', () => {
    assert.throws(() => dockerPolicyIdentity(parseDockerReference(`quay.io/a:t@${D}`)), /both a tag and a digest/);
  });
});

describe('containers-storage policy identity', () => {
  it('name@id: the name without the ID, the repository, parents, the store and the bare graph root', () => {
    const id = storagePolicyIdentity({
      driver: 'overlay',
      graphroot: '/var/lib/containers/storage',
      reference: parseDockerReference('quay.io/ns/app:v1'),
      id: ID,
    });
    const s = '[overlay@/var/lib/containers/storage]';
    assert.equal(id.identity, `${s}quay.io/ns/app:v1@${ID}`);
    assert.deepEqual(id.namespaces, [
      `${s}quay.io/ns/app:v1`,
      `${s}quay.io/ns/app`,
      `${s}quay.io/ns`,
      `${s}quay.io`,
      s,
      '[/var/lib/containers/storage]',
    ]);
  });
  it('name:tag@digest adds the name:tag namespace; a bare name gets :latest; an ID alone', () => {
    const both = storagePolicyIdentity({
      driver: 'vfs',
      graphroot: '/s',
      reference: parseDockerReference(`a/b:t@${D}`),
    });
    assert.equal(both.identity, `[vfs@/s]docker.io/a/b:t@${D}`);
    assert.deepEqual(both.namespaces.slice(0, 2), ['[vfs@/s]docker.io/a/b:t', '[vfs@/s]docker.io/a/b']);
    const bare = storagePolicyIdentity({ driver: 'vfs', graphroot: '/s', reference: parseDockerReference('fedora') });
    assert.equal(bare.identity, '[vfs@/s]docker.io/library/fedora:latest');
    const idOnly = storagePolicyIdentity({ driver: 'vfs', graphroot: '/s', id: ID });
    assert.equal(idOnly.identity, `[vfs@/s]@${ID}`);
    assert.deepEqual(idOnly.namespaces, ['[vfs@/s]', '[/s]']);
    assert.equal(idOnly.reference, null);
  });
});

describe('path policy identities', () => {
  it('dir: parents only; oci and oci-archive: the path itself, then parents; never "/"', () => {
    assert.deepEqual(pathPolicyIdentity('dir', '/a/b/c').namespaces, ['/a/b', '/a']);
    assert.deepEqual(pathPolicyIdentity('oci', '/a/b/c').namespaces, ['/a/b/c', '/a/b', '/a']);
    assert.deepEqual(pathPolicyIdentity('oci-archive', '/a.tar').namespaces, ['/a.tar']);
    assert.equal(pathPolicyIdentity('dir', '/a').reference, null);
  });
  it('resolvePolicyPath resolves symlinks, and a missing last component against its parent', async (t) => {
    const dir = await tempDir(t);
    await mkdir(join(dir, 'real'));
    await symlink(join(dir, 'real'), join(dir, 'link'));
    const real = await resolvePolicyPath(join(dir, 'real'));
    assert.equal(await resolvePolicyPath('link', { cwd: dir }), real);
    assert.equal(await resolvePolicyPath(join(dir, 'link', 'new')), join(real, 'new'));
    await assert.rejects(resolvePolicyPath(join(dir, 'missing', 'new')), { code: 'IO' });
  });
  it('goClean is Go filepath.Clean', () => {
    const table: [string, string][] = [
      ['', '.'],
      ['/', '/'],
      ['/a/', '/a'],
      ['//a//b', '/a/b'],
      ['/a/./b/../c', '/a/c'],
      ['/../a', '/a'],
      ['a/../..', '..'],
    ];
    for (const [p, want] of table) assert.equal(goClean(p), want, p);
  });
});

describe('requirementsFor: the most specific scope wins', () => {
  const A = '{"type":"insecureAcceptAnything"}';
  const scopes = [
    `127.0.0.1:5000/ns/repo@${D}`,
    '127.0.0.1:5000/ns/repo',
    '127.0.0.1:5000/ns',
    '127.0.0.1:5000',
    '*.0.0.1',
    '*.1',
    '',
  ];
  const id = dockerPolicyIdentity(parseDockerReference(`127.0.0.1:5000/ns/repo@${D}`));
  for (let i = 0; i <= scopes.length; i++) {
    const present = scopes.slice(i);
    const want = present[0];
    it(`with scopes from ${JSON.stringify(want ?? 'default')} on`, () => {
      // Every scope holds a list of i+1 requirements so that the chosen one can be told apart.
      const entries = present.map(
        (s, k) =>
          `${JSON.stringify(s)}:[${Array(i + k + 1)
            .fill(A)
            .join(',')}]`,
      );
      const p = parsePolicy(
        Buffer.from(`{"default":[{"type":"reject"}],"transports":{"docker":{${entries.join(',')}}}}`),
        null,
      );
      const r = requirementsFor(p, id);
      if (want === undefined) {
        assert.equal(scopeLabel(r.scope), 'default');
        assert.equal(r.requirements[0]?.type, 'reject');
      } else {
        assert.equal(scopeLabel(r.scope), `transports.docker[${JSON.stringify(want)}]`);
        assert.equal(r.requirements.length, i + 1);
      }
    });
  }
  it('a tag scope does not apply to a digest reference, nor a host without its port', () => {
    const p = parsePolicy(
      Buffer.from(
        `{"default":[${A}],"transports":{"docker":{"127.0.0.1:5000/ns/repo:v1":[{"type":"reject"}],"127.0.0.1":[{"type":"reject"}]}}}`,
      ),
      null,
    );
    assert.equal(requirementsFor(p, id).scope.transport, null);
  });
  it("another transport's scopes do not apply", () => {
    const p = parsePolicy(Buffer.from(`{"default":[${A}],"transports":{"atomic":{"":[{"type":"reject"}]}}}`), null);
    assert.equal(requirementsFor(p, id).requirements[0]?.type, 'insecureAcceptAnything');
  });
});
