/**
 * The layer rule of ARCHITECTURE.md, enforced: every import in `src/` is parsed and checked against
 * the layer of the importing module (after go-containerregistry's `cmd/crane/depcheck_test.go`,
 * which fails the build on a forbidden package edge).
 *
 * Lowest first: L0 `errors`, `internal/`, `gojson/`; L1 `model/`; L2 `transports/`, `registry/`,
 * `auth/`, `config/`, `tools/`, `trust/`; L3 `osbuild/`; L4 `install/`, `fetch/`, `resolve/`, `deploy/`; L5 `embed/`; L6 `cli/`; `index.ts` on
 * top. A module may import its own layer or lower ones, never a higher one. Folders of one layer
 * from L2 up are independent of each other except for the edges listed in {@link SIBLING_EDGES};
 * and only `internal/exec.ts` may import `node:child_process`.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/** Layer of each top-level unit of `src/` (a folder, or a file directly under `src/`). */
const LAYERS: Readonly<Record<string, number>> = {
  'errors.ts': 0,
  internal: 0,
  gojson: 0,
  model: 1,
  transports: 2,
  registry: 2,
  auth: 2,
  config: 2,
  tools: 2,
  trust: 2,
  osbuild: 3,
  install: 4,
  fetch: 4,
  resolve: 4,
  deploy: 4,
  embed: 5,
  cli: 6,
  'index.ts': 7,
};

/**
 * Allowed edges between different units of one layer (L2 and up), and between the transports'
 * own folders: `oci-archive` is an `oci` layout inside a tar, the registry client asks `auth`
 * for credentials and `config` for the host configuration (registries.conf, certs.d), and fetches
 * signatures in the shape `trust` verifies them, and the reference dispatcher (`transports/reference.ts`) reuses the
 * containers-storage grammar. A transport folder may always use the shared `transports/*.ts` files.
 */
const SIBLING_EDGES: ReadonlySet<string> = new Set([
  'transports/oci-archive -> transports/oci',
  'registry -> auth',
  'registry -> config',
  'registry -> trust',
  'transports -> transports/containers-storage',
  // deploy opens its one input image exactly as install's native path does (open-readers.ts).
  'deploy -> install',
]);

/** The units whose folders of one layer must not reach into each other. */
const INDEPENDENT_FROM = 2;

interface Edge {
  from: string;
  to: string;
  line: number;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out.sort();
}

/** Every module specifier of static imports, re-exports and dynamic `import()` in `text`. */
export function importSpecifiers(text: string): { spec: string; line: number }[] {
  const out: { spec: string; line: number }[] = [];
  // Comments are blanked (kept as spaces and newlines) so that examples in TSDoc are not imports.
  const code = text.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, (c) => c.replace(/[^\n]/g, ' '));
  const re =
    /(?:\bimport|\bexport)\s*(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const m of code.matchAll(re)) {
    const spec = m[1] ?? m[2];
    if (spec === undefined) continue;
    out.push({ spec, line: code.slice(0, m.index).split('\n').length });
  }
  return out;
}

/** `transports/oci/read.ts` → `transports/oci`; `model/digest.ts` → `model`; `errors.ts` → `errors.ts`. */
function unitOf(rel: string): { top: string; unit: string } {
  const parts = rel.split('/');
  const top = parts.length === 1 ? rel : (parts[0] as string);
  const unit = top === 'transports' && parts.length > 2 ? `transports/${parts[1]}` : top;
  return { top, unit };
}

function edges(): Edge[] {
  const all: Edge[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = relative(SRC, file);
    for (const { spec, line } of importSpecifiers(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('.')) {
        const to = normalize(join(dirname(from), spec)).replace(/\.js$/, '.ts');
        all.push({ from, to, line });
      } else {
        all.push({ from, to: spec, line });
      }
    }
  }
  return all;
}

