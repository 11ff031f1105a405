/**
 * `ocikit digest` and `ocikit is-manifest-list` against the real skopeo: for every fixture file and
 * every case of the digest edge-case corpus, `ocikit digest FILE` must print byte for byte what
 * `skopeo manifest-digest FILE` prints, and fail (exit 1) exactly where skopeo fails. Most runs go
 * through `main()` in-process; a few run the `bin/ocikit` executable (build first).
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { CliContext } from '../../src/cli/command.js';
import { main } from '../../src/cli/main.js';
import { edgeCases } from '../helpers/digest-edge-cases.js';
import { UPSTREAM } from '../helpers/fixtures.js';
import { makeDirImage } from '../helpers/images.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';

const BIN = fileURLToPath(new URL('../../../bin/ocikit', import.meta.url));

interface Run {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString('utf8');
    cb();
  }
}

/** Runs the CLI in-process with captured streams. */
async function ocikit(args: readonly string[], cwd = process.cwd()): Promise<Run> {
  const stdout = new Sink();
  const stderr = new Sink();
  const ctx: CliContext = { stdout, stderr, env: process.env, cwd, signal: new AbortController().signal };
  const status = await main(args, ctx);
  return { status, stdout: stdout.text, stderr: stderr.text };
}

/** Runs an executable as a separate process. */
function runProcess(file: string, args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, [...args], { encoding: 'utf8', maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      const status = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ status, stdout, stderr });
    });
  });
}

/** Maps `f` over `items`, at most `n` at a time, keeping order. */
async function mapLimit<A, B>(items: readonly A[], n: number, f: (a: A) => Promise<B>): Promise<B[]> {
  const out: B[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

function regularFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...regularFiles(p));
    else if (e.isFile()) out.push(p);
  }
  return out.sort();
}

/** Compares ocikit with skopeo on each file; returns the number of files skopeo accepted. */
async function compareWithSkopeo(files: readonly string[], label: (f: string) => string): Promise<number> {
  const results = await mapLimit(files, 4, async (f) => ({
    f,
    skopeo: await runProcess('skopeo', ['manifest-digest', f]),
    ocikit: await ocikit(['digest', f]),
  }));
  const mismatches: string[] = [];
  let accepted = 0;
  for (const { f, skopeo, ocikit: oc } of results) {
    if (skopeo.status === 0) {
      accepted++;
      if (oc.status !== 0 || oc.stdout !== skopeo.stdout) {
        mismatches.push(
          `${label(f)}: skopeo printed ${JSON.stringify(skopeo.stdout)}, ocikit exit ${oc.status} ${JSON.stringify(oc.stdout)} ${oc.stderr}`,
        );
      }
    } else if (oc.status !== 1 || oc.stdout !== '' || !oc.stderr.startsWith('ocikit: ')) {
      mismatches.push(
        `${label(f)}: skopeo failed (${skopeo.stderr.split('\n')[0]}), ocikit exit ${oc.status} ${JSON.stringify(oc.stdout)}`,
      );
    }
  }
  assert.deepEqual(mismatches, []);
  return accepted;
}

