/**
 * Tests for src/config/registries-match.ts and the plan of src/registry/endpoints.ts: prefix
 * matching (tables after containers/image 5.23 `system_registries_v2_test.go`: the `:`, `/`, `@`
 * boundary quirk, `*.` wildcards), the longest prefix, pull sources and rewriting, and blocked or
 * insecure endpoints.
 */
import * as assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { loadRegistriesConf } from '../../src/config/registries-conf.js';
import { findRegistry, pullSources, refMatchingPrefix } from '../../src/config/registries-match.js';
import { formatDockerReference, parseDockerReference } from '../../src/model/docker-reference.js';
import { planEndpoints } from '../../src/registry/endpoints.js';
import { isOcikitError } from '../../src/errors.js';
import { tempDir } from '../helpers/tmp.js';

const D = `sha256:${'a'.repeat(64)}`;

async function confFrom(t: TestContext, text: string) {
  const root = await tempDir(t);
  await writeFile(join(root, 'registries.conf'), text);
  const opts = {
    env: { HOME: join(root, 'home') },
    registriesConf: join(root, 'registries.conf'),
    systemRegistriesConfDir: join(root, 'none'),
  };
  const conf = await loadRegistriesConf({
    env: opts.env,
    file: opts.registriesConf,
    systemDropInDir: opts.systemRegistriesConfDir,
  });
  return { conf, opts, file: opts.registriesConf };
}

describe('refMatchingPrefix', () => {
  const table: [string, string, number][] = [
    ['example.com', 'example.com', 11],
    ['example.com/foo', 'example.com', 11],
    ['example.com:5000/foo', 'example.com', 11], // the quirk containers/image keeps
    ['example.com@sha256:00', 'example.com', 11],
    ['example.community/foo', 'example.com', -1],
    ['example.co', 'example.com', -1],
    ['example.com/foo', 'example.com/foo', 15],
    ['example.com/foobar', 'example.com/foo', -1],
    ['example.com/foo/bar:tag', 'example.com/foo', 15],
    ['sub.example.com/foo', '*.example.com', 15],
    ['a.b.example.com', '*.example.com', 15],
    ['a.b.example.com:5000/x', '*.example.com', 17 - 2],
    ['example.com/foo', '*.example.com', -1],
    ['other.com/x.example.com', '*.example.com', -1],
    ['sub.example.community/x', '*.example.com', -1],
    ['sub.example.com.evil/x', '*.example.com', -1],
  ];
  for (const [ref, prefix, want] of table) {
    it(`${ref} against ${prefix} → ${want}`, () => assert.equal(refMatchingPrefix(ref, prefix), want));
  }
});

describe('findRegistry', () => {
  it('takes the longest matching prefix; on a tie, the first in sorted order (the wildcard)', async (t) => {
    const { conf } = await confFrom(
      t,
      [
        '[[registry]]\nlocation = "a.example.com"',
        '[[registry]]\nprefix = "*.example.com"',
        '[[registry]]\nlocation = "a.example.com/ns"',
      ].join('\n'),
    );
    assert.equal(findRegistry(conf.registries, 'a.example.com/ns/x')?.prefix, 'a.example.com/ns');
    assert.equal(findRegistry(conf.registries, 'a.example.com/other')?.prefix, '*.example.com');
    assert.equal(findRegistry(conf.registries, 'b.example.com/x')?.prefix, '*.example.com');
    assert.equal(findRegistry(conf.registries, 'example.com/x'), undefined);
  });
});

