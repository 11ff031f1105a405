/** Tests for src/registry/transport/challenge.ts: `WWW-Authenticate` parsing. */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseChallenges } from '../../../src/registry/transport/challenge.js';

describe('parseChallenges', () => {
  it('parses a bearer challenge with quoted parameters', () => {
    assert.deepEqual(
      parseChallenges(
        'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"',
      ),
      [
        {
          scheme: 'bearer',
          params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull' },
        },
      ],
    );
  });
  it('parses several challenges and unquoted values', () => {
    assert.deepEqual(parseChallenges(['Basic realm="Registry Realm"', 'Bearer realm=https://t/x, service=s']), [
      { scheme: 'basic', params: { realm: 'Registry Realm' } },
      { scheme: 'bearer', params: { realm: 'https://t/x', service: 's' } },
    ]);
    assert.deepEqual(
      parseChallenges('Basic realm="a", Bearer realm="b"').map((c) => c.scheme),
      ['basic', 'bearer'],
    );
  });
  it('unescapes quoted pairs and lowercases names', () => {
    assert.deepEqual(parseChallenges('BEARER Realm="a\\"b"'), [{ scheme: 'bearer', params: { realm: 'a"b' } }]);
  });
  it('returns nothing for an absent header', () => {
    assert.deepEqual(parseChallenges(undefined), []);
  });
});
