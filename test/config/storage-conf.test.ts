/**
 * Tests for src/config/storage-conf.ts and `ocikit storage-conf`: the classic containers-storage.conf(5)
 * lookup (on injected paths, never the real /etc), the defaults for commented-out keys, typed
 * errors, and one cross-check with real skopeo.
 */
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, writeFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  STORAGE_DEFAULTS,
  SYSTEM_STORAGE_CONF_PATHS,
  expandEnv,
  parseStorageConf,
  readStorageConf,
  storageConfLookup,
} from '../../src/config/storage-conf.js';
import { isOcikitError, type ErrorCode } from '../../src/errors.js';
import { main } from '../../src/cli/main.js';
import type { CliContext } from '../../src/cli/command.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';
import { makeDirImage } from '../helpers/images.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/upstream/containers-storage/', import.meta.url));
const NEW_CONF = join(FIXTURES, 'storage.conf'); // containers-common ≥ 0.68: keys commented out
const CLASSIC_CONF = join(FIXTURES, 'storage.conf.v1.62.0');
const BIN = fileURLToPath(new URL('../../../bin/ocikit', import.meta.url));

/** A storage.conf whose graphroot names it, so a test can tell which file was read. */
const marked = (name: string) => `[storage]\ndriver = "vfs"\ngraphroot = "/stores/${name}"\n`;

async function rejectsWith(p: Promise<unknown>, code: ErrorCode, ...inMessage: string[]): Promise<Error> {
  let caught: unknown;
  await p.then(
    () => assert.fail(`expected ${code}, got success`),
    (err: unknown) => (caught = err),
  );
  if (!isOcikitError(caught, code)) assert.fail(`expected ${code}, got ${String(caught)}`);
  for (const s of inMessage)
    assert.ok(caught.message.includes(s), `message ${JSON.stringify(caught.message)} lacks ${JSON.stringify(s)}`);
  return caught;
}

function throwsWith(fn: () => unknown, code: ErrorCode, ...inMessage: string[]): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  if (!isOcikitError(caught, code)) assert.fail(`expected ${code}, got ${String(caught)}`);
  for (const s of inMessage)
    assert.ok(caught.message.includes(s), `message ${JSON.stringify(caught.message)} lacks ${JSON.stringify(s)}`);
}

describe('storageConfLookup', () => {
  const cases: {
    name: string;
    opts: Parameters<typeof storageConfLookup>[0];
    source: 'file' | 'env' | 'search';
    paths: string[];
  }[] = [
    {
      name: 'an explicit file wins over CONTAINERS_STORAGE_CONF',
      opts: { file: '/x/explicit.conf', env: { CONTAINERS_STORAGE_CONF: '/x/env.conf' }, uid: 1000 },
      source: 'file',
      paths: ['/x/explicit.conf'],
    },
    {
      name: 'CONTAINERS_STORAGE_CONF wins over every search path',
      opts: { env: { CONTAINERS_STORAGE_CONF: '/x/env.conf', XDG_CONFIG_HOME: '/xdg' }, uid: 1000 },
      source: 'env',
      paths: ['/x/env.conf'],
    },
    {
      name: 'a relative name is resolved against cwd',
      opts: { env: { CONTAINERS_STORAGE_CONF: 'rel/s.conf' }, cwd: '/base' },
      source: 'env',
      paths: ['/base/rel/s.conf'],
    },
    {
      name: 'an empty CONTAINERS_STORAGE_CONF counts as unset',
      opts: { env: { CONTAINERS_STORAGE_CONF: '' }, uid: 0 },
      source: 'search',
      paths: [...SYSTEM_STORAGE_CONF_PATHS],
    },
    {
      name: 'root does not consult a per-user file',
      opts: { env: { XDG_CONFIG_HOME: '/xdg', HOME: '/home/u' }, uid: 0 },
      source: 'search',
      paths: ['/etc/containers/storage.conf', '/usr/share/containers/storage.conf'],
    },
    {
      name: 'a non-root user tries $XDG_CONFIG_HOME first',
      opts: { env: { XDG_CONFIG_HOME: '/xdg', HOME: '/home/u' }, uid: 1000 },
      source: 'search',
      paths: ['/xdg/containers/storage.conf', ...SYSTEM_STORAGE_CONF_PATHS],
    },
    {
      name: 'a non-root user without XDG_CONFIG_HOME tries ~/.config ($HOME)',
      opts: { env: { HOME: '/home/u' }, uid: 1000 },
      source: 'search',
      paths: ['/home/u/.config/containers/storage.conf', ...SYSTEM_STORAGE_CONF_PATHS],
    },
    {
      name: 'opts.home overrides $HOME',
      opts: { env: { HOME: '/home/u' }, home: '/elsewhere', uid: 1000 },
      source: 'search',
      paths: ['/elsewhere/.config/containers/storage.conf', ...SYSTEM_STORAGE_CONF_PATHS],
    },
    {
      name: 'systemPaths replaces the system files',
      opts: { env: {}, uid: 0, systemPaths: ['/a/storage.conf', '/b/storage.conf'] },
      source: 'search',
      paths: ['/a/storage.conf', '/b/storage.conf'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = storageConfLookup(c.opts);
      assert.equal(got.source, c.source);
      assert.deepEqual(got.paths, c.paths);
    });
  }
});

