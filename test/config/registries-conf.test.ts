/**
 * Tests for src/config/registries-conf.ts and registries-file.ts: which files are read (per-user
 * file, system file, drop-ins, an explicit file), how they merge, the v1 format, and the
 * validation of containers/image 5.23 `postProcessRegistries`, on injected paths (never /etc).
 */
import * as assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { loadRegistriesConf, registriesConfLookup } from '../../src/config/registries-conf.js';
import { isOcikitError } from '../../src/errors.js';
import { tempDir } from '../helpers/tmp.js';

/** A fake host: HOME and a system directory under one temp dir, files written from a map. */
async function host(t: TestContext, files: Record<string, string>) {
  const root = await tempDir(t);
  const home = join(root, 'home');
  const sys = join(root, 'etc');
  for (const [rel, text] of Object.entries(files)) {
    const p = join(root, rel);
    await mkdir(join(p, '..'), { recursive: true });
    await writeFile(p, text);
  }
  const opts = {
    env: { HOME: home },
    systemFile: join(sys, 'registries.conf'),
    systemDropInDir: join(sys, 'registries.conf.d'),
  };
  return { root, home, sys, opts, user: join(home, '.config/containers') };
}

async function configError(p: Promise<unknown>, ...inMessage: string[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isOcikitError(e, 'CONFIG'), String(e));
    for (const s of inMessage) assert.ok((e as Error).message.includes(s), `${(e as Error).message} lacks ${s}`);
    return true;
  });
}

const reg = (prefix: string, extra = '') => `[[registry]]\nprefix = "${prefix}"\nlocation = "${prefix}"\n${extra}\n`;

