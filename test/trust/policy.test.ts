/**
 * Policy lookup (containers/image 5.23 `DefaultPolicy`): explicit file, else
 * `$HOME/.config/containers/policy.json` (never `$XDG_CONFIG_HOME`, for root too), else the system
 * file; missing or malformed policies are CONFIG errors naming the file; `insecurePolicy` wins.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isOcikitError } from '../../src/errors.js';
import { INSECURE_POLICY, loadPolicy, policyFilePath } from '../../src/trust/policy.js';
import { tempDir } from '../helpers/tmp.js';

const ACCEPT = '{"default":[{"type":"insecureAcceptAnything"}]}';
const REJECT = '{"default":[{"type":"reject"}]}';

async function host(t: Parameters<typeof tempDir>[0]) {
  const dir = await tempDir(t);
  const home = join(dir, 'home');
  const xdg = join(dir, 'xdg');
  await mkdir(join(home, '.config', 'containers'), { recursive: true });
  await mkdir(join(xdg, 'containers'), { recursive: true });
  const system = join(dir, 'etc-policy.json');
  return { dir, home, xdg, system, user: join(home, '.config', 'containers', 'policy.json') };
}

describe('policy lookup', () => {
  it('uses $HOME/.config/containers/policy.json, not $XDG_CONFIG_HOME, for root too', async (t) => {
    const h = await host(t);
    await writeFile(h.user, REJECT);
    await writeFile(join(h.xdg, 'containers', 'policy.json'), ACCEPT);
    await writeFile(h.system, ACCEPT);
    const opts = { uid: 0, env: { HOME: h.home, XDG_CONFIG_HOME: h.xdg }, systemPath: h.system };
    assert.equal(await policyFilePath(opts), h.user);
    const p = await loadPolicy(opts);
    assert.equal(p.file, h.user);
    assert.equal(p.default[0]?.type, 'reject');
  });

  it('falls back to the system file; an explicit file (relative to cwd) is the only one read', async (t) => {
    const h = await host(t);
    await writeFile(h.system, REJECT);
    assert.equal(await policyFilePath({ env: { HOME: h.home }, systemPath: h.system }), h.system);
    assert.equal(await policyFilePath({ env: {}, home: h.home, systemPath: h.system }), h.system);
    await writeFile(h.user, ACCEPT);
    await writeFile(join(h.dir, 'mine.json'), REJECT);
    const opts = { env: { HOME: h.home }, cwd: h.dir, systemPath: h.system, policyFile: 'mine.json' };
    assert.equal(await policyFilePath(opts), join(h.dir, 'mine.json'));
    assert.equal(await policyFilePath({ ...opts, policyFile: '' }), h.user);
  });

  it('a missing policy is a CONFIG error naming the file (no fallback from an explicit file)', async (t) => {
    const h = await host(t);
    await writeFile(h.user, ACCEPT);
    await assert.rejects(
      loadPolicy({ env: { HOME: h.home }, policyFile: join(h.dir, 'none.json') }),
      (err: unknown) =>
        isOcikitError(err, 'CONFIG') &&
        err.message === `cannot load the trust policy ${join(h.dir, 'none.json')}: no such file`,
    );
    await assert.rejects(
      loadPolicy({ env: { HOME: join(h.dir, 'nohome') }, systemPath: h.system }),
      (err: unknown) => isOcikitError(err, 'CONFIG') && err.message.includes(h.system),
    );
  });

  it('a malformed per-user policy is an error; it does not fall back to the system file', async (t) => {
    const h = await host(t);
    await writeFile(h.user, '{"default":[]}');
    await writeFile(h.system, ACCEPT);
    await assert.rejects(
      loadPolicy({ env: { HOME: h.home }, systemPath: h.system }),
      (err: unknown) => isOcikitError(err, 'CONFIG') && err.message.startsWith(`invalid trust policy in ${h.user}: `),
    );
  });

  it('insecurePolicy accepts everything and reads nothing, even with a broken explicit file', async () => {
    assert.equal(await loadPolicy({ insecurePolicy: true, policyFile: '/nonexistent' }), INSECURE_POLICY);
    assert.deepEqual(INSECURE_POLICY.default, [{ type: 'insecureAcceptAnything' }]);
  });
});
