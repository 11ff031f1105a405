/**
 * bootc's logically bound images of a tree, read as bootc reads them (containers/bootc
 * `lib/src/boundimage.rs` `query_bound_images`, docs `logically-bound-images.md`):
 *
 * - the directory is `usr/lib/bootc/bound-images.d` of the tree; a tree without it binds nothing;
 * - every entry must be a symlink (bootc: "Not a symlink"), its name valid UTF-8, and its name's
 *   extension says the kind: `.image` (the `Image=` key of the `[Image]` section; `AuthFile=` is
 *   refused, as bootc refuses it) or `.container` (`Image=` of `[Container]`); any other is refused;
 * - the link is followed inside the tree, never the host's: bootc opens it with `RESOLVE_IN_ROOT`,
 *   so an absolute target and a `..` climbing above the root both stay in the tree (`..` at the
 *   root is the root, as in a chroot);
 * - the value's systemd specifiers are refused and `%%` is `%` (bootc's `parse_spec_value`).
 *
 * The unit files are read with the INI rules of bootc's parser (the `tini` crate): lines trimmed,
 * `#` and `;` lines are comments, `[Section]` headers, `key=value` split at the first `=` with
 * both sides trimmed, the last value of a repeated key wins. That parser does not join lines, while
 * systemd joins a line ending in `\` with the next: ocikit refuses such a line rather than pick one
 * reading. An `Image=` naming another quadlet unit (`foo.image`, `foo.build`) is refused too:
 * bootc would hand it to `podman pull`, which cannot pull it.
 */
import type { Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { OcikitError, fromSystemError } from '../errors.js';
import { readNamedFile } from '../internal/fs.js';

/** bootc's directory of bound images, relative to the tree. */
export const BOUND_IMAGES_DIR = 'usr/lib/bootc/bound-images.d';

/** Symlinks followed in one lookup at most (Linux's `MAXSYMLINKS`). */
const MAX_LINKS = 40;
const MAX_UNIT_FILE = 1024 * 1024;

/**
 * One bound image of a tree.
 * @category Embed
 */
export interface BoundImage {
  /** The entry of `usr/lib/bootc/bound-images.d` (a file name). */
  readonly entry: string;
  /** The unit file the entry leads to, relative to the tree (`usr/share/containers/systemd/app.image`). */
  readonly file: string;
  /** The image reference of its `Image=` key. */
  readonly ref: string;
  /** Whether the reference names a digest (`@sha256:…`); a tag alone can change under the build. */
  readonly pinned: boolean;
}

function invalid(what: string, message: string): OcikitError {
  return new OcikitError('INVALID_INPUT', `${what}: ${message}`);
}

/**
 * The `Image=` value of `section` in a quadlet unit's text (`what` names the file in messages).
 * @throws OcikitError `INVALID_INPUT` (no `Image=`, a continuation line, a malformed line),
 *   `UNSUPPORTED` (`AuthFile=` in an `.image`, systemd specifiers, another unit as the image).
 * @category Embed
 */
export function quadletImage(text: string, section: 'Image' | 'Container', what: string): string {
  let current: string | undefined;
  let image: string | undefined;
  let authFile = false;
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    const at = `${what} line ${i + 1}`;
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.endsWith('\\'))
      throw invalid(at, "a line continued with '\\' (bootc's parser does not join lines; systemd does)");
    if (line.startsWith('[')) {
      if (!line.endsWith(']')) throw invalid(at, `a malformed section header ${JSON.stringify(line)}`);
      current = line.slice(1, -1).trim();
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) throw invalid(at, `not a key=value line: ${JSON.stringify(line)}`);
    if (current !== section) continue;
    const key = line.slice(0, eq).trim();
    if (key === 'Image') image = line.slice(eq + 1).trim();
    else if (key === 'AuthFile' && section === 'Image') authFile = true;
  }
  if (authFile) throw new OcikitError('UNSUPPORTED', `${what}: AuthFile= is not supported for bound images (as bootc)`);
  if (image === undefined || image === '') throw invalid(what, `no Image= in its [${section}] section`);
  const value = specValue(image, what);
  if (/\.(image|build)$/.test(value))
    throw new OcikitError('UNSUPPORTED', `${what}: Image=${value} names a quadlet unit, not an image reference`);
  return value;
}