describe('registries.conf lookup', () => {
  it('reads the system file and both drop-in directories, system first, *.conf only, in name order', async (t) => {
    const h = await host(t, {
      'etc/registries.conf': reg('a.example'),
      'etc/registries.conf.d/20-b.conf': reg('b.example'),
      'etc/registries.conf.d/10-c.conf': reg('c.example'),
      'etc/registries.conf.d/ignored.txt': 'not toml [[[',
      'etc/registries.conf.d/sub/x.conf': 'not toml [[[',
      'home/.config/containers/registries.conf.d/00-d.conf': reg('d.example'),
    });
    const conf = await loadRegistriesConf(h.opts);
    assert.deepEqual(conf.files, [
      join(h.sys, 'registries.conf'),
      join(h.sys, 'registries.conf.d/10-c.conf'),
      join(h.sys, 'registries.conf.d/20-b.conf'),
      join(h.user, 'registries.conf.d/00-d.conf'),
    ]);
    assert.deepEqual(
      conf.registries.map((r) => r.prefix),
      ['a.example', 'b.example', 'c.example', 'd.example'],
    );
  });

  it('a per-user file replaces the system file and the system drop-ins', async (t) => {
    const h = await host(t, {
      'etc/registries.conf': reg('sys.example'),
      'etc/registries.conf.d/x.conf': reg('sysdrop.example'),
      'home/.config/containers/registries.conf': reg('user.example'),
      'home/.config/containers/registries.conf.d/y.conf': reg('userdrop.example'),
    });
    const conf = await loadRegistriesConf(h.opts);
    assert.deepEqual(
      conf.registries.map((r) => r.prefix),
      ['user.example', 'userdrop.example'],
    );
    assert.deepEqual(conf.lookup.dropInDirs, [join(h.user, 'registries.conf.d')]);
  });

  it('uses $HOME, not XDG_CONFIG_HOME', async (t) => {
    const h = await host(t, {
      'xdg/containers/registries.conf': reg('xdg.example'),
      'etc/registries.conf': reg('sys.example'),
    });
    const env = { HOME: h.home, XDG_CONFIG_HOME: join(h.root, 'xdg') };
    const conf = await loadRegistriesConf({ ...h.opts, env });
    assert.deepEqual(
      conf.registries.map((r) => r.prefix),
      ['sys.example'],
    );
  });

  it('takes $CONTAINERS_REGISTRIES_CONF, else $REGISTRIES_CONFIG_PATH, as the main file (as podman); an explicit file wins', async (t) => {
    const h = await host(t, {
      'home/.config/containers/registries.conf': reg('user.example'),
      'named.conf': reg('named.example'),
      'old.conf': reg('old.example'),
      'explicit.conf': reg('explicit.example'),
    });
    const prefixes = async (env: Record<string, string>, file?: string) =>
      (await loadRegistriesConf({ ...h.opts, env: { HOME: h.home, ...env }, file })).registries.map((r) => r.prefix);
    const named = join(h.root, 'named.conf');
    const old = join(h.root, 'old.conf');
    assert.deepEqual(await prefixes({ CONTAINERS_REGISTRIES_CONF: named, REGISTRIES_CONFIG_PATH: old }), [
      'named.example',
    ]);
    assert.deepEqual(await prefixes({ REGISTRIES_CONFIG_PATH: old }), ['old.example']);
    assert.deepEqual(await prefixes({ CONTAINERS_REGISTRIES_CONF: '' }), ['user.example']);
    assert.deepEqual(await prefixes({ CONTAINERS_REGISTRIES_CONF: named }, join(h.root, 'explicit.conf')), [
      'explicit.example',
    ]);
    await assert.rejects(
      loadRegistriesConf({
        ...h.opts,
        env: { HOME: h.home, CONTAINERS_REGISTRIES_CONF: join(h.root, 'missing.conf') },
      }),
      {
        code: 'CONFIG',
      },
    );
  });

  it('an explicit file replaces the main file only; both drop-in directories are still read', async (t) => {
    const h = await host(t, {
      'explicit.conf': reg('explicit.example'),
      'home/.config/containers/registries.conf': reg('user.example'),
      'etc/registries.conf.d/x.conf': reg('sysdrop.example'),
      'home/.config/containers/registries.conf.d/y.conf': reg('userdrop.example'),
    });
    const conf = await loadRegistriesConf({ ...h.opts, file: join(h.root, 'explicit.conf') });
    assert.deepEqual(
      conf.registries.map((r) => r.prefix),
      ['explicit.example', 'sysdrop.example', 'userdrop.example'],
    );
  });

  it('a missing explicit file is CONFIG; a missing implicit one is an empty configuration', async (t) => {
    const h = await host(t, {});
    await configError(
      loadRegistriesConf({ ...h.opts, file: join(h.root, 'nope.conf') }),
      'nope.conf',
      'does not exist',
    );
    const conf = await loadRegistriesConf(h.opts);
    assert.deepEqual(conf.files, []);
    assert.deepEqual(conf.registries, []);
    assert.deepEqual(conf.credentialHelpers, ['containers-auth.json']);
    assert.equal(conf.shortNameMode, 'permissive');
  });

  it('a symlinked drop-in directory is not walked (Go filepath.WalkDir), a symlinked file is read', async (t) => {
    const h = await host(t, { 'elsewhere/a.conf': reg('a.example'), 'etc/registries.conf.d/.keep': '' });
    await symlink(join(h.root, 'elsewhere/a.conf'), join(h.sys, 'registries.conf.d/a.conf'));
    await mkdir(h.user, { recursive: true });
    await symlink(join(h.root, 'elsewhere'), join(h.user, 'registries.conf.d'));
    const conf = await loadRegistriesConf(h.opts);
    assert.deepEqual(conf.files, [join(h.sys, 'registries.conf.d/a.conf')]);
  });

  it('the lookup says which files it would read', async (t) => {
    const h = await host(t, {});
    const l = await registriesConfLookup(h.opts);
    assert.equal(l.file, join(h.sys, 'registries.conf'));
    assert.equal(l.explicit, false);
  });
});

