import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import type { CliContext } from '../../src/cli/command.js';
import { main } from '../../src/cli/main.js';
import { parseContainersInput } from '../../src/osbuild/inputs.js';
import { makeDirImage, makeList } from '../helpers/images.js';
import { tempDir } from '../helpers/tmp.js';

const BIN = fileURLToPath(new URL('../../../bin/ocikit', import.meta.url));

/** Runs the CLI in-process and returns status and output. */
async function cli(args: string[], cwd = process.cwd()) {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) =>
    new Writable({
      write(chunk, _e, cb) {
        f(chunk.toString());
        cb();
      },
    });
  const ctx: CliContext = {
    stdout: sink((s) => (out += s)),
    stderr: sink((s) => (err += s)),
    env: process.env,
    cwd,
    signal: new AbortController().signal,
  };
  const status = await main(args, ctx);
  return { status, out, err };
}

async function inputSet(root: string) {
  const imagesPath = join(root, 'images');
  const listsPath = join(root, 'lists');
  await mkdir(listsPath, { recursive: true });
  const a = await makeDirImage(join(root, 'a'));
  const b = await makeDirImage(join(root, 'b'), { flavour: 'docker' });
  await mkdir(imagesPath);
  await rename(a.dir, join(imagesPath, a.configDigest));
  await rename(b.dir, join(imagesPath, b.configDigest));
  const list = makeList([a]);
  await writeFile(join(listsPath, list.digest), list.bytes);
  const inputs = {
    images: {
      path: 'images',
      data: {
        archives: {
          [a.configDigest]: { format: 'dir', name: 'localhost/a' },
          [b.configDigest]: { format: 'dir', name: 'localhost/b' },
        },
      },
    },
    'manifest-lists': { path: 'lists', data: { files: { [list.digest]: {} } } },
  };
  await writeFile(join(root, 'inputs.json'), JSON.stringify(inputs));
  return { a, b, list, inputs, imagesPath, listsPath };
}

/** Every subcommand, in the order `ocikit --help` lists them. */
const COMMAND_NAMES = [
  'digest',
  'is-manifest-list',
  'inputs',
  'merge',
  'storage-conf',
  'install',
  'deploy',
  'fetch',
  'resolve',
  'embed',
  'registries',
  'policy',
];

describe('ocikit (main)', () => {
  it('prints help with --help and exits 0', async () => {
    const r = await cli(['--help']);
    assert.equal(r.status, 0);
    assert.match(r.out, /^Usage: ocikit/);
    for (const c of COMMAND_NAMES) assert.match(r.out, new RegExp(`\\b${c}\\b`));
  });

  it('prints every subcommand help with <command> --help', async () => {
    for (const c of COMMAND_NAMES) {
      const r = await cli([c, '--help']);
      assert.equal(r.status, 0, c);
      assert.match(r.out, /Usage: ocikit/, c);
    }
  });

  it('exits 2 with one ocikit: line for an unknown command or option', async () => {
    for (const args of [['frobnicate'], ['--nope'], ['inputs'], ['inputs', 'a', 'b'], ['inputs', '--bogus', 'x'], []]) {
      const r = await cli(args);
      assert.equal(r.status, 2, args.join(' '));
      assert.match(r.err, /^(ocikit: |Usage)/);
    }
  });

  it('lists every command once, with its summary, in a fixed order', async () => {
    const r = await cli(['--help']);
    const listed = r.out
      .split('\n')
      .filter((l) => /^ {2}[a-z-]+ {2,}\S/.test(l))
      .map((l) => l.trim().split(/\s+/)[0]);
    assert.deepEqual(listed, COMMAND_NAMES);
    assert.match(r.out, /^ {2}digest {12}print the manifest digest of a file \(as skopeo manifest-digest\)$/m);
  });

  it('treats names of Object.prototype members as unknown commands', async () => {
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const r = await cli([name]);
      assert.equal(r.status, 2, name);
      assert.match(r.err, /^ocikit: unknown command /, name);
    }
  });

  it('reports failures as one ocikit: line without a stack, exit 1', async (t) => {
    const root = await tempDir(t);
    const r = await cli(['inputs', join(root, 'missing.json')]);
    assert.equal(r.status, 1);
    assert.equal(r.err.split('\n').filter(Boolean).length, 1);
    assert.match(r.err, /^ocikit: .*missing\.json/);
    assert.doesNotMatch(r.err, /\n\s+at /);
  });

  it('adds the stack and causes with --debug', async (t) => {
    const root = await tempDir(t);
    const r = await cli(['--debug', 'inputs', join(root, 'missing.json')]);
    assert.equal(r.status, 1);
    assert.match(r.err, /\n\s+at /);
    assert.match(r.err, /caused by:/);
  });
});

