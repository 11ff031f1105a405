/**
 * PLACEHOLDER (helper `layerstream`, issue 12): a minimal stand-in for the deploy tree that the
 * `apply` helper writes in this file, so that `deploy` compiles and its tests run before that
 * lands. It writes directories, regular files and symlinks with their modes, refuses `..` and
 * duplicate names, and does none of the real rules (whiteouts, parent symlinks, owners, xattrs,
 * times). The real file replaces this one on merge.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OcikitError } from '../errors.js';
import type { LayerEntry } from '../internal/tar/entry.js';
import type { DeployTree, DeployTreeOptions, LayerApplier } from './types.js';

function rel(name: Buffer, what: string): string {
  const segs = name
    .toString('utf8')
    .split('/')
    .filter((s) => s !== '' && s !== '.');
  if (segs.includes('..')) throw new OcikitError('UNSAFE_PATH', `${what} ${JSON.stringify(name.toString())} has ".."`);
  return segs.join('/');
}

/** PLACEHOLDER: the tree at `root` (see the module header). */
export async function openDeployTree(root: string, _opts: DeployTreeOptions): Promise<DeployTree> {
  return {
    root,
    layer(index: number): LayerApplier {
      const seen = new Set<string>();
      let fd: number | undefined;
      let entries = 0;
      let bytes = 0;
      return {
        entry(e: LayerEntry) {
          entries++;
          const r = rel(e.name, `layer ${index + 1} entry`);
          if (seen.has(r)) throw new OcikitError('INVALID_INPUT', `layer ${index + 1}: duplicate entry ${r}`);
          seen.add(r);
          if (r === '') return;
          const p = path.join(root, r);
          fs.mkdirSync(path.dirname(p), { recursive: true });
          if (e.type === 'directory') {
            if (!fs.existsSync(p)) fs.mkdirSync(p, { mode: e.mode });
          } else if (e.type === 'file') {
            fs.rmSync(p, { recursive: true, force: true });
            fd = fs.openSync(p, 'wx', e.mode);
          } else if (e.type === 'symlink') {
            fs.rmSync(p, { recursive: true, force: true });
            fs.symlinkSync(e.linkname, p);
          } else if (e.type === 'link') {
            fs.rmSync(p, { recursive: true, force: true });
            fs.linkSync(path.join(root, rel(e.linkname, 'link target')), p);
          }
        },
        data(chunk: Buffer) {
          bytes += chunk.length;
          fs.writeSync(fd!, chunk);
        },
        end() {
          if (fd !== undefined) fs.closeSync(fd);
          fd = undefined;
        },
        async finish() {
          return { entries, bytes };
        },
      };
    },
    async remove(p: string): Promise<boolean> {
      const r = rel(Buffer.from(p), 'exclude');
      const full = path.join(root, r);
      const there = fs.existsSync(full);
      fs.rmSync(full, { recursive: true, force: true });
      return there;
    },
    async finish() {},
  };
}