describe('pullSources', () => {
  const conf = `
[[registry]]
prefix = "primary.example/ns"
location = "real.example:5000/other"
[[registry.mirror]]
location = "m1.example"
[[registry.mirror]]
location = "m2.example/deep"
pull-from-mirror = "digest-only"
insecure = true
[[registry.mirror]]
location = "m3.example"
pull-from-mirror = "tag-only"
[[registry]]
location = "dig.example"
mirror-by-digest-only = true
[[registry.mirror]]
location = "dm.example"
[[registry]]
prefix = "*.wild.example"
[[registry.mirror]]
location = "wm.example/w"
[[registry]]
prefix = "hub.example"
location = "docker.io"
`;
  const cases: [string, string[]][] = [
    [
      `primary.example/ns/repo@${D}`,
      [`m1.example/repo@${D}`, `m2.example/deep/repo@${D}`, `real.example:5000/other/repo@${D}`],
    ],
    ['primary.example/ns/repo:1', ['m1.example/repo:1', 'm3.example/repo:1', 'real.example:5000/other/repo:1']],
    [`dig.example/x@${D}`, [`dm.example/x@${D}`, `dig.example/x@${D}`]],
    ['dig.example/x:t', ['dig.example/x:t']],
    [`a.wild.example/x@${D}`, [`wm.example/w/x@${D}`, `a.wild.example/x@${D}`]],
    [`other.example/x@${D}`, [`other.example/x@${D}`]],
  ];
  for (const [ref, want] of cases) {
    it(`${ref} → ${want.join(', ')}`, async (t) => {
      const { conf: c } = await confFrom(t, conf);
      const r = parseDockerReference(ref);
      const got = pullSources(findRegistry(c.registries, `${r.domain}/${r.path}`), r);
      assert.deepEqual(
        got.map((s) => formatDockerReference(s.ref)),
        want,
      );
      assert.deepEqual(
        got.map((s) => s.mirror),
        want.map((_, i) => i < want.length - 1),
      );
    });
  }

  it('a rewrite that is not canonical is CONFIG naming the entry', async (t) => {
    const { conf: c, file } = await confFrom(t, conf);
    const r = parseDockerReference('hub.example/busybox:1'); // → docker.io/busybox, which means docker.io/library/busybox
    assert.throws(
      () => pullSources(findRegistry(c.registries, `${r.domain}/${r.path}`), r),
      (e: unknown) =>
        isOcikitError(e, 'CONFIG') &&
        (e as Error).message.includes(`[[registry]] prefix "hub.example" in ${file}`) &&
        (e as Error).message.includes('not canonical'),
    );
  });
});

describe('planEndpoints', () => {
  it('per endpoint: the rewritten reference, TLS from the endpoint’s own insecure, blocked by the endpoint’s own entry', async (t) => {
    const { opts, file } = await confFrom(
      t,
      `
[[registry]]
prefix = "primary.example"
location = "127.0.0.1:5000"
blocked = true
insecure = true
[[registry.mirror]]
location = "127.0.0.1:5001"
[[registry.mirror]]
location = "127.0.0.1:5002"
[[registry]]
location = "127.0.0.1:5001"
blocked = true
insecure = true
`,
    );
    const plan = await planEndpoints(parseDockerReference(`primary.example/ns/repo@${D}`), opts);
    assert.deepEqual(plan.files, [file]);
    assert.deepEqual(plan.entry, {
      prefix: 'primary.example',
      location: '127.0.0.1:5000',
      file,
      description: `[[registry]] prefix "primary.example" in ${file}`,
    });
    assert.deepEqual(
      plan.endpoints.map((e) => [
        formatDockerReference(e.ref),
        e.mirror,
        e.location.tlsVerify,
        e.blocked?.prefix ?? null,
      ]),
      [
        // The mirror's own insecure (false) decides, not its own entry's (true); its own entry blocks it.
        [`127.0.0.1:5001/ns/repo@${D}`, true, true, '127.0.0.1:5001'],
        [`127.0.0.1:5002/ns/repo@${D}`, true, true, null],
        // The primary entry is blocked, but the endpoint's reference (127.0.0.1:5000/…) matches no entry.
        [`127.0.0.1:5000/ns/repo@${D}`, false, false, null],
      ],
    );
    assert.equal(plan.endpoints[2]!.location.host, '127.0.0.1:5000');
    assert.equal(plan.endpoints[2]!.location.path, 'ns/repo');
    const explicit = await planEndpoints(parseDockerReference(`primary.example/ns/repo@${D}`), {
      ...opts,
      tlsVerify: true,
    });
    assert.equal(explicit.endpoints[2]!.location.tlsVerify, true, 'an explicit tls-verify overrides insecure');
  });

  it('no registries.conf: the primary only, verified', async (t) => {
    const root = await tempDir(t);
    await mkdir(join(root, 'home'));
    const plan = await planEndpoints(parseDockerReference('quay.io/x/y'), {
      env: { HOME: join(root, 'home') },
      systemRegistriesConf: join(root, 'none.conf'),
      systemRegistriesConfDir: join(root, 'none.d'),
    });
    assert.deepEqual(plan.files, []);
    assert.equal(plan.entry, null);
    assert.equal(plan.endpoints.length, 1);
    assert.equal(plan.endpoints[0]!.location.tlsVerify, true);
    assert.equal(plan.endpoints[0]!.blocked, null);
  });
});