describe('readStorageConf', () => {
  /** Lays out up to four candidate files in a temp dir and returns the options pointing at them. */
  async function layout(t: import('node:test').TestContext, present: readonly ('env' | 'user' | 'etc' | 'usr')[]) {
    const root = await tempDir(t);
    const files = {
      env: join(root, 'env', 'storage.conf'),
      user: join(root, 'xdg', 'containers', 'storage.conf'),
      etc: join(root, 'etc', 'storage.conf'),
      usr: join(root, 'usr', 'storage.conf'),
    };
    for (const k of present) {
      await mkdir(join(files[k], '..'), { recursive: true });
      await writeFile(files[k], marked(k));
    }
    return { root, files, systemPaths: [files.etc, files.usr], xdg: join(root, 'xdg') };
  }

  const lookupCases: {
    name: string;
    present: ('env' | 'user' | 'etc' | 'usr')[];
    useEnv: boolean;
    uid: number;
    want: 'env' | 'user' | 'etc' | 'usr';
  }[] = [
    {
      name: 'CONTAINERS_STORAGE_CONF wins over all other files',
      present: ['env', 'user', 'etc', 'usr'],
      useEnv: true,
      uid: 1000,
      want: 'env',
    },
    {
      name: 'a rootless user file wins over /etc',
      present: ['user', 'etc', 'usr'],
      useEnv: false,
      uid: 1000,
      want: 'user',
    },
    { name: 'root ignores the user file', present: ['user', 'etc', 'usr'], useEnv: false, uid: 0, want: 'etc' },
    {
      name: 'a rootless user without a user file falls back to /etc',
      present: ['etc', 'usr'],
      useEnv: false,
      uid: 1000,
      want: 'etc',
    },
    { name: '/etc wins over /usr/share', present: ['etc', 'usr'], useEnv: false, uid: 0, want: 'etc' },
    { name: '/usr/share is used when /etc has no file', present: ['usr'], useEnv: false, uid: 0, want: 'usr' },
  ];
  for (const c of lookupCases) {
    it(c.name, async (t) => {
      const l = await layout(t, c.present);
      const env: NodeJS.ProcessEnv = { XDG_CONFIG_HOME: l.xdg };
      if (c.useEnv) env.CONTAINERS_STORAGE_CONF = l.files.env;
      const conf = await readStorageConf({ env, uid: c.uid, systemPaths: l.systemPaths });
      assert.equal(conf.file, l.files[c.want]);
      assert.equal(conf.graphroot, `/stores/${c.want}`);
    });
  }

  it('reads ~/.config/containers/storage.conf for a rootless user without XDG_CONFIG_HOME', async (t) => {
    const home = await tempDir(t);
    const user = join(home, '.config', 'containers', 'storage.conf');
    await mkdir(join(user, '..'), { recursive: true });
    await writeFile(user, marked('home'));
    const conf = await readStorageConf({ env: {}, home, uid: 1000, systemPaths: [join(home, 'none.conf')] });
    assert.equal(conf.file, user);
    assert.equal(conf.graphroot, '/stores/home');
  });

  it('an explicit file wins over CONTAINERS_STORAGE_CONF', async (t) => {
    const l = await layout(t, ['env', 'etc']);
    const conf = await readStorageConf({ file: l.files.etc, env: { CONTAINERS_STORAGE_CONF: l.files.env }, uid: 0 });
    assert.equal(conf.file, l.files.etc);
  });

  it('missing everywhere: NOT_FOUND listing every path tried', async (t) => {
    const l = await layout(t, []);
    const err = await rejectsWith(
      readStorageConf({ env: { XDG_CONFIG_HOME: l.xdg }, uid: 1000, systemPaths: l.systemPaths }),
      'NOT_FOUND',
      l.files.user,
      l.files.etc,
      l.files.usr,
    );
    assert.deepEqual((err as { values?: readonly string[] }).values, [l.files.user, l.files.etc, l.files.usr]);
  });

  it('missing everywhere with missingOk: the defaults and file null', async (t) => {
    const l = await layout(t, []);
    const conf = await readStorageConf({ env: {}, uid: 0, systemPaths: l.systemPaths, missingOk: true });
    assert.deepEqual({ ...conf }, { ...STORAGE_DEFAULTS, imagestore: null, additionalimagestores: [], file: null });
  });

  const namedMissing: { name: string; opts: (dir: string) => Parameters<typeof readStorageConf>[0] }[] = [
    { name: 'CONTAINERS_STORAGE_CONF', opts: (d) => ({ env: { CONTAINERS_STORAGE_CONF: join(d, 'gone.conf') } }) },
    { name: 'an explicit file', opts: (d) => ({ file: join(d, 'gone.conf'), env: {} }) },
  ];
  for (const c of namedMissing) {
    it(`a missing file named by ${c.name} is NOT_FOUND even with missingOk, and nothing else is tried`, async (t) => {
      const l = await layout(t, ['etc']);
      await rejectsWith(
        readStorageConf({ ...c.opts(l.root), uid: 0, systemPaths: l.systemPaths, missingOk: true }),
        'NOT_FOUND',
        join(l.root, 'gone.conf'),
      );
    });
  }

  it('a directory where the file should be is CONFIG', async (t) => {
    const dir = await tempDir(t);
    await rejectsWith(readStorageConf({ file: dir, env: {} }), 'CONFIG', dir);
  });

  it('the current upstream file (driver and roots commented out) gives the defaults', async () => {
    const conf = await readStorageConf({ file: NEW_CONF, env: {} });
    assert.equal(conf.file, NEW_CONF);
    assert.equal(conf.driver, STORAGE_DEFAULTS.driver);
    assert.equal(conf.graphroot, STORAGE_DEFAULTS.graphroot);
    assert.equal(conf.runroot, STORAGE_DEFAULTS.runroot);
    assert.equal(conf.imagestore, null);
    assert.deepEqual(conf.additionalimagestores, []);
    // The raw options table is kept: the fixture sets [storage.options.overlay] mountopt.
    assert.equal((conf.options?.overlay as { mountopt?: string } | undefined)?.mountopt, 'nodev');
  });

  it('the classic upstream file (v1.62.0) gives the values it sets', async (t) => {
    // Rewrite the values the fixture sets to different ones, so that defaults cannot pass for them.
    const { readFile } = await import('node:fs/promises');
    const text = (await readFile(CLASSIC_CONF, 'utf8'))
      .replace('runroot = "/run/containers/storage"', 'runroot = "/run/classic"')
      .replace('graphroot = "/var/lib/containers/storage"', 'graphroot = "/var/lib/classic"')
      .replace('driver = "overlay"', 'driver = "btrfs"');
    assert.ok(
      text.includes('/var/lib/classic') && text.includes('/run/classic') && text.includes('"btrfs"'),
      'fixture changed shape',
    );
    const copy = join(await tempDir(t), 'storage.conf');
    await writeFile(copy, text);
    const conf = await readStorageConf({ file: copy, env: {} });
    assert.deepEqual(
      { driver: conf.driver, graphroot: conf.graphroot, runroot: conf.runroot, stores: conf.additionalimagestores },
      { driver: 'btrfs', graphroot: '/var/lib/classic', runroot: '/run/classic', stores: [] },
    );
    // And the fixture itself, unmodified, reads as its literal values.
    const orig = await readStorageConf({ file: CLASSIC_CONF, env: {} });
    assert.equal(orig.driver, 'overlay');
    assert.equal(orig.graphroot, '/var/lib/containers/storage');
    assert.equal(orig.runroot, '/run/containers/storage');
  });
});

