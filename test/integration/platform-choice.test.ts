/**
 * Differential: the instance of a manifest list ocikit chooses (src/model/platform.ts
 * `chooseInstance`, reached through the dir reader) against the one skopeo 1.9.3 copies, on the
 * same generated `dir:` lists. For every (list, wanted platform) pair skopeo runs
 * `--override-os O --override-arch A [--override-variant V] copy dir:LIST dir:OUT`; the digest of
 * OUT's manifest is the instance it chose. Both must choose the same one, or both must fail
 * (skopeo for the choice, "no image found in …", ocikit with `NOT_FOUND`).
 */
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { isOcikitError } from '../../src/errors.js';
import { runPool } from '../../src/internal/pool.js';
import { sha256 } from '../../src/model/digest.js';
import { type Platform, platformString } from '../../src/model/platform.js';
import { openDirImage } from '../../src/transports/dir/read.js';
import { type Flavour, type GeneratedImage, makeDirImage, makeList, writeListDir } from '../helpers/images.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';

const run = promisify(execFile);

/** An entry's platform, or null for an entry without one. */
type Slot = Platform | null;
const lx = (architecture: string, variant?: string): Platform => ({
  os: 'linux',
  architecture,
  ...(variant ? { variant } : {}),
});

/** The list shapes, each written as a Docker list and as an OCI index. */
const SHAPES: Record<string, readonly Slot[]> = {
  'multi-arch, ascending arm': [lx('amd64'), lx('arm', 'v5'), lx('arm', 'v6'), lx('arm', 'v7'), lx('arm64', 'v8')],
  'descending arm, arm64 without variant': [lx('arm', 'v7'), lx('arm', 'v6'), lx('arm', 'v5'), lx('arm64')],
  'arm64 without, then with v8': [lx('arm64'), lx('arm64', 'v8'), lx('ppc64le')],
  'arm64 with v8, then without': [lx('arm64', 'v8'), lx('arm64'), lx('s390x')],
  'arm without variant among variants': [lx('arm', 'v6'), lx('arm'), lx('arm', 'v8'), lx('riscv64')],
  'non-linux first': [
    { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1' },
    { os: 'darwin', architecture: 'arm64' },
    lx('amd64', 'v2'),
    lx('riscv64'),
  ],
  'no platform first, duplicates': [null, lx('amd64'), lx('amd64'), lx('s390x'), lx('s390x')],
  'only entries without platform and foreign os': [{ os: 'windows', architecture: 'amd64' }, null, null],
  'duplicated arm v7 and ppc64le': [lx('ppc64le'), lx('arm', 'v7'), lx('ppc64le'), lx('arm', 'v7')],
};

/** The platforms asked for (as `--override-os/arch/variant`). */
const WANTED: readonly Platform[] = [
  lx('amd64'),
  lx('amd64', 'v2'),
  lx('arm64'),
  lx('arm64', 'v8'),
  lx('arm'),
  lx('arm', 'v8'),
  lx('arm', 'v7'),
  lx('arm', 'v6'),
  lx('arm', 'v5'),
  lx('ppc64le'),
  lx('s390x'),
  lx('riscv64'),
  { os: 'windows', architecture: 'amd64' },
  { os: 'darwin', architecture: 'arm64' },
];

/** Writes `shape` as a `flavour` list over fresh images (one per entry) at `dir`; returns the list's instances. */
async function writeShape(root: string, dir: string, flavour: Flavour, shape: readonly Slot[]): Promise<string[]> {
  const images: GeneratedImage[] = [];
  for (const [i, slot] of shape.entries()) {
    const platform = slot ?? lx('amd64');
    images.push(await makeDirImage(join(root, `${dir}-img${i}`), { flavour, platform, label: `${dir}-${i}` }));
  }
  // makeList names each image's platform; an entry meant to have none loses it.
  const list = JSON.parse(makeList(images, flavour).bytes.toString()) as { manifests: Record<string, unknown>[] };
  for (const [i, slot] of shape.entries()) if (!slot) delete list.manifests[i]!.platform;
  await writeListDir(join(root, dir), { bytes: Buffer.from(JSON.stringify(list, null, 2)) }, images);
  return images.map((img) => img.manifestDigest);
}

/** What skopeo copied for `want` out of the list at `src`: the instance digest, or its refusal. */
async function skopeoChoice(home: string, src: string, out: string, want: Platform): Promise<string> {
  const flags = ['--override-os', want.os, '--override-arch', want.architecture];
  if (want.variant) flags.push('--override-variant', want.variant);
  try {
    await run('skopeo', [...flags, 'copy', '-q', `dir:${src}`, `dir:${out}`], {
      env: { PATH: process.env.PATH ?? '', HOME: home },
    });
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '');
    assert.match(stderr, /choosing an image from manifest list .*no image found in (manifest list|image index)/);
    return 'refused';
  }
  return sha256(await readFile(join(out, 'manifest.json')));
}

/** What ocikit's dir reader takes out of the list at `src` for `want`. */
async function ocikitChoice(src: string, want: Platform): Promise<string> {
  try {
    return (await openDirImage(src, { platform: want })).manifest.digest;
  } catch (err) {
    if (isOcikitError(err, 'NOT_FOUND')) return 'refused';
    throw err;
  }
}

describe('list instance choice: ocikit vs skopeo 1.9.3', () => {
  it('chooses what skopeo copies, for every generated list and wanted platform', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const root = await tempDir(t, 'ocikit-platform-');
    const home = join(root, 'home');
    await mkdir(join(home, '.config/containers'), { recursive: true });
    await writeFile(
      join(home, '.config/containers/policy.json'),
      JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }),
    );
    const lists: { name: string; dir: string; instances: string[] }[] = [];
    for (const [i, [name, shape]] of Object.entries(SHAPES).entries()) {
      for (const flavour of ['docker', 'oci'] as const) {
        const dir = `list${i}-${flavour}`;
        lists.push({ name: `${flavour} ${name}`, dir, instances: await writeShape(root, dir, flavour, shape) });
      }
    }
    const outcomes: string[] = [];
    const mismatches: string[] = [];
    const tasks = lists.flatMap((l) =>
      WANTED.map((want, w) => async () => {
        const src = join(root, l.dir);
        const [theirs, ours] = await Promise.all([
          skopeoChoice(home, src, join(root, `out-${l.dir}-${w}`), want),
          ocikitChoice(src, want),
        ]);
        const label = (d: string) => (d === 'refused' ? d : `#${l.instances.indexOf(d)}`);
        const line = `${l.name} for ${platformString(want)}: skopeo ${label(theirs)}, ocikit ${label(ours)}`;
        outcomes.push(line);
        if (theirs !== ours) mismatches.push(line);
      }),
    );
    await runPool(tasks, 6);
    t.diagnostic(`${outcomes.length} pairs; ${outcomes.filter((o) => o.includes('skopeo refused')).length} refused`);
    assert.ok(outcomes.length >= 40);
    assert.deepEqual(mismatches, []);
    // The shapes exercise what they are meant to: fallbacks, refusals, and not just entry #0.
    assert.ok(outcomes.some((o) => o.includes('skopeo refused')));
    assert.ok(outcomes.filter((o) => /skopeo #[1-9]/.test(o)).length > 20);
  });
});
