/**
 * `ocikit install` as a command (in process through `main`, and as a whole process: exit
 * statuses, SIGINT mid-install with a fake slow skopeo), the summary text, and the terminal
 * progress renderer.
 */
import * as assert from 'node:assert/strict';
import { chmod, mkdir, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatSummary } from '../../src/cli/commands/install.js';
import type { CliContext } from '../../src/cli/command.js';
import { main } from '../../src/cli/main.js';
import { createProgressRenderer, formatBytes, formatDuration } from '../../src/cli/progress.js';
import type { InstallProgress, InstallSummary } from '../../src/install/install.js';
import { makeDirImage, type GeneratedImage } from '../helpers/images.js';
import { tempDir } from '../helpers/tmp.js';
import { runNode } from '../helpers/process.js';
import { needTool } from '../helpers/tools.js';

const BIN = fileURLToPath(new URL('../../../bin/ocikit', import.meta.url));

interface Captured {
  readonly ctx: CliContext;
  readonly out: () => string;
  readonly err: () => string;
}

function capture(cwd: string, tty = false): Captured {
  let out = '';
  let err = '';
  const stdout = {
    write: (s: string) => {
      out += s;
      return true;
    },
  } as unknown as CliContext['stdout'];
  const stderr = {
    write: (s: string) => {
      err += s;
      return true;
    },
    isTTY: tty,
    columns: 200,
  } as unknown as CliContext['stderr'];
  return {
    ctx: { stdout, stderr, env: {}, cwd, signal: new AbortController().signal },
    out: () => out,
    err: () => err,
  };
}

/** A stage directory: `in/images/<id>` (dir image), `in/inputs.json` with a RELATIVE path, a tree. */
async function stage(
  t: TestContext,
  options: unknown,
  layerSize?: number,
): Promise<{ root: string; img: GeneratedImage; tree: string; tmp: string }> {
  const root = await tempDir(t);
  const gen = await makeDirImage(join(root, 'gen'), layerSize === undefined ? {} : { layerSize, layers: 2 });
  await mkdir(join(root, 'in', 'images'), { recursive: true });
  const dir = join(root, 'in', 'images', gen.configDigest);
  await rename(gen.dir, dir);
  await writeFile(
    join(root, 'in', 'inputs.json'),
    JSON.stringify({
      images: {
        path: 'images',
        data: { archives: { [gen.configDigest]: { format: 'dir', name: 'localhost/cli:latest' } } },
      },
    }),
  );
  await writeFile(join(root, 'options.json'), JSON.stringify(options));
  for (const d of ['tree', 'tmp', 'run']) await mkdir(join(root, d));
  return { root, img: { ...gen, dir }, tree: join(root, 'tree'), tmp: join(root, 'tmp') };
}

const ARGS = [
  'install',
  '--inputs',
  'in/inputs.json',
  '--options',
  'options.json',
  '--tree',
  'tree',
  '--runroot',
  'run',
];

function runProcess(args: string[], cwd: string, env: Record<string, string>, onSpawn?: (pid: number) => void) {
  return runNode([BIN, ...args], { cwd, env, ...(onSpawn ? { onSpawn } : {}) });
}