describe('parseStorageConf', () => {
  const F = '/test/storage.conf';
  const valueCases: {
    name: string;
    text: string;
    env?: NodeJS.ProcessEnv;
    uid?: number;
    want: Record<string, unknown>;
  }[] = [
    {
      name: 'an empty file gives the defaults',
      text: '',
      want: { ...STORAGE_DEFAULTS, imagestore: null, additionalimagestores: [] },
    },
    {
      name: 'a file without a [storage] table gives the defaults',
      text: '[other]\nx = 1\n',
      want: { ...STORAGE_DEFAULTS, imagestore: null },
    },
    { name: 'an empty [storage] table gives the defaults', text: '[storage]\n', want: { ...STORAGE_DEFAULTS } },
    { name: 'overlay2 is rewritten to overlay', text: '[storage]\ndriver = "overlay2"\n', want: { driver: 'overlay' } },
    { name: 'another driver is kept', text: '[storage]\ndriver = "zfs"\n', want: { driver: 'zfs' } },
    {
      name: 'empty strings count as unset',
      text: '[storage]\ndriver = ""\ngraphroot = ""\nrunroot = ""\nimagestore = ""\n',
      want: { ...STORAGE_DEFAULTS, imagestore: null },
    },
    {
      name: 'without a driver, the first of driver_priority',
      text: '[storage]\ndriver_priority = ["vfs", "overlay"]\n',
      want: { driver: 'vfs' },
    },
    {
      name: 'driver wins over driver_priority',
      text: '[storage]\ndriver = "btrfs"\ndriver_priority = ["vfs"]\n',
      want: { driver: 'btrfs' },
    },
    {
      name: 'graphroot and runroot as written',
      text: '[storage]\ngraphroot = "/srv/g"\nrunroot = "/run/r"\n',
      want: { graphroot: '/srv/g', runroot: '/run/r' },
    },
    {
      name: 'paths are cleaned',
      text: '[storage]\ngraphroot = "/srv//g/./x/../"\nrunroot = "/run/r/"\n',
      want: { graphroot: '/srv/g', runroot: '/run/r' },
    },
    {
      name: '$UID, $VAR and ${VAR} are expanded in graphroot and runroot',
      text: '[storage]\ngraphroot = "$BASE/g$UID"\nrunroot = "${BASE}/r-$UNSET_VAR"\n',
      env: { BASE: '/data' },
      uid: 1234,
      want: { graphroot: '/data/g1234', runroot: '/data/r-' },
    },
    {
      name: 'imagestore and additionalimagestores',
      text: '[storage]\nimagestore = "/srv/images"\n[storage.options]\nadditionalimagestores = ["/ro/one", "/ro/two/"]\n',
      want: { imagestore: '/srv/images', additionalimagestores: ['/ro/one', '/ro/two'] },
    },
    {
      name: 'imagestore is not env-expanded (as upstream)',
      text: '[storage]\nimagestore = "/x/$HOME"\n',
      env: { HOME: '/h' },
      want: { imagestore: '/x/$HOME' },
    },
    {
      name: 'an empty additionalimagestores array',
      text: '[storage.options]\nadditionalimagestores = [\n]\n',
      want: { additionalimagestores: [] },
    },
    { name: 'the file name is recorded', text: '[storage]\n', want: { file: F } },
  ];
  for (const c of valueCases) {
    it(c.name, () => {
      const conf = parseStorageConf(c.text, F, { env: c.env ?? {}, uid: c.uid ?? 0 });
      const picked = Object.fromEntries(
        Object.keys(c.want).map((k) => [k, (conf as unknown as Record<string, unknown>)[k]]),
      );
      assert.deepEqual(picked, c.want);
    });
  }

  it('keeps the raw [storage.options] table and omits it when absent', () => {
    const conf = parseStorageConf(
      '[storage.options]\nsize = "10G"\n[storage.options.overlay]\nmountopt = "nodev"\n',
      F,
      { env: {} },
    );
    assert.deepEqual(JSON.parse(JSON.stringify(conf.options)), { size: '10G', overlay: { mountopt: 'nodev' } });
    assert.equal('options' in parseStorageConf('[storage]\n', F, { env: {} }), false);
  });

  it('returns frozen data', () => {
    const conf = parseStorageConf('[storage.options]\nadditionalimagestores = ["/a"]\n', F, { env: {} });
    assert.ok(Object.isFrozen(conf) && Object.isFrozen(conf.additionalimagestores));
  });

  it('broken TOML is CONFIG naming the file, line and column', () => {
    const text = '[storage]\ngraphroot = "/g"\ndriver = = "x"\n';
    throwsWith(() => parseStorageConf(text, F), 'CONFIG', F, 'line 3', 'column');
    try {
      parseStorageConf('[storage]\n\n\n\nrunroot = "unterminated\n', F);
      assert.fail('no error');
    } catch (err) {
      if (!isOcikitError(err, 'CONFIG')) throw err;
      assert.match(err.message, /line 5\b/);
    }
  });

  const errorCases: { name: string; text: string; key: string; env?: NodeJS.ProcessEnv }[] = [
    { name: 'graphroot = 5', text: '[storage]\ngraphroot = 5\n', key: 'graphroot' },
    { name: 'runroot = true', text: '[storage]\nrunroot = true\n', key: 'runroot' },
    { name: 'driver = ["overlay"]', text: '[storage]\ndriver = ["overlay"]\n', key: 'driver' },
    { name: 'imagestore = a date', text: '[storage]\nimagestore = 1979-05-27\n', key: 'imagestore' },
    { name: 'storage = "x" (not a table)', text: 'storage = "x"\n', key: 'storage' },
    { name: '[storage] options = 3 (not a table)', text: '[storage]\noptions = 3\n', key: 'options' },
    {
      name: 'additionalimagestores = "x" (not an array)',
      text: '[storage.options]\nadditionalimagestores = "x"\n',
      key: 'additionalimagestores',
    },
    {
      name: 'additionalimagestores = [1]',
      text: '[storage.options]\nadditionalimagestores = [1]\n',
      key: 'additionalimagestores[0]',
    },
    { name: 'driver_priority = "vfs"', text: '[storage]\ndriver_priority = "vfs"\n', key: 'driver_priority' },
    { name: 'a relative graphroot', text: '[storage]\ngraphroot = "var/lib/x"\n', key: 'graphroot' },
    { name: 'a relative runroot', text: '[storage]\nrunroot = "./run"\n', key: 'runroot' },
    {
      name: 'a graphroot that expands to a relative path',
      text: '[storage]\ngraphroot = "$REL/x"\n',
      key: 'graphroot',
      env: { REL: 'here' },
    },
    {
      name: 'a graphroot that expands to nothing',
      text: '[storage]\ngraphroot = "$NOPE"\n',
      key: 'graphroot',
      env: {},
    },
    { name: 'a relative imagestore', text: '[storage]\nimagestore = "images"\n', key: 'imagestore' },
    {
      name: 'imagestore equal to graphroot',
      text: '[storage]\ngraphroot = "/g"\nimagestore = "/g/"\n',
      key: 'imagestore',
    },
    {
      name: 'a relative additional image store',
      text: '[storage.options]\nadditionalimagestores = ["/ok", "ro"]\n',
      key: 'additionalimagestores[1]',
    },
    {
      name: 'an empty additional image store',
      text: '[storage.options]\nadditionalimagestores = [""]\n',
      key: 'additionalimagestores[0]',
    },
    { name: 'a NUL byte in graphroot', text: '[storage]\ngraphroot = "/g\\u0000x"\n', key: 'graphroot' },
  ];
  for (const c of errorCases) {
    it(`CONFIG naming file and key: ${c.name}`, () => {
      throwsWith(() => parseStorageConf(c.text, F, { env: c.env ?? {}, uid: 0 }), 'CONFIG', F, c.key);
    });
  }
});

