/** Tests for src/internal/host-env.ts: the host facts every configuration lookup shares. */
import * as assert from 'node:assert/strict';
import { mkdtemp, rmdir } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { hostEnvVars, hostHome, hostPath, hostUid, hostVar, userConfigDir } from '../../src/internal/host-env.js';

describe('hostEnvVars', () => {
  it('is the given environment, else process.env', () => {
    const env = { A: '1' };
    assert.equal(hostEnvVars({ env }), env);
    assert.equal(hostEnvVars({}), process.env);
  });
});

describe('hostVar', () => {
  it('reads a variable and treats an empty one as unset', () => {
    assert.equal(hostVar({ env: { X: '/x' } }, 'X'), '/x');
    assert.equal(hostVar({ env: { X: '' } }, 'X'), undefined);
    assert.equal(hostVar({ env: {} }, 'X'), undefined);
  });
});

describe('hostUid', () => {
  it("is the given uid (0 included), else the process's", () => {
    assert.equal(hostUid({ uid: 0 }), 0);
    assert.equal(hostUid({ uid: 4242 }), 4242);
    assert.equal(hostUid({}), process.getuid?.() ?? 0);
  });
});

describe('hostHome', () => {
  const cases: [string, Parameters<typeof hostHome>[0], string][] = [
    ['the given home first', { home: '/given', env: { HOME: '/env' } }, '/given'],
    ['$HOME without one', { env: { HOME: '/env' } }, '/env'],
    ['$HOME when the given home is empty', { home: '', env: { HOME: '/env' } }, '/env'],
    ["the account's home directory without either", { env: { HOME: '' } }, homedir()],
  ];
  for (const [name, h, want] of cases) {
    it(`is ${name}`, () => assert.equal(hostHome(h), want));
  }
});

describe('hostPath', () => {
  it('resolves a relative path against cwd and cleans an absolute one', () => {
    assert.equal(hostPath({ cwd: '/base' }, 'rel/f.conf'), '/base/rel/f.conf');
    assert.equal(hostPath({ cwd: '/base' }, '/abs//x/../f.conf'), '/abs/f.conf');
    assert.equal(hostPath({}, 'f.conf'), join(process.cwd(), 'f.conf'));
  });

  it('does not read the working directory for an absolute path (a deleted cwd is fine)', async () => {
    const before = process.cwd();
    const gone = await mkdtemp(join(tmpdir(), 'ocikit-cwd-'));
    process.chdir(gone);
    try {
      await rmdir(gone);
      assert.equal(hostPath({}, '/etc/containers/storage.conf'), '/etc/containers/storage.conf');
      assert.throws(() => hostPath({}, 'relative.conf'), { code: 'ENOENT' });
    } finally {
      process.chdir(before);
    }
  });
});

describe('userConfigDir', () => {
  it('is $XDG_CONFIG_HOME, else <home>/.config; an empty XDG_CONFIG_HOME counts as unset', () => {
    assert.equal(userConfigDir({ env: { XDG_CONFIG_HOME: '/xdg' }, home: '/h' }), '/xdg');
    assert.equal(userConfigDir({ env: { XDG_CONFIG_HOME: '' }, home: '/h' }), '/h/.config');
    assert.equal(userConfigDir({ env: {}, home: '/h' }), '/h/.config');
  });
});