describe('registries.conf merging', () => {
  it('a later file replaces an entry with the same prefix whole, and the scalar settings it sets', async (t) => {
    const h = await host(t, {
      'etc/registries.conf': [
        'unqualified-search-registries = ["a.example"]',
        'credential-helpers = ["pass"]',
        'short-name-mode = "enforcing"',
        '[aliases]\n"x" = "a.example/x"\n"y" = "a.example/y"',
        reg('a.example', 'insecure = true\n[[registry.mirror]]\nlocation = "m.example"'),
      ].join('\n'),
      'etc/registries.conf.d/1.conf': [
        'unqualified-search-registries = []',
        '[aliases]\n"y" = "b.example/y"\n"z" = ""',
        reg('a.example', 'blocked = true'),
      ].join('\n'),
    });
    const conf = await loadRegistriesConf(h.opts);
    const a = conf.registries[0]!;
    assert.equal(a.blocked, true);
    assert.equal(a.insecure, false);
    assert.deepEqual(a.mirrors, []);
    assert.equal(a.file, join(h.sys, 'registries.conf.d/1.conf'));
    assert.deepEqual(conf.unqualifiedSearchRegistries, []);
    assert.equal(conf.unqualifiedSearchRegistriesFile, join(h.sys, 'registries.conf.d/1.conf'));
    assert.deepEqual(conf.credentialHelpers, ['pass']);
    assert.equal(conf.shortNameMode, 'enforcing');
    assert.equal(conf.aliases.get('x')?.value?.domain, 'a.example');
    assert.equal(conf.aliases.get('y')?.value?.domain, 'b.example');
    assert.equal(conf.aliases.get('z')?.value, null);
  });

  it('within one file the first entry of a prefix wins; entries are sorted by prefix', async (t) => {
    const h = await host(t, {
      'etc/registries.conf': `${reg('b.example', 'insecure = true')}${reg('a.example')}${reg('b.example', 'insecure = true\nmirror-by-digest-only = true')}`,
    });
    const conf = await loadRegistriesConf(h.opts);
    assert.deepEqual(
      conf.registries.map((r) => [r.prefix, r.mirrorByDigestOnly]),
      [
        ['a.example', false],
        ['b.example', false],
      ],
    );
  });
});

describe('registries.conf v1 format', () => {
  it('[registries.block] and [registries.insecure] become entries, [registries.search] the search list', async (t) => {
    const h = await host(t, {
      'etc/registries.conf': [
        '[registries.search]\nregistries = ["s.example"]',
        '[registries.insecure]\nregistries = ["i.example", "b.example/"]',
        '[registries.block]\nregistries = ["b.example"]',
      ].join('\n'),
    });
    const conf = await loadRegistriesConf(h.opts);
    assert.deepEqual(
      conf.registries.map((r) => [r.prefix, r.location, r.insecure, r.blocked, r.format]),
      [
        ['b.example', 'b.example', true, true, 'v1'],
        ['i.example', 'i.example', true, false, 'v1'],
      ],
    );
    assert.deepEqual(conf.unqualifiedSearchRegistries, ['s.example']);
  });

  it('mixing v1 and v2 in one file, or v1 in a drop-in, is CONFIG naming the file', async (t) => {
    const h = await host(t, {
      'etc/registries.conf': `[registries.block]\nregistries = ["b.example"]\n${reg('a.example')}`,
      'drop/registries.conf.d/v1.conf': '[registries.block]\nregistries = ["b.example"]\n',
    });
    await configError(loadRegistriesConf(h.opts), join(h.sys, 'registries.conf'), 'mixing sysregistry v1/v2');
    await configError(
      loadRegistriesConf({
        ...h.opts,
        systemFile: join(h.root, 'none'),
        systemDropInDir: join(h.root, 'drop/registries.conf.d'),
      }),
      'v1.conf',
      'must be in v2 format',
    );
  });

  it('empty v1 lists are not v1 content', async (t) => {
    const h = await host(t, { 'etc/registries.conf': `[registries.search]\nregistries = []\n${reg('a.example')}` });
    assert.equal((await loadRegistriesConf(h.opts)).registries.length, 1);
  });
});

