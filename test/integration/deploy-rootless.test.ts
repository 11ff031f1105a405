/**
 * `ocikit deploy` run whole as an unprivileged user (setpriv to nobody), deploy R38 with R40: the
 * automatic switch to rootless with its notice, foreign owners recorded in
 * `user.rootlesscontainers` as umoci records them, a setuid file, a device node written as an
 * empty file, read-only directories (0555, also the root entry) written below and given their
 * mode at the end — and moved from the staging directory into TREE —, and all or nothing: a wrong
 * DiffID leaves TREE empty.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { rootlessRecord } from '../../src/deploy/metadata.js';
import { gzipOf, sha, writeDeployImage } from '../helpers/deploy-image.js';
import { type LayerTarEntry, layerTar } from '../helpers/layer-tar.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';
import { listTree } from '../helpers/tree-listing.js';

const BIN = fileURLToPath(new URL('../../../bin/ocikit', import.meta.url));
const NOBODY = 65534;

const L1: LayerTarEntry[] = [
  { name: './', type: 'directory', mode: 0o555, mtime: 1_000_000_000 },
  { name: 'dev/', type: 'directory', mode: 0o755 },
  { name: 'dev/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 },
  { name: 'etc/', type: 'directory', mode: 0o755 },
  { name: 'etc/shadow', content: 's', mode: 0o640, gid: 42 },
  { name: 'home/', type: 'directory', mode: 0o755 },
  { name: 'home/user/', type: 'directory', mode: 0o700, uid: 1000, gid: 1000 },
  { name: 'usr/', type: 'directory', mode: 0o755 },
  { name: 'usr/bin/', type: 'directory', mode: 0o755 },
  { name: 'usr/bin/su', content: 'su', mode: 0o4755 },
  { name: 'usr/bin/tool', content: 't', mode: 0o2755, uid: 1234, gid: 5678 },
  { name: 'ro/', type: 'directory', mode: 0o555 },
  { name: 'ro/a', content: 'a', mode: 0o444 },
  { name: 'ro/sub/', type: 'directory', mode: 0o555, uid: 7, gid: 7 },
  { name: 'ro/sub/b', content: 'b', mode: 0o644 },
];
// Layer 2 writes below the read-only directories layer 1 left.
const L2: LayerTarEntry[] = [
  { name: 'ro/c', content: 'c' },
  { name: 'ro/sub/.wh.b', content: '' },
];

/** A `dir:` image of L1 and L2 readable by nobody; `badDiffId` states a wrong DiffID for layer 2. */
async function setup(t: TestContext, badDiffId = false) {
  const base = await tempDir(t);
  fs.chmodSync(base, 0o755);
  const tars = [layerTar(L1), layerTar(L2)];
  const layers = tars.map((tar) => ({ tar, blob: gzipOf(tar) }));
  const diffIds = badDiffId ? [sha(tars[0]!), sha(Buffer.from('not layer 2'))] : undefined;
  const img = await writeDeployImage(join(base, 'in'), layers, diffIds ? { diffIds } : {});
  fs.writeFileSync(join(base, 'inputs.json'), JSON.stringify(img.inputs));
  const work = join(base, 'work');
  fs.mkdirSync(work, { mode: 0o755 });
  fs.chownSync(work, NOBODY, NOBODY);
  return { base, work, tree: join(work, 'tree') };
}

/** `ocikit deploy` as nobody, with a HOME and TMPDIR nobody owns. */
function deployAsNobody(base: string, work: string, extra: string[] = []) {
  return spawnSync(
    'setpriv',
    [
      `--reuid=${NOBODY}`,
      `--regid=${NOBODY}`,
      '--clear-groups',
      process.execPath,
      BIN,
      'deploy',
      '--inputs',
      join(base, 'inputs.json'),
      '--tree',
      join(work, 'tree'),
      ...extra,
    ],
    { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, TMPDIR: work } },
  );
}

function canRun(t: TestContext): boolean {
  if (!needTool(t, 'setpriv')) return false;
  if (process.getuid?.() !== 0) {
    t.skip('needs root to switch to nobody');
    return false;
  }
  return true;
}

test('ocikit deploy as nobody: rootless chosen with a notice, owners recorded, final modes applied', async (t) => {
  if (!canRun(t)) return;
  const { base, work, tree } = await setup(t);
  const r = deployAsNobody(base, work, ['--json']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^ocikit: note: not running as root: deploying rootless/m);
  const summary = JSON.parse(r.stdout) as { rootless: boolean; warnings: { code: string; path: string }[] };
  assert.equal(summary.rootless, true);
  const codes = summary.warnings.map((w) => `${w.code} ${w.path}`);
  assert.ok(codes.includes('rootless-device dev/null'), codes.join('; '));
  const rec = (uid: number, gid: number) => `user.rootlesscontainers=${rootlessRecord(uid, gid)!.toString('hex')}`;
  // path type mode uid:gid xattrs (size, content, mtime, hard link left out)
  const lines = listTree(tree, { noMtime: true }).map((l) =>
    l
      .split('\t')
      .filter((_, i) => i <= 3 || i === 7)
      .join(' '),
  );
  assert.deepEqual(lines, [
    '. d 0555 65534:65534 -',
    'dev d 0755 65534:65534 -',
    'dev/null f 0000 65534:65534 -',
    'etc d 0755 65534:65534 -',
    `etc/shadow f 0640 65534:65534 ${rec(0, 42)}`,
    'home d 0755 65534:65534 -',
    `home/user d 0700 65534:65534 ${rec(1000, 1000)}`,
    'ro d 0555 65534:65534 -',
    'ro/a f 0444 65534:65534 -',
    'ro/c f 0644 65534:65534 -',
    `ro/sub d 0555 65534:65534 ${rec(7, 7)}`,
    'usr d 0755 65534:65534 -',
    'usr/bin d 0755 65534:65534 -',
    'usr/bin/su f 4755 65534:65534 -',
    `usr/bin/tool f 2755 65534:65534 ${rec(1234, 5678)}`,
  ]);
  // The record's bytes are umoci's (test/deploy/rootless.test.ts compares them with umoci's own).
  assert.equal(rootlessRecord(0, 42)!.toString('hex'), '08ffffffff0f102a');
  assert.equal(fs.statSync(tree).mtimeMs, 1_000_000_000_000);
  assert.deepEqual(
    fs.readdirSync(work).filter((n) => n !== 'tree'),
    [],
    'nothing left beside the tree',
  );
});

test('ocikit deploy as nobody: a wrong DiffID leaves the tree empty', async (t) => {
  if (!canRun(t)) return;
  const { base, work, tree } = await setup(t, true);
  const r = deployAsNobody(base, work);
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stderr
    .trim()
    .split('\n')
    .filter((l) => !l.startsWith('ocikit: note:'));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^ocikit: .*DiffID/i);
  assert.deepEqual(fs.readdirSync(tree), []);
});