describe('expandEnv', () => {
  const env = { A: 'aa', B_2: 'bb', '1': 'one', EMPTY: '' };
  const cases: [string, string][] = [
    ['/plain/path', '/plain/path'],
    ['$A/x', 'aa/x'],
    ['${A}x', 'aax'],
    ['$B_2-$A', 'bb-aa'],
    ['$UNSET/x', '/x'],
    ['$EMPTY/x', '/x'],
    ['$1x', 'onex'], // one-character specials stop after one character
    ['a$', 'a$'], // a trailing $ stays
    ['a$/b', 'a$/b'], // $ followed by a non-name character stays
    ['a${}b', 'ab'], // malformed ${} is dropped
    ['a${A', 'aA'], // an unterminated ${ drops "${"
  ];
  for (const [input, want] of cases) {
    it(`${JSON.stringify(input)} → ${JSON.stringify(want)}`, () => assert.equal(expandEnv(input, env), want));
  }
});

/** A CLI context with captured output and the given environment. */
function cli(env: NodeJS.ProcessEnv = {}, cwd = process.cwd()) {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.on('data', (b: Buffer) => out.push(b));
  stderr.on('data', (b: Buffer) => err.push(b));
  const ctx: CliContext = { stdout, stderr, env, cwd, signal: new AbortController().signal };
  return { ctx, stdout: () => Buffer.concat(out).toString(), stderr: () => Buffer.concat(err).toString() };
}

