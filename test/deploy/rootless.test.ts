/**
 * Rootless deploys (deploy R38): owners recorded in `user.rootlesscontainers` byte for byte as
 * `umoci unpack --rootless` records them, and a deploy run as an unprivileged user (setpriv to
 * nobody) that writes devices as empty files, keeps going on EPERM for security.* xattrs, writes
 * below directories without owner write permission and gives them their mode at the end.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { rootlessRecord } from '../../src/deploy/metadata.js';
import { deployLayers, file } from '../helpers/layer-entries.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';
import { listTree } from '../helpers/tree-listing.js';

const run = (argv: string[], cwd: string) => {
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, `${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

test('R38: the owner record equals umoci --rootless byte for byte', async (t) => {
  if (!needTool(t, 'umoci')) return;
  const dirp = await tempDir(t);
  run(['umoci', 'init', '--layout', 'L'], dirp);
  run(['umoci', 'new', '--image', 'L:t'], dirp);
  run(['umoci', 'unpack', '--image', 'L:t', 'b'], dirp);
  const owners: Record<string, [number, number]> = {
    u: [1234, 0],
    g: [0, 5678],
    ug: [1234, 5678],
    big: [4000000000, 70000],
    root: [0, 0],
  };
  for (const [name, [uid, gid]] of Object.entries(owners)) {
    const p = join(dirp, 'b/rootfs', name);
    fs.writeFileSync(p, '');
    fs.chownSync(p, uid, gid);
  }
  run(['umoci', 'repack', '--image', 'L:t', 'b'], dirp);
  run(['umoci', 'unpack', '--rootless', '--image', 'L:t', 'b2'], dirp);
  const ours = await deployLayers(t, [Object.entries(owners).map(([n, [uid, gid]]) => file(n, '', { uid, gid }))], {
    rootless: true,
  });
  for (const [name, [uid, gid]] of Object.entries(owners)) {
    const theirs = spawnSync('getfattr', [
      '-h',
      '--only-values',
      '-n',
      'user.rootlesscontainers',
      join(dirp, 'b2/rootfs', name),
    ]);
    const want = theirs.status === 0 ? theirs.stdout : undefined;
    assert.deepEqual(rootlessRecord(uid, gid), want?.length ? want : undefined, name);
    const line = listTree(ours.root, { noMtime: true }).find((l) => l.startsWith(`${name}\t`))!;
    const x = line.split('\t')[7];
    assert.equal(x, want?.length ? `user.rootlesscontainers=${want.toString('hex')}` : '-', name);
  }
});

const CHILD = `
import { openDeployTree } from ${JSON.stringify(resolve(fileURLToPath(import.meta.url), '../../../src/deploy/tree.js'))};
import { applyLayers, dir, file, hardlink, node } from ${JSON.stringify(resolve(fileURLToPath(import.meta.url), '../../helpers/layer-entries.js'))};
const warnings = [];
const tree = await openDeployTree(process.argv[2], { rootless: true, warn: (w) => warnings.push(w) });
await applyLayers(tree, [
  [
    dir('ro', { mode: 0o555, uid: 1234, gid: 5678 }),
    file('ro/inner', 'in', { mode: 0o000 }),
    dir('ro/sub', { mode: 0o500 }),
    file('ro/sub/deep', 'deep', { mode: 0o444 }),
    file('etc/gshadow', 'old', { mode: 0o000 }),
    node('char', 'dev/null', { mode: 0o666, devmajor: 1, devminor: 3 }),
    file('capped', 'c', { xattrs: { 'security.capability': Buffer.from('01000002c0200000000000000000000000000000', 'hex'), 'user.keep': 'k' } }),
    file('owned', 'o', { uid: 1234, gid: 5678, xattrs: { 'user.rootlesscontainers': 'forged' } }),
  ],
  [file('etc/gshadow', 'new', { mode: 0o000 }), file('ro/sub/added', 'a'), hardlink('ro/link', 'ro/inner')],
]);
await tree.finish();
process.stdout.write(JSON.stringify(warnings));
`;

test('R38: a deploy as an unprivileged user', async (t) => {
  if (!needTool(t, 'setpriv')) return;
  if (process.getuid?.() !== 0) {
    if (process.env.CI === 'true') throw new Error('needs root to switch to nobody; CI runs as root');
    return t.skip('needs root to switch to nobody');
  }
  const base = await tempDir(t);
  const root = join(base, 'tree');
  fs.mkdirSync(root);
  fs.chownSync(root, 65534, 65534);
  const script = join(base, 'child.mjs');
  fs.writeFileSync(script, CHILD);
  fs.chmodSync(base, 0o755);
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, script, root], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const warnings = JSON.parse(r.stdout) as { code: string; path: string; detail: string }[];
  const rec = (uid: number, gid: number) => `user.rootlesscontainers=${rootlessRecord(uid, gid)!.toString('hex')}`;
  const lines = listTree(root, { noMtime: true }).map((l) =>
    l
      .split('\t')
      .filter((_, i) => i !== 5 && i !== 6)
      .join(' '),
  );
  assert.deepEqual(lines, [
    '. d 0755 65534:65534 - - -',
    'capped f 0644 65534:65534 1 user.keep=6b -',
    'dev d 0755 65534:65534 - - -',
    'dev/null f 0000 65534:65534 0 - -',
    'etc d 0755 65534:65534 - - -',
    'etc/gshadow f 0000 65534:65534 3 - -',
    `owned f 0644 65534:65534 1 ${rec(1234, 5678)} -`,
    `ro d 0555 65534:65534 - ${rec(1234, 5678)} -`,
    'ro/inner f 0000 65534:65534 2 - =ro/inner',
    'ro/link f 0000 65534:65534 2 - =ro/inner',
    'ro/sub d 0500 65534:65534 - - -',
    'ro/sub/added f 0644 65534:65534 1 - -',
    'ro/sub/deep f 0444 65534:65534 4 - -',
  ]);
  const codes = warnings.map((w) => `${w.code} ${w.path}`);
  assert.ok(codes.includes('rootless-device dev/null'), codes.join('; '));
  assert.ok(codes.includes('xattr-dropped capped'), codes.join('; '));
  assert.ok(
    warnings.some(
      (w) => w.code === 'xattr-dropped' && w.path === 'owned' && w.detail.includes('user.rootlesscontainers'),
    ),
  );
  assert.ok(codes.includes('rootless-owner ro'));
});