describe('registries.conf validation (containers/image postProcessRegistries)', () => {
  const cases: [string, string, string[]][] = [
    [
      'location and prefix unset',
      '[[registry]]\ninsecure = true\n',
      ['[[registry]] 1', 'both location and prefix are unset'],
    ],
    ['a URI scheme', '[[registry]]\nlocation = "https://a.example"\n', ['URI schemes are not supported']],
    ['a URI scheme in the prefix', '[[registry]]\nprefix = "http://a"\nlocation = "a"\n', ['URI schemes']],
    ['no location for a plain prefix', '[[registry]]\nprefix = "a.example"\n', ['location is unset']],
    [
      'a wildcard with a path',
      '[[registry]]\nprefix = "*.a.example/ns"\nlocation = "x.example"\n',
      ['Wildcarded prefix'],
    ],
    [
      'a mirror without location',
      '[[registry]]\nlocation = "a"\n[[registry.mirror]]\ninsecure = true\n',
      ['[[registry.mirror]] 1', 'mirror location is unset'],
    ],
    [
      'pull-from-mirror on a registry',
      '[[registry]]\nlocation = "a"\npull-from-mirror = "all"\n',
      ['non-mirror registry "a"'],
    ],
    [
      'an unknown pull-from-mirror',
      '[[registry]]\nlocation = "a"\n[[registry.mirror]]\nlocation = "m"\npull-from-mirror = "some"\n',
      ['unsupported pull-from-mirror value "some"'],
    ],
    [
      'pull-from-mirror with mirror-by-digest-only',
      '[[registry]]\nlocation = "a"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = "m"\npull-from-mirror = "all"\n',
      ['mirror-by-digest-only', 'at the same time'],
    ],
    [
      'conflicting insecure',
      `${reg('a.example/x', 'insecure = true').replace('location = "a.example/x"', 'location = "a.example"')}${reg('a.example')}`,
      ['conflicting "insecure"'],
    ],
    [
      'conflicting blocked',
      '[[registry]]\nprefix = "p1"\nlocation = "a"\nblocked = true\n[[registry]]\nprefix = "p2"\nlocation = "a"\n',
      ['conflicting "blocked"'],
    ],
    [
      'a bad search registry',
      'unqualified-search-registries = ["a.example/ns"]\n',
      ['Invalid unqualified-search-registries entry'],
    ],
    ['a bad short-name-mode', 'short-name-mode = "loose"\n', ['invalid short-name mode: "loose"']],
    ['an alias with a tag', '[aliases]\n"x" = "a.example/x:1"\n', ['[aliases] "x"', 'tag']],
    ['an alias without registry', '[aliases]\n"x" = "library/x"\n', ['must contain registry']],
    ['a qualified short name', '[aliases]\n"a.example/x" = "a.example/x"\n', ['invalid short name']],
    ['a wrong type', '[[registry]]\nlocation = "a"\nblocked = "yes"\n', ['[[registry]] 1 blocked must be a boolean']],
    ['a wrong array type', 'credential-helpers = "pass"\n', ['credential-helpers must be an array of strings']],
    ['a table for [[registry]]', '[registry]\nlocation = "a"\n', ['registry must be an array of tables']],
    ['two keys differing in case', '[[registry]]\nlocation = "a"\nLocation = "b"\n', ['"location" and "Location"']],
    ['broken TOML', '[[registry]\n', ['line 1', 'invalid TOML']],
  ];
  for (const [name, text, wants] of cases) {
    it(`refuses ${name}`, async (t) => {
      const h = await host(t, { 'etc/registries.conf': text });
      await configError(loadRegistriesConf(h.opts), join(h.sys, 'registries.conf'), ...wants);
    });
  }

  it('accepts a wildcard prefix without location, keys in any case, unknown keys, trailing slashes', async (t) => {
    const h = await host(t, {
      'etc/registries.conf':
        '[[Registry]]\nPrefix = "*.a.example"\n[[Registry]]\nlocation = "b.example/ns/"\nunknown = 1\nBLOCKED = true\n',
    });
    const conf = await loadRegistriesConf(h.opts);
    assert.deepEqual(
      conf.registries.map((r) => [r.prefix, r.location, r.blocked]),
      [
        ['*.a.example', '', false],
        ['b.example/ns', 'b.example/ns', true],
      ],
    );
  });

  it('the same location with equal settings under two prefixes is fine', async (t) => {
    const h = await host(t, {
      'etc/registries.conf':
        '[[registry]]\nprefix = "p1"\nlocation = "a"\ninsecure = true\n[[registry]]\nprefix = "p2"\nlocation = "a"\ninsecure = true\n',
    });
    assert.equal((await loadRegistriesConf(h.opts)).registries.length, 2);
  });
});