async function waitFor(file: string, ms: number): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    if (
      await stat(file).then(
        () => true,
        () => false,
      )
    )
      return;
    if (Date.now() > until) throw new Error(`${file} did not appear within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('ocikit install (command)', () => {
  it('installs into an oci layout, rebasing relative input paths, and prints JSON with --json', async (t) => {
    const s = await stage(t, { destination: { type: 'oci', path: '/usr/share/oci' } });
    const c = capture(s.root);
    const status = await main([...ARGS, '--json'], c.ctx);
    assert.equal(status, 0, c.err());
    const summary = JSON.parse(c.out()) as InstallSummary;
    assert.deepEqual(summary.images, [
      {
        name: 'localhost/cli:latest',
        imageId: s.img.configDigest,
        manifestDigest: s.img.manifestDigest,
        listDigest: null,
        destination: `oci:${join(s.tree, 'usr/share/oci')}:localhost/cli:latest`,
      },
    ]);
    assert.equal(c.err(), '', 'nothing on a stderr that is not a terminal');
  });

  it('prints the text summary without --json', async (t) => {
    const s = await stage(t, { destination: { type: 'dir', path: '/d' } });
    const c = capture(s.root);
    assert.equal(await main(ARGS, c.ctx), 0, c.err());
    assert.match(c.out(), /^Installed 1 image into dir at .*\/tree\/d:\n {2}localhost\/cli:latest\n/);
    assert.ok(c.out().includes(`image ID   ${s.img.configDigest}`));
  });

  it('draws progress on a terminal stderr and clears it', async (t) => {
    const s = await stage(t, { destination: { type: 'oci-archive', path: '/a.tar' } });
    const c = capture(s.root, true);
    assert.equal(await main(ARGS, c.ctx), 0, c.err());
    assert.match(c.err(), /\[1\/1\] localhost\/cli:latest {2}\d/);
  });

  for (const type of ['oci', 'dir'] as const) {
    it(`hard-links the input's blob files into ${type} with --link-inputs, each verified`, async (t) => {
      const s = await stage(t, { destination: { type, path: '/l' } }, 1024 * 1024);
      const c = capture(s.root);
      assert.equal(await main([...ARGS, '--link-inputs'], c.ctx), 0, c.err());
      for (const l of s.img.layers) {
        const hex = l.digest.slice(7);
        const placed = await stat(join(s.tree, 'l', ...(type === 'oci' ? ['blobs', 'sha256', hex] : [hex])));
        const input = await stat(join(s.img.dir, hex));
        assert.equal(placed.ino, input.ino, `layer ${l.digest} is the input's file`);
        assert.equal(input.nlink, 2);
      }
    });
  }

  for (const type of ['oci-archive', 'containers-storage'] as const) {
    it(`exits 1 for --link-inputs with a ${type} destination, writing nothing`, async (t) => {
      const s = await stage(t, { destination: { type, ...(type === 'oci-archive' ? { path: '/a.tar' } : {}) } });
      const c = capture(s.root);
      assert.equal(await main([...ARGS, '--link-inputs'], c.ctx), 1);
      assert.equal(c.err(), `ocikit: linking inputs is for oci and dir destinations, not ${type}\n`);
      assert.deepEqual(await readdir(s.tree), []);
    });
  }

  const usage: [string, string[]][] = [
    ['without --tree', ['install', '--inputs', 'i.json', '--options', 'o.json']],
    ['without --inputs', ['install', '--options', 'o.json', '--tree', 't']],
    ['with a positional argument', [...ARGS, 'extra']],
    ['with an unknown flag', [...ARGS, '--fast']],
  ];
  for (const [title, args] of usage) {
    it(`exits 2 ${title}`, async (t) => {
      const root = await tempDir(t);
      const c = capture(root);
      assert.equal(await main(args, c.ctx), 2);
      assert.match(c.err(), /^ocikit: install: /);
    });
  }

  it('exits 1 naming the bad option field, as a whole process', async (t) => {
    const s = await stage(t, { destination: { type: 'oci', path: '/o' }, 'remove-signature': true });
    const r = await runProcess(ARGS, s.root, { TMPDIR: s.tmp });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^ocikit: invalid install options: remove-signature: unknown option/);
    assert.deepEqual(await readdir(s.tree), []);
  });

  it('exits 1 for a destination escaping the tree, as a whole process', async (t) => {
    const s = await stage(t, { destination: { type: 'oci', path: '../../escape' } });
    const r = await runProcess(ARGS, s.root, { TMPDIR: s.tmp });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /\.\./);
    await assert.rejects(stat(join(s.root, '..', 'escape')), { code: 'ENOENT' });
  });

  // A slow fake skopeo: it creates what skopeo would create first (the store, or the dir: copy),
  // says it has started, and sleeps until killed.
  const sigintCases: [string, unknown, boolean][] = [
    ['into containers-storage', { destination: { type: 'containers-storage', 'storage-driver': 'vfs' } }, false],
    ['into oci from a containers-storage input', { destination: { type: 'oci', path: '/usr/share/oci' } }, true],
  ];
  for (const [title, options, storageInput] of sigintCases) {
    it(`exits 130 on SIGINT mid-install ${title}, leaving no temporary files and nothing at the destination`, async (t) => {
      const s = await stage(t, options);
      if (storageInput) {
        await mkdir(join(s.root, 'in', 'images', 'storage'));
        const key = `sha256:${'e'.repeat(64)}`;
        const archives = {
          [key]: { format: 'containers-storage', name: 'localhost/cs:latest', storage: { driver: 'vfs' } },
        };
        await writeFile(
          join(s.root, 'in', 'inputs.json'),
          JSON.stringify({ images: { path: 'images', data: { archives } } }),
        );
      }
      const fake = join(s.root, 'fake-skopeo');
      const marker = join(s.root, 'started');
      await writeFile(
        fake,
        `#!/bin/sh\nfor a in "$@"; do last="$a"; done\ncase "$last" in dir:*) mkdir -p "\${last#dir:}";; *) mkdir -p "$FAKE_STORE";; esac\ntouch "$FAKE_MARKER"\nexec sleep 30\n`,
      );
      await chmod(fake, 0o755);
      let pid = 0;
      const done = runProcess(
        ARGS,
        s.root,
        {
          TMPDIR: s.tmp,
          OCIKIT_SKOPEO: fake,
          FAKE_STORE: join(s.tree, 'var/lib/containers/storage'),
          FAKE_MARKER: marker,
        },
        (p) => (pid = p),
      );
      await waitFor(marker, 20000);
      assert.ok((await readdir(s.tmp)).length > 0, 'a temporary directory is held while skopeo runs');
      assert.deepEqual(await readdir(s.tree), [storageInput ? 'usr' : 'var'], 'the destination is under way');
      process.kill(pid, 'SIGINT');
      const r = await done;
      assert.equal(r.status, 130, r.stderr);
      assert.match(r.stderr, /ocikit: interrupted/);
      assert.deepEqual(await readdir(s.tmp), [], 'no temporary file may remain');
      assert.deepEqual(await readdir(s.tree), [], 'nothing may remain at the destination');
    });
  }

  it('installs into containers-storage as a whole process (real skopeo)', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const s = await stage(t, { destination: { type: 'containers-storage', 'storage-driver': 'vfs' } });
    const r = await runProcess([...ARGS, '--json'], s.root, { TMPDIR: s.tmp });
    assert.equal(r.status, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as InstallSummary;
    assert.equal(summary.images[0]!.imageId, s.img.configDigest);
    assert.equal(r.stderr, '');
    assert.deepEqual(await readdir(s.tmp), []);
  });
});

