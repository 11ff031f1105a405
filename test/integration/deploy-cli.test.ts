/**
 * `ocikit deploy` as a whole process: exit statuses (0, 1 with one `ocikit:` line, 2 for usage),
 * the text and `--json` summaries, options and `--exclude`, and a deploy killed with SIGKILL
 * mid-layer: TREE then holds no content, only the staging directory, which the next run removes.
 */
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { STAGING_PREFIX } from '../../src/deploy/staging.js';
import { gzLayer, gzipOf, sha, ustarLayer, writeDeployImage } from '../helpers/deploy-image.js';
import { runNode } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';

const BIN = fileURLToPath(new URL('../../../bin/ocikit', import.meta.url));
const ocikit = (args: string[], cwd: string) => runNode([BIN, ...args], { cwd });
const layer = gzLayer([{ name: 'file1', body: 'one' }, { name: 'file2', body: 'two' }, { name: 'dir/' }]);

async function setup(t: TestContext, opts: Parameters<typeof writeDeployImage>[2] = {}) {
  const root = await tempDir(t);
  const img = await writeDeployImage(join(root, 'in'), [layer], opts);
  await writeFile(join(root, 'inputs.json'), JSON.stringify(img.inputs));
  return { root, img, tree: join(root, 'tree') };
}

/** One `ocikit:` line on stderr, matching `re`. */
function oneLine(stderr: string, re: RegExp): void {
  const lines = stderr
    .trim()
    .split('\n')
    .filter((l) => !l.startsWith('ocikit: note:'));
  assert.equal(lines.length, 1, stderr);
  assert.match(lines[0]!, /^ocikit: /);
  assert.match(lines[0]!, re);
}

describe('ocikit deploy', () => {
  it('deploys, prints a text summary, or the DeploySummary with --json (exit 0)', async (t) => {
    const { root, img, tree } = await setup(t);
    const text = await ocikit(['deploy', '--inputs', 'inputs.json', '--tree', 'tree'], root);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^Deployed test\/deploy:1 into .*tree:/);
    assert.match(text.stdout, new RegExp(`image ID   ${img.imageId}`));
    assert.deepEqual((await readdir(tree)).sort(), ['dir', 'file1', 'file2']);
    await writeFile(join(root, 'options.json'), JSON.stringify({ exclude: ['file1'], 'remove-signatures': true }));
    const json = await ocikit(
      [
        'deploy',
        '--inputs',
        'inputs.json',
        '--tree',
        'tree2',
        '--options',
        'options.json',
        '--exclude',
        '/dir/',
        '--json',
      ],
      root,
    );
    assert.equal(json.status, 0, json.stderr);
    const s = JSON.parse(json.stdout);
    assert.deepEqual(s.excluded, ['file1', '/dir/']);
    assert.equal(s.layers[0].diffId, sha(layer.tar));
    assert.deepEqual(await readdir(join(root, 'tree2')), ['file2']);
  });

  it('exit 2 for usage errors', async (t) => {
    const { root } = await setup(t);
    for (const args of [
      ['deploy', '--inputs', 'inputs.json'],
      ['deploy', '--tree', 't'],
      ['deploy', '--inputs', 'inputs.json', '--tree', 't', '--bogus'],
      ['deploy', 'x'],
    ]) {
      const r = await ocikit(args, root);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      oneLine(r.stderr, /deploy: /);
    }
  });

  it('exit 1 with one line for refused options, an exclude leaving the tree, a wrong DiffID (the tree left empty)', async (t) => {
    const { root, tree } = await setup(t);
    await writeFile(join(root, 'bad.json'), JSON.stringify({ exclude: [] }));
    const bad = await ocikit(['deploy', '--inputs', 'inputs.json', '--tree', 'tree', '--options', 'bad.json'], root);
    assert.equal(bad.status, 1);
    oneLine(bad.stderr, /invalid deploy options: exclude: "exclude" must have at least one entry/);
    const out = await ocikit(['deploy', '--inputs', 'inputs.json', '--tree', 'tree', '--exclude', '../etc'], root);
    assert.equal(out.status, 1);
    oneLine(out.stderr, /exclude\[0\] "\.\.\/etc" has a "\.\." segment/);
    await assert.rejects(readdir(tree), { code: 'ENOENT' });

    const wrong = await setup(t, { diffIds: [sha(Buffer.from('x'))] });
    const r = await ocikit(['deploy', '--inputs', 'inputs.json', '--tree', 'tree'], wrong.root);
    assert.equal(r.status, 1);
    oneLine(r.stderr, /layer 1 \(sha256:[0-9a-f]{64}\) DiffID .*expected digest/);
    assert.deepEqual(await readdir(wrong.tree), []);
  });

  it('SIGKILL mid-layer leaves no content in TREE; the next run removes the staging directory and deploys', async (t) => {
    const root = await tempDir(t);
    // 256 MiB of zeros: a small blob that takes a while to write out.
    const big = ustarLayer([
      { name: 'a', body: 'a' },
      { name: 'zeros', body: Buffer.alloc(256 * 1024 * 1024) },
    ]);
    const img = await writeDeployImage(join(root, 'in'), [{ tar: big, blob: gzipOf(big) }]);
    await writeFile(join(root, 'inputs.json'), JSON.stringify(img.inputs));
    const tree = join(root, 'tree');
    await mkdir(tree);
    const child = spawn(process.execPath, [BIN, 'deploy', '--inputs', 'inputs.json', '--tree', 'tree'], {
      cwd: root,
      stdio: 'ignore',
    });
    const closed = new Promise((r) => child.on('close', r));
    const deadline = Date.now() + 20_000;
    for (;;) {
      const names = await readdir(tree);
      const staging = names.find((n) => n.startsWith(STAGING_PREFIX));
      if (staging && (await readdir(join(tree, staging))).includes('zeros')) break;
      assert.ok(Date.now() < deadline && child.exitCode === null, 'the deploy got to its big file');
      await new Promise((r) => setTimeout(r, 5));
    }
    child.kill('SIGKILL');
    await closed;
    const left = await readdir(tree);
    assert.equal(left.length, 1);
    assert.ok(left[0]!.startsWith(STAGING_PREFIX), `only the staging directory: ${left.join(', ')}`);
    const again = await ocikit(['deploy', '--inputs', 'inputs.json', '--tree', 'tree'], root);
    assert.equal(again.status, 0, again.stderr);
    assert.deepEqual((await readdir(tree)).sort(), ['a', 'zeros']);
    assert.equal(await readFile(join(tree, 'a'), 'utf8'), 'a');
  });
});
