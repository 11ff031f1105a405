/**
 * bin/ocikit's shell part (line 2 of the file): Node is started without NODE_EXTRA_CA_CERTS, which
 * Node 20 would load at start-up although ocikit never uses it, and the programs ocikit starts get
 * the variable back exactly as given (set, set and empty, or unset).
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { makeDirImage } from '../helpers/images.js';
import { tempDir } from '../helpers/tmp.js';

const BIN = fileURLToPath(new URL('../../../bin/ocikit', import.meta.url));

/** The environment of a run: this one's, `node` first on PATH, NODE_EXTRA_CA_CERTS as `extra` says. */
function envWith(extra: string | undefined, more: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...more, PATH: `${dirname(process.execPath)}:${process.env.PATH}` };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.OCIKIT_NODE_EXTRA_CA_CERTS;
  if (extra !== undefined) env.NODE_EXTRA_CA_CERTS = extra;
  return env;
}

/** Node's start-up warning for an extra-certificates file it could not load. */
const NODE_WARNING = /Ignoring extra certs from/;

describe('bin/ocikit launcher', () => {
  it('starts Node without NODE_EXTRA_CA_CERTS (no start-up load), where `node bin/ocikit` loads it', () => {
    const missing = '/nonexistent/ocikit-test-extra-ca.pem';
    const direct = spawnSync(process.execPath, [BIN, '--version'], { env: envWith(missing), encoding: 'utf8' });
    assert.equal(direct.status, 0, direct.stderr);
    assert.match(direct.stderr, NODE_WARNING, 'control: Node itself reads the variable at start-up');
    const launched = spawnSync(BIN, ['--version'], { env: envWith(missing), encoding: 'utf8' });
    assert.equal(launched.status, 0, launched.stderr);
    assert.match(launched.stdout, /^ocikit \d/);
    assert.doesNotMatch(launched.stderr, NODE_WARNING);
    assert.equal(launched.stderr, '');
  });

  /** Runs an install into containers-storage whose skopeo is a script that records its environment. */
  async function childEnvironment(t: TestContext, extra: string | undefined): Promise<string> {
    const root = await tempDir(t);
    const gen = await makeDirImage(join(root, 'gen'));
    await mkdir(join(root, 'images'));
    await rename(gen.dir, join(root, 'images', gen.configDigest));
    const archives = { [gen.configDigest]: { format: 'dir', name: 'localhost/launcher:latest' } };
    await writeFile(join(root, 'inputs.json'), JSON.stringify({ images: { path: 'images', data: { archives } } }));
    const options = { destination: { type: 'containers-storage', 'storage-driver': 'vfs' } };
    await writeFile(join(root, 'options.json'), JSON.stringify(options));
    await mkdir(join(root, 'tree'));
    const fake = join(root, 'fake-skopeo');
    const record = join(root, 'env.txt');
    await writeFile(
      fake,
      `#!/bin/sh\n{ echo "extra=\${NODE_EXTRA_CA_CERTS-<unset>}"; echo "saved=\${OCIKIT_NODE_EXTRA_CA_CERTS-<unset>}"; } > "$RECORD"\nexit 3\n`,
    );
    await chmod(fake, 0o755);
    const args = ['install', '--inputs', 'inputs.json', '--options', 'options.json', '--tree', 'tree'];
    const r = spawnSync(BIN, args, {
      cwd: root,
      env: envWith(extra, { OCIKIT_SKOPEO: fake, RECORD: record, TMPDIR: root }),
      encoding: 'utf8',
    });
    assert.equal(r.status, 1, `the fake skopeo fails the install: ${r.stderr}`);
    assert.match(r.stderr, /^ocikit: /);
    return readFile(record, 'utf8');
  }

  it('gives the programs it starts NODE_EXTRA_CA_CERTS as it was set', async (t) => {
    assert.equal(await childEnvironment(t, '/etc/some ca.pem'), 'extra=/etc/some ca.pem\nsaved=<unset>\n');
  });

  it('gives them an empty NODE_EXTRA_CA_CERTS back as empty', async (t) => {
    assert.equal(await childEnvironment(t, ''), 'extra=\nsaved=<unset>\n');
  });

  it('leaves NODE_EXTRA_CA_CERTS unset for them when it was unset', async (t) => {
    assert.equal(await childEnvironment(t, undefined), 'extra=<unset>\nsaved=<unset>\n');
  });
});