/** The reasons an edge breaks the rule, or an empty list. */
function violations(e: Edge): string[] {
  const out: string[] = [];
  if ((e.to === 'node:child_process' || e.to === 'child_process') && e.from !== 'internal/exec.ts') {
    out.push('only internal/exec.ts may import node:child_process');
  }
  if (e.to.startsWith('node:') || !e.to.endsWith('.ts')) return out;
  if (e.to.startsWith('..')) return [...out, 'imports from outside src/'];
  const a = unitOf(e.from);
  const b = unitOf(e.to);
  const la = LAYERS[a.top];
  const lb = LAYERS[b.top];
  if (la === undefined) return [...out, `${a.top} has no layer in the layer table`];
  if (lb === undefined) return [...out, `${b.top} has no layer in the layer table`];
  if (lb > la) out.push(`layer ${la} (${a.top}) imports layer ${lb} (${b.top})`);
  else if (lb === la && la >= INDEPENDENT_FROM && a.unit !== b.unit) {
    const sharedTransport = a.top === 'transports' && b.top === 'transports' && b.unit === 'transports';
    if (!sharedTransport && !SIBLING_EDGES.has(`${a.unit} -> ${b.unit}`)) {
      out.push(`${a.unit} and ${b.unit} are independent units of layer ${la}`);
    }
  }
  return out;
}

describe('layer rule', () => {
  it('parses static, type-only, re-export and dynamic imports, and ignores comments', () => {
    const text = [
      "import { a } from './a.js';",
      "import type { B } from '../b.js';",
      "export * from './c.js';",
      "export { d, type E } from './d.js';",
      "import './side-effect.js';",
      "const m = await import('./lazy.js');",
      "// import { no } from './comment.js';",
      "/** import { no } from './doc.js'; */",
      'import {',
      '  multi,',
      "} from './multi.js';",
    ].join('\n');
    assert.deepEqual(
      importSpecifiers(text).map((s) => s.spec),
      ['./a.js', '../b.js', './c.js', './d.js', './side-effect.js', './lazy.js', './multi.js'],
    );
  });

  it('judges edges: upward refused, downward allowed, siblings and child_process checked', () => {
    const v = (from: string, to: string) => violations({ from, to, line: 1 });
    assert.equal(v('model/manifest.ts', 'errors.ts').length, 0);
    assert.equal(v('install/install.ts', 'osbuild/inputs.ts').length, 0);
    assert.equal(v('transports/oci-archive/read.ts', 'transports/oci/read.ts').length, 0);
    assert.equal(v('transports/dir/read.ts', 'transports/reader.ts').length, 0);
    assert.equal(v('registry/client.ts', 'auth/auth-files.ts').length, 0);
    assert.match(v('model/manifest.ts', 'transports/reader.ts')[0] ?? '', /layer 1 \(model\) imports layer 2/);
    assert.match(v('internal/fs.ts', 'model/digest.ts')[0] ?? '', /layer 0/);
    assert.match(v('transports/oci/read.ts', 'transports/dir/read.ts')[0] ?? '', /independent/);
    assert.match(v('config/storage-conf.ts', 'registry/client.ts')[0] ?? '', /independent/);
    assert.match(v('fetch/fetch.ts', 'install/install.ts')[0] ?? '', /independent/);
    assert.match(v('osbuild/container-source.ts', 'node:child_process')[0] ?? '', /child_process/);
    assert.equal(v('internal/exec.ts', 'node:child_process').length, 0);
    assert.match(v('newfolder/x.ts', 'errors.ts')[0] ?? '', /no layer/);
  });

  it('holds for every import in src/', () => {
    const all = edges();
    assert.ok(all.length > 100, `expected the import graph of src/, found ${all.length} edges`);
    const bad = all.flatMap((e) => violations(e).map((why) => `src/${e.from}:${e.line} imports ${e.to}: ${why}`));
    assert.deepEqual(bad, []);
  });
});