describe('formatSummary', () => {
  it('lists each image with its IDs, the list digest only when there is one', () => {
    const text = formatSummary({
      tree: '/t',
      destination: { type: 'containers-storage', storagePath: '/s', storageDriver: 'vfs', location: '/t/s' },
      removeSignatures: false,
      images: [
        {
          name: 'localhost/a',
          imageId: 'sha256:1',
          manifestDigest: 'sha256:2',
          listDigest: 'sha256:3',
          destination: 'containers-storage:[vfs@/t/s+/r]localhost/a',
        },
        {
          name: 'localhost/b',
          imageId: 'sha256:4',
          manifestDigest: 'sha256:5',
          listDigest: null,
          destination: 'containers-storage:[vfs@/t/s+/r]localhost/b',
        },
      ],
    });
    assert.equal(
      text,
      [
        'Installed 2 images into containers-storage at /t/s (driver vfs):',
        '  localhost/a',
        '    image ID   sha256:1',
        '    manifest   sha256:2',
        '    list       sha256:3',
        '    written    containers-storage:[vfs@/t/s+/r]localhost/a',
        '  localhost/b',
        '    image ID   sha256:4',
        '    manifest   sha256:5',
        '    written    containers-storage:[vfs@/t/s+/r]localhost/b',
      ].join('\n'),
    );
  });
});