/** A value with systemd's specifiers refused and `%%` read as `%` (bootc's `parse_spec_value`). */
function specValue(value: string, what: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c !== '%') {
      out += c;
      continue;
    }
    if (value[i + 1] !== '%')
      throw new OcikitError(
        'UNSUPPORTED',
        `${what}: Image=${value}: systemd specifiers are not supported for bound images (as bootc)`,
      );
    out += '%';
    i++;
  }
  return out;
}

/**
 * `rel` resolved inside `root` as `openat2(RESOLVE_IN_ROOT)` does: symlinks followed with the root
 * as `/`, `..` never above it. Returns the tree-relative path of the final file.
 */
async function resolveInRoot(root: string, rel: string, what: string): Promise<string> {
  const done: string[] = [];
  let todo = rel.split('/').filter((c) => c !== '' && c !== '.');
  let links = 0;
  while (todo.length > 0) {
    const c = todo.shift()!;
    if (c === '..') {
      done.pop();
      continue;
    }
    const host = path.join(root, ...done, c);
    let st: Stats;
    try {
      st = await fs.lstat(host);
    } catch (err) {
      throw fromSystemError(err, what, path.join(...done, c));
    }
    if (!st.isSymbolicLink()) {
      done.push(c);
      continue;
    }
    if (++links > MAX_LINKS) throw invalid(what, `more than ${MAX_LINKS} symlinks`);
    const target = await fs.readlink(host);
    const parts = target.split('/').filter((p) => p !== '' && p !== '.');
    if (target.startsWith('/')) done.length = 0;
    todo = [...parts, ...todo];
  }
  return done.join('/');
}

/**
 * The bound images of `tree`, in entry-name order (bootc reads them in directory order; sorting
 * makes the result reproducible).
 * @throws OcikitError `INVALID_INPUT` (an entry that is not a symlink, a name that is not UTF-8, an
 *   unknown extension, a unit without `Image=`), `NOT_FOUND` (a dangling link), `UNSUPPORTED`, `IO`.
 * @category Embed
 */
export async function readBoundImages(tree: string): Promise<BoundImage[]> {
  const dir = path.join(tree, BOUND_IMAGES_DIR);
  let names: Buffer[];
  try {
    names = await fs.readdir(dir, { encoding: 'buffer' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fromSystemError(err, 'bound images directory', dir);
  }
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const entries = names.map((n) => {
    try {
      return decoder.decode(n);
    } catch {
      throw invalid(`${BOUND_IMAGES_DIR}`, `an entry name that is not UTF-8: ${JSON.stringify(n.toString('latin1'))}`);
    }
  });
  const out: BoundImage[] = [];
  for (const entry of entries.sort()) {
    const what = `${BOUND_IMAGES_DIR}/${entry}`;
    const st = await fs.lstat(path.join(dir, entry)).catch((err: unknown) => {
      throw fromSystemError(err, 'bound image', what);
    });
    if (!st.isSymbolicLink()) throw invalid(what, 'not a symlink (bootc binds images through symlinks only)');
    const ext = path.extname(entry);
    const section = ext === '.image' ? 'Image' : ext === '.container' ? 'Container' : undefined;
    if (section === undefined) throw invalid(what, 'neither a .image nor a .container file');
    const file = await resolveInRoot(tree, `${BOUND_IMAGES_DIR}/${entry}`, what);
    const text = (
      await readNamedFile(path.join(tree, file), 'bound image unit', {
        maxBytes: MAX_UNIT_FILE,
        label: `${what} -> /${file}`,
      })
    ).toString('utf8');
    const ref = quadletImage(text, section, `${what} (/${file})`);
    out.push({ entry, file, ref, pinned: /@sha256:[0-9a-f]{64}$/.test(ref) });
  }
  return out;
}