describe('ocikit storage-conf', () => {
  it('--json --file prints exactly the six keys and a newline', async (t) => {
    const file = join(await tempDir(t), 's.conf');
    await writeFile(
      file,
      '[storage]\ndriver = "overlay2"\ngraphroot = "/g"\nrunroot = "/r"\nimagestore = "/i"\n[storage.options]\nadditionalimagestores = ["/a"]\nsize = "1G"\n',
    );
    const c = cli();
    assert.equal(await main(['storage-conf', '--json', '--file', file], c.ctx), 0);
    assert.ok(c.stdout().endsWith('}\n'));
    assert.deepEqual(JSON.parse(c.stdout()), {
      driver: 'overlay',
      graphroot: '/g',
      runroot: '/r',
      imagestore: '/i',
      additionalimagestores: ['/a'],
      file,
    });
    assert.deepEqual(Object.keys(JSON.parse(c.stdout())), [
      'driver',
      'graphroot',
      'runroot',
      'imagestore',
      'additionalimagestores',
      'file',
    ]);
    assert.equal(c.stderr(), '');
  });

  it('--file is resolved against the context cwd', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'rel.conf'), marked('rel'));
    const c = cli({}, dir);
    assert.equal(await main(['storage-conf', '--json', '--file', 'rel.conf'], c.ctx), 0);
    assert.equal(JSON.parse(c.stdout()).file, join(dir, 'rel.conf'));
  });

  it('reads CONTAINERS_STORAGE_CONF from the context environment', async () => {
    const c = cli({ CONTAINERS_STORAGE_CONF: NEW_CONF });
    assert.equal(await main(['storage-conf', '--json'], c.ctx), 0);
    assert.deepEqual(JSON.parse(c.stdout()), {
      driver: STORAGE_DEFAULTS.driver,
      graphroot: STORAGE_DEFAULTS.graphroot,
      runroot: STORAGE_DEFAULTS.runroot,
      imagestore: null,
      additionalimagestores: [],
      file: NEW_CONF,
    });
  });

  it('prints key: value lines by default, one line per additional store', async (t) => {
    const file = join(await tempDir(t), 's.conf');
    await writeFile(
      file,
      '[storage]\ndriver = "vfs"\ngraphroot = "/g"\n[storage.options]\nadditionalimagestores = ["/a b", "/c"]\n',
    );
    const c = cli({ CONTAINERS_STORAGE_CONF: file });
    assert.equal(await main(['storage-conf'], c.ctx), 0);
    assert.equal(
      c.stdout(),
      [
        'driver: vfs',
        'graphroot: /g',
        `runroot: ${STORAGE_DEFAULTS.runroot}`,
        'imagestore: (none)',
        'additionalimagestores: /a b',
        'additionalimagestores: /c',
        `file: ${file}`,
        '',
      ].join('\n'),
    );
  });

  const failures: {
    name: string;
    args: (dir: string) => string[];
    env?: (dir: string) => NodeJS.ProcessEnv;
    text?: string;
    status: number;
  }[] = [
    {
      name: 'a missing CONTAINERS_STORAGE_CONF file exits 1',
      args: () => ['storage-conf'],
      env: (d) => ({ CONTAINERS_STORAGE_CONF: join(d, 'gone.conf') }),
      status: 1,
    },
    { name: 'a missing --file exits 1', args: (d) => ['storage-conf', '--file', join(d, 'gone.conf')], status: 1 },
    {
      name: 'broken TOML exits 1',
      args: (d) => ['storage-conf', '--file', join(d, 's.conf')],
      text: '[storage\n',
      status: 1,
    },
    {
      name: 'a wrong type exits 1',
      args: (d) => ['storage-conf', '--json', '--file', join(d, 's.conf')],
      text: '[storage]\ngraphroot = 5\n',
      status: 1,
    },
    { name: 'an unknown flag exits 2', args: () => ['storage-conf', '--bogus'], status: 2 },
    { name: 'a positional argument exits 2', args: () => ['storage-conf', 'extra'], status: 2 },
    { name: '--file without a value exits 2', args: () => ['storage-conf', '--file'], status: 2 },
  ];
  for (const f of failures) {
    it(f.name, async (t) => {
      const dir = await tempDir(t);
      if (f.text !== undefined) await writeFile(join(dir, 's.conf'), f.text);
      const c = cli(f.env?.(dir) ?? {});
      assert.equal(await main(f.args(dir), c.ctx), f.status);
      assert.equal(c.stdout(), '');
      assert.match(c.stderr(), /^ocikit: [^\n]+\n$/);
    });
  }

  it('runs as a whole process: bin/ocikit storage-conf --json with CONTAINERS_STORAGE_CONF', async () => {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, 'storage-conf', '--json'], {
      env: { ...process.env, CONTAINERS_STORAGE_CONF: CLASSIC_CONF },
    });
    assert.equal(stderr, '');
    assert.ok(stdout.endsWith('\n'));
    assert.deepEqual(JSON.parse(stdout), {
      driver: 'overlay',
      graphroot: '/var/lib/containers/storage',
      runroot: '/run/containers/storage',
      imagestore: null,
      additionalimagestores: [],
      file: CLASSIC_CONF,
    });
  });
});

describe('readStorageConf agrees with skopeo', () => {
  it('skopeo copy into containers-storage: writes under the graphroot we report (env lookup and $VAR expansion)', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const dir = await tempDir(t);
    const conf = join(dir, 'storage.conf');
    await writeFile(
      conf,
      '[storage]\ndriver = "vfs"\ngraphroot = "$OCIKIT_T/graph$UID/"\nrunroot = "${OCIKIT_T}/run"\n',
    );
    const env = { ...process.env, CONTAINERS_STORAGE_CONF: conf, OCIKIT_T: dir };
    const ours = await readStorageConf({ env });
    assert.equal(ours.graphroot, join(dir, `graph${process.getuid?.() ?? 0}`));
    assert.equal(ours.runroot, join(dir, 'run'));

    const img = await makeDirImage(join(dir, 'img'));
    await promisify(execFile)(
      'skopeo',
      ['copy', '-q', `dir:${img.dir}`, 'containers-storage:localhost/ocikit-storage-conf:1'],
      { env },
    );
    assert.ok((await readdir(ours.graphroot)).includes('vfs-images'), `skopeo did not write into ${ours.graphroot}`);
    assert.ok((await readdir(ours.runroot)).length > 0, `skopeo did not use ${ours.runroot}`);
  });
});