describe('ocikit inputs', () => {
  it('prints the parse_containers_input result, paths relative to the inputs file', async (t) => {
    const root = await tempDir(t);
    const { a, b, list, imagesPath, listsPath } = await inputSet(root);
    const r = await cli(['inputs', 'inputs.json'], root);
    assert.equal(r.status, 0, r.err);
    const got = JSON.parse(r.out);
    assert.deepEqual(got[a.configDigest]['manifest-list'], join(listsPath, list.digest));
    assert.equal(got[b.configDigest]['manifest-list'], null);
    const lib = await parseContainersInput({
      images: {
        path: imagesPath,
        data: {
          archives: {
            [a.configDigest]: { format: 'dir', name: 'localhost/a' },
            [b.configDigest]: { format: 'dir', name: 'localhost/b' },
          },
        },
      },
      'manifest-lists': { path: listsPath, data: { files: { [list.digest]: {} } } },
    });
    assert.deepEqual(got, JSON.parse(JSON.stringify(lib)));
  });

  it('exits 1 naming the file for invalid JSON', async (t) => {
    const root = await tempDir(t);
    await writeFile(join(root, 'bad.json'), '{');
    const r = await cli(['inputs', 'bad.json'], root);
    assert.equal(r.status, 1);
    assert.match(r.err, /^ocikit: inputs file bad\.json is not valid JSON/);
  });

  it('refuses an endless or huge input file instead of reading it whole', async () => {
    const r = await cli(['inputs', '/dev/zero']);
    assert.equal(r.status, 1);
    assert.match(r.err, /^ocikit: inputs file \/dev\/zero is larger than \d+ bytes\n$/);
  });

  it('runs as a whole process', async (t) => {
    const root = await tempDir(t);
    const { a } = await inputSet(root);
    const p = spawnSync(BIN, ['inputs', join(root, 'inputs.json')], { encoding: 'utf8' });
    assert.equal(p.status, 0, p.stderr);
    assert.ok(JSON.parse(p.stdout)[a.configDigest]);
    const bad = spawnSync(BIN, ['inputs'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^ocikit: inputs: expected INPUTS\.json\n$/);
  });
});

describe('ocikit merge', () => {
  it('merges and reports the digests', async (t) => {
    const root = await tempDir(t);
    const img = await makeDirImage(join(root, 'img'));
    const list = makeList([img]);
    await writeFile(join(root, 'list.json'), list.bytes);
    const r = await cli(['merge', '--json', 'list.json', 'img', 'out'], root);
    assert.equal(r.status, 0, r.err);
    const j = JSON.parse(r.out);
    assert.equal(j.listDigest, list.digest);
    assert.equal(j.imageDigest, img.manifestDigest);
    assert.ok((await readdir(join(root, 'out'))).includes(`${img.manifestDigest.slice(7)}.manifest.json`));
    const again = await cli(['merge', 'list.json', 'img', 'out'], root);
    assert.equal(again.status, 1);
    assert.match(again.err, /^ocikit: merge target .* exists already\n$/);
  });
});