describe('ocikit digest = skopeo manifest-digest', () => {
  it('prints what skopeo prints for every file under test/fixtures/upstream, and fails where it fails', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const files = regularFiles(UPSTREAM);
    assert.ok(files.length >= 200, `${files.length} fixture files`);
    const accepted = await compareWithSkopeo(files, (f) => relative(UPSTREAM, f));
    // Skopeo hashes any file; only the six "signatures": 1 copies fail.
    assert.equal(files.length - accepted, 6);
  });

  it('prints what skopeo prints for every digest edge case, and fails where it fails', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const dir = await tempDir(t);
    const cases = edgeCases();
    const files = await Promise.all(
      cases.map(async (c, i) => {
        const f = join(dir, `case-${String(i).padStart(3, '0')}.json`);
        await writeFile(f, c.bytes);
        return f;
      }),
    );
    await compareWithSkopeo(files, (f) => cases[files.indexOf(f)]!.name);
  });

  it('agrees with the expectations written in the edge-case corpus (so manifest.test.ts checks real behaviour)', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const dir = await tempDir(t);
    const { createHash } = await import('node:crypto');
    const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}\n`;
    const wrong: string[] = [];
    await mapLimit(
      edgeCases().map((c, i) => [c, i] as const),
      4,
      async ([c, i]) => {
        const f = join(dir, `e${i}.json`);
        await writeFile(f, c.bytes);
        const r = await runProcess('skopeo', ['manifest-digest', f]);
        const expected =
          c.expect.kind === 'error' ? 'failure' : sha(c.expect.kind === 'plain' ? c.bytes : c.expect.payload);
        const got = r.status === 0 ? r.stdout : 'failure';
        if (got !== expected) wrong.push(`${c.name}: corpus says ${expected.trim()}, skopeo ${got.trim()}`);
      },
    );
    assert.deepEqual(wrong, []);
  });

  it('prints what skopeo prints for freshly generated dir: images (Docker and OCI)', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const files: string[] = [];
    for (const flavour of ['docker', 'oci'] as const) {
      const dir = await tempDir(t);
      await makeDirImage(dir, { flavour });
      files.push(join(dir, 'manifest.json'));
    }
    assert.equal(await compareWithSkopeo(files, (f) => f), 2);
  });

  it('runs as a separate process (bin/ocikit) with the same output and exit codes as skopeo', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const dir = await tempDir(t);
    const missing = join(dir, 'no-such-file.json');
    const cases = [
      join(UPSTREAM, 'containers-image/internal/manifest/testdata/v2s1.manifest.json'),
      join(UPSTREAM, 'skopeo/integration/fixtures/uncompressed-image-s1/manifest.json'),
      join(UPSTREAM, 'skopeo/cmd/skopeo/fixtures/image.manifest.json'),
      join(UPSTREAM, 'skopeo/cmd/skopeo/fixtures/v2s1-invalid-signatures.manifest.json'),
      missing,
    ];
    for (const f of cases) {
      const [s, o] = await Promise.all([runProcess('skopeo', ['manifest-digest', f]), runProcess(BIN, ['digest', f])]);
      assert.equal(o.stdout, s.stdout, f);
      assert.equal(o.status === 0, s.status === 0, f);
      if (o.status !== 0) {
        assert.equal(o.status, 1, f);
        assert.match(o.stderr, /^ocikit: .+\n$/);
      }
    }
    const noFile = await runProcess(BIN, ['digest', missing]);
    assert.ok(noFile.stderr.includes(missing), noFile.stderr);
  });
});

describe('ocikit digest', () => {
  it('prints the upstream-stated digest of the skopeo fixture exactly', async () => {
    const r = await ocikit(['digest', join(UPSTREAM, 'skopeo/cmd/skopeo/fixtures/image.manifest.json')]);
    assert.deepEqual(r, {
      status: 0,
      stdout: 'sha256:20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55\n',
      stderr: '',
    });
  });

  it('resolves a relative FILE against the working directory', async () => {
    const r = await ocikit(['digest', 'image.manifest.json'], join(UPSTREAM, 'skopeo/cmd/skopeo/fixtures'));
    assert.equal(r.stdout, 'sha256:20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55\n');
  });

  it('fails with exit 1 naming the file when it does not exist', async (t) => {
    const f = join(await tempDir(t), 'absent.json');
    const r = await ocikit(['digest', f]);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^ocikit: .*absent\.json/);
  });

  it('fails with exit 1 naming the file when its signatures cannot be parsed', async () => {
    const r = await ocikit([
      'digest',
      join(UPSTREAM, 'skopeo/cmd/skopeo/fixtures/v2s1-invalid-signatures.manifest.json'),
    ]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^ocikit: .*v2s1-invalid-signatures\.manifest\.json: .*signatures/);
  });

  it('fails with exit 1 on a directory', async (t) => {
    const r = await ocikit(['digest', await tempDir(t)]);
    assert.equal(r.status, 1);
  });

  it('refuses a file over 4 MiB with exit 1', async (t) => {
    const f = join(await tempDir(t), 'big.json');
    await writeFile(f, Buffer.alloc(4 * 1024 * 1024 + 1, 0x20));
    const r = await ocikit(['digest', f]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /big\.json/);
  });

  it('refuses an endless device (/dev/zero) after the limit instead of reading it all', async () => {
    // A separate process with a time limit: before the fix this read until memory ran out.
    const r = await new Promise<Run & { signal: string | null }>((resolve) => {
      execFile(BIN, ['digest', '/dev/zero'], { encoding: 'utf8', timeout: 20_000 }, (err, stdout, stderr) => {
        resolve({
          status: err ? (typeof err.code === 'number' ? err.code : -1) : 0,
          signal: err?.signal ?? null,
          stdout,
          stderr,
        });
      });
    });
    assert.equal(r.signal, null, 'ocikit digest /dev/zero did not finish within 20 s');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^ocikit: .*\/dev\/zero.*4194304-byte manifest limit/);
  });

  const usage: [string, string[]][] = [
    ['no argument', ['digest']],
    ['two arguments', ['digest', 'a', 'b']],
    ['an unknown flag', ['digest', '--bogus', 'a']],
  ];
  for (const [name, args] of usage) {
    it(`exits 2 on ${name}`, async () => {
      const r = await ocikit(args);
      assert.equal(r.status, 2);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^ocikit: /);
    });
  }

  it('prints its usage with --help and exits 0', async () => {
    const r = await ocikit(['digest', '--help']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^Usage: ocikit digest FILE/);
  });
});

describe('ocikit is-manifest-list', () => {
  const table: [string, string][] = [
    ['containers-image/internal/manifest/testdata/v2list.manifest.json', 'true\n'],
    ['containers-image/internal/manifest/testdata/ociv1nomime.image.index.json', 'true\n'],
    ['skopeo-observed/layouts/dir-list-merged-osbuild-style/manifest.json', 'true\n'],
    ['containers-image/internal/manifest/testdata/v2s2.manifest.json', 'false\n'],
    ['containers-image/internal/manifest/testdata/v2s1.manifest.json', 'false\n'],
    ['containers-image/oci/layout/fixtures/two_images_manifest/index.json', 'true\n'],
    ['image-spec/backwards-compatibility/docker-config-1.json', 'false\n'],
  ];
  for (const [file, out] of table) {
    it(`prints ${out.trim()} for ${file}`, async () => {
      assert.deepEqual(await ocikit(['is-manifest-list', join(UPSTREAM, file)]), {
        status: 0,
        stdout: out,
        stderr: '',
      });
    });
  }

  const docs: [string, string, string][] = [
    ['no mediaType and manifests []', '{"manifests":[]}', 'true\n'],
    ['mediaType "" with manifests', '{"mediaType":"","manifests":[]}', 'false\n'],
    ['a JSON array', '[{"manifests":[]}]', 'false\n'],
  ];
  for (const [name, text, out] of docs) {
    it(`prints ${out.trim()} for ${name}`, async (t) => {
      const f = join(await tempDir(t), 'doc.json');
      await writeFile(f, text);
      assert.equal((await ocikit(['is-manifest-list', f])).stdout, out);
    });
  }

  const bad: [string, Buffer][] = [
    ['invalid JSON', Buffer.from('{"manifests":')],
    ['a BOM (Python json.loads refuses it)', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{}')])],
    ['invalid UTF-8 (osbuild opens the file as UTF-8)', Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])],
  ];
  for (const [name, bytes] of bad) {
    it(`fails with exit 1 naming the file on ${name}`, async (t) => {
      const f = join(await tempDir(t), 'broken.json');
      await writeFile(f, bytes);
      const r = await ocikit(['is-manifest-list', f]);
      assert.equal(r.status, 1);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^ocikit: .*broken\.json/);
    });
  }

  it('fails with exit 1 on a missing file and exit 2 on a wrong argument count', async (t) => {
    assert.equal((await ocikit(['is-manifest-list', join(await tempDir(t), 'none.json')])).status, 1);
    assert.equal((await ocikit(['is-manifest-list'])).status, 2);
    assert.equal((await ocikit(['is-manifest-list', 'a', 'b'])).status, 2);
  });

  it('runs as a separate process (bin/ocikit)', async () => {
    const f = join(UPSTREAM, 'containers-image/internal/manifest/testdata/schema2list.json');
    assert.ok(statSync(f).isFile());
    const r = await runProcess(BIN, ['is-manifest-list', f]);
    assert.deepEqual(r, { status: 0, stdout: 'true\n', stderr: '' });
  });
});