describe('createProgressRenderer', () => {
  const ev = (e: Partial<InstallProgress>): InstallProgress => ({
    index: 0,
    count: 1,
    name: 'localhost/x',
    phase: 'progress',
    bytes: 0,
    total: 1000,
    ...e,
  });
  function tty(isTTY = true) {
    let text = '';
    return { stream: { isTTY, columns: 120, write: (s: string) => (text += s) }, text: () => text };
  }

  it('writes nothing when the stream is not a terminal', () => {
    const s = tty(false);
    const r = createProgressRenderer(s.stream);
    r.onProgress(ev({ phase: 'start' }));
    r.onProgress(ev({ bytes: 500 }));
    r.onProgress(ev({ phase: 'done', bytes: 1000 }));
    r.finish();
    assert.equal(s.text(), '');
  });

  it('shows bytes, percent, rate and time left, then a done line', () => {
    const s = tty();
    let now = 0;
    const r = createProgressRenderer(s.stream, { now: () => now, interval: 0, tick: 0 });
    r.onProgress(ev({ phase: 'start', total: 4 * 1024 * 1024 }));
    now = 1000;
    r.onProgress(ev({ bytes: 1024 * 1024, total: 4 * 1024 * 1024 }));
    assert.ok(
      s.text().endsWith('[1/1] localhost/x  1.0 MiB / 4.0 MiB  25%  1.0 MiB/s  0:03 left'),
      JSON.stringify(s.text()),
    );
    now = 4000;
    r.onProgress(ev({ phase: 'done', bytes: 4 * 1024 * 1024, total: 4 * 1024 * 1024 }));
    assert.ok(s.text().endsWith('\r\x1b[2K[1/1] localhost/x  4.0 MiB in 0:04 (1.0 MiB/s)\n'), JSON.stringify(s.text()));
  });

  it('shows an indeterminate line with skopeo status for skopeo copies', () => {
    const s = tty();
    let now = 0;
    const r = createProgressRenderer(s.stream, { now: () => now, interval: 0, tick: 0 });
    r.onProgress(ev({ phase: 'start', total: null }));
    now = 2000;
    r.onProgress(ev({ total: null, status: 'Copying blob sha256:abc' }));
    assert.ok(s.text().endsWith('[1/1] localhost/x  0:02  Copying blob sha256:abc'), JSON.stringify(s.text()));
  });

  it('redraws several images in flight as a block and erases it on finish', () => {
    const s = tty();
    const r = createProgressRenderer(s.stream, { now: () => 0, interval: 0, tick: 0 });
    r.onProgress(ev({ phase: 'start', index: 0, count: 2 }));
    r.onProgress(ev({ phase: 'start', index: 1, count: 2, name: 'localhost/y' }));
    const before = s.text().length;
    r.onProgress(ev({ index: 1, count: 2, name: 'localhost/y', bytes: 10 }));
    assert.ok(
      s.text().slice(before).startsWith('\r\x1b[2K\x1b[1A\r\x1b[2K[1/2] localhost/x'),
      JSON.stringify(s.text().slice(before)),
    );
    const mid = s.text().length;
    r.finish();
    assert.equal(s.text().slice(mid), '\r\x1b[2K\x1b[1A\r\x1b[2K');
  });

  it('throttles redraws of in-flight lines', () => {
    const s = tty();
    let now = 0;
    const r = createProgressRenderer(s.stream, { now: () => now, interval: 100, tick: 0 });
    r.onProgress(ev({ phase: 'start' }));
    const after = s.text().length;
    now = 50;
    r.onProgress(ev({ bytes: 1 }));
    assert.equal(s.text().length, after);
    now = 150;
    r.onProgress(ev({ bytes: 2 }));
    assert.ok(s.text().length > after);
  });

  it('keeps redrawing silent images in flight, and stops when none is left', async () => {
    const s = tty();
    let now = 0;
    const r = createProgressRenderer(s.stream, { now: () => now, tick: 5 });
    r.onProgress(ev({ phase: 'start', total: null }));
    now = 3000;
    await new Promise((res) => setTimeout(res, 60));
    assert.ok(s.text().endsWith('[1/1] localhost/x  0:03'), JSON.stringify(s.text()));
    r.onProgress(ev({ phase: 'done', total: null }));
    const after = s.text();
    now = 9000;
    await new Promise((res) => setTimeout(res, 30));
    assert.equal(s.text(), after);
  });

  it('cuts lines to the terminal width', () => {
    for (const [columns, width] of [
      [30, 29],
      [0, 79],
      [undefined, 79],
    ] as const) {
      const s = {
        isTTY: true,
        columns,
        text: '',
        write(x: string) {
          this.text += x;
        },
      };
      const r = createProgressRenderer(s, { now: () => 0, tick: 0 });
      r.onProgress(ev({ phase: 'start', name: `localhost/${'a-very-long-image-name-'.repeat(5)}:latest` }));
      assert.equal(s.text.length, width, `columns ${columns}`);
      assert.ok(s.text.endsWith('…'));
    }
  });
});

describe('formatBytes', () => {
  for (const [n, text] of [
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1.0 KiB'],
    [1536, '1.5 KiB'],
    [300 * 1024 * 1024, '300.0 MiB'],
    [3 * 1024 ** 4, '3.0 TiB'],
  ] as const) {
    it(`${n} → ${text}`, () => assert.equal(formatBytes(n), text));
  }
});

describe('formatDuration', () => {
  for (const [s, text] of [
    [0, '0:00'],
    [7.4, '0:07'],
    [754, '12:34'],
    [3723, '1:02:03'],
    [-5, '0:00'],
  ] as const) {
    it(`${s} s → ${text}`, () => assert.equal(formatDuration(s), text));
  }
});
