/**
 * Archives with very many entries: extracting an `oci-archive:` keeps memory bounded whatever the
 * entry count (a million stray entries, measured as the peak RSS of a child process), writes only
 * the OCI layout, and refuses more entries to write than the bound. Timing against skopeo is
 * measured in bench/oci-archive-entries.mjs, not asserted here.
 */
import * as assert from 'node:assert/strict';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isOcikitError } from '../../../src/errors.js';
import { extractTarSafely } from '../../../src/internal/tar/extract.js';
import { withOciArchive } from '../../../src/transports/oci-archive/read.js';
import { writeManyEntriesArchive } from '../../helpers/many-entries.js';
import { runNode } from '../../helpers/process.js';
import { makeArchive } from '../../helpers/tar.js';
import { tempDir } from '../../helpers/tmp.js';

const READER = fileURLToPath(new URL('../../../src/transports/oci-archive/read.js', import.meta.url));
const code = (c: string) => (e: unknown) => isOcikitError(e, c as never);

/** Every file below `dir`, relative, sorted. */
async function filesBelow(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await filesBelow(dir, r)));
    else out.push(r);
  }
  return out.sort();
}

// Run in a child so that its peak RSS is this extraction's alone.
const CHILD = `
const { withOciArchive } = await import(process.argv[1]);
const { readdir } = await import('node:fs/promises');
const [file, tmpdir] = process.argv.slice(2);
const out = await withOciArchive(file, async (reader, layout) => ({
  digest: reader.manifest.digest,
  top: (await readdir(layout)).sort(),
  blobs: (await readdir(layout + '/blobs/sha256')).length,
}), { tmpdir });
console.log(JSON.stringify({ ...out, left: await readdir(tmpdir), maxRssKiB: process.resourceUsage().maxRSS }));
`;

describe('extracting archives with many entries', () => {
  it('reads a million-entry oci-archive with peak RSS under 200 MB, writing only the layout', async (t) => {
    const dir = await tempDir(t);
    const tmp = join(dir, 'tmp');
    await mkdir(tmp);
    const archive = await writeManyEntriesArchive(join(dir, 'a.tar'), 1_000_000);
    assert.equal(archive.entries, 1_000_008);
    let timer: NodeJS.Timeout | undefined;
    const r = await runNode(['--input-type=module', '-e', CHILD, READER, archive.file, tmp], {
      // Bounded: the old extraction took minutes and gigabytes here; a few seconds now.
      onSpawn: (pid) => {
        timer = setTimeout(() => process.kill(pid, 'SIGKILL'), 60_000);
      },
    }).finally(() => clearTimeout(timer));
    assert.equal(r.status, 0, r.stderr);
    const got = JSON.parse(r.stdout) as { digest: string; top: string[]; blobs: number; left: string[] };
    const maxRssKiB = (got as unknown as { maxRssKiB: number }).maxRssKiB;
    assert.equal(got.digest, archive.manifestDigest);
    assert.deepEqual(got.top, ['blobs', 'index.json', 'oci-layout'], 'the stray x/ entries are not written');
    assert.equal(got.blobs, 3);
    assert.deepEqual(got.left, [], 'the extraction is removed');
    assert.ok(maxRssKiB < 200 * 1024, `peak RSS ${Math.round(maxRssKiB / 1024)} MB`);
  });

  it('skips files and directories outside the layout, refuses links there', async (t) => {
    const dir = await tempDir(t);
    const small = await writeManyEntriesArchive(join(dir, 'small.tar'), 3);
    const seen = await withOciArchive(small.file, async (_r, layout) => filesBelow(layout), { tmpdir: dir });
    assert.equal(seen.length, 5);
    assert.deepEqual(
      seen.filter((f) => !f.startsWith('blobs/sha256/')),
      ['index.json', 'oci-layout'],
    );
    for (const entry of [
      { name: 'x/l', type: 'symlink', linkname: '../index.json' },
      { name: 'h', type: 'link', linkname: 'index.json' },
    ] as const) {
      await makeArchive(join(dir, 'l.tar'), [{ name: 'index.json', body: '{}' }, entry]);
      await assert.rejects(
        withOciArchive(join(dir, 'l.tar'), async () => 0, { tmpdir: dir }),
        code('UNSAFE_PATH'),
      );
    }
  });

  it('refuses more entries to write than the bound, naming it', async (t) => {
    const dir = await tempDir(t);
    await makeArchive(
      join(dir, 'a.tar'),
      Array.from({ length: 6 }, (_, i) => ({ name: `f${i}`, body: 'x' })),
    );
    await mkdir(join(dir, 'out'));
    await assert.rejects(extractTarSafely(join(dir, 'a.tar'), join(dir, 'out'), { maxEntries: 5 }), (e: Error) => {
      assert.ok(code('UNSUPPORTED')(e), String(e));
      assert.match(e.message, /more than 5 entries/);
      return true;
    });
    await mkdir(join(dir, 'out2'));
    await extractTarSafely(join(dir, 'a.tar'), join(dir, 'out2'), { maxEntries: 6 });
    assert.equal((await readdir(join(dir, 'out2'))).length, 6);
  });
});
