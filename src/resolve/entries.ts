/**
 * The entries a resolve takes: references, or an entries file in one of the shapes users already
 * have (no new format):
 *
 * - a blueprint's top-level `containers` array (osbuild/blueprint `pkg/blueprint/blueprint.go`
 *   `Container`: `source`, `name`, `tls-verify`, `local-storage`), in TOML (`[[containers]]`) or
 *   JSON; a whole blueprint may be given, its other top-level keys are ignored;
 * - osbuild-mpp's `mpp-resolve-images` `images` array (osbuild/osbuild `tools/osbuild-mpp`):
 *   `source`, `tag`, `digest`, `name`, `index`, `arch`, `os`, `variant`, `containers-transport`,
 *   with mpp's defaults (the name is `source[:tag]` as written; `index` false drops the list digest).
 *
 * Unknown keys inside an entry are refused.
 */
import { OcikitError, isOcikitError } from '../errors.js';
import { readNamedFile } from '../internal/fs.js';
import { describeValue, isRecord } from '../internal/guards.js';
import { parseTomlDocument } from '../config/toml.js';
import { isDigest } from '../model/digest.js';
import type { PlatformChoice } from './arch.js';

/**
 * One image to resolve; its `arch`, `variant` and `os` (mpp's), when set, replace the run's.
 * @category Resolve
 */
export interface ResolveEntry extends PlatformChoice {
  /** The reference: `name[:tag][@digest]`. */
  readonly ref: string;
  /** The name to store the image as (default: the normalised `domain/path:tag`). */
  readonly name?: string | undefined;
  /** `tls-verify`: false allows plain HTTP and unverified TLS; default: the run's, else the host configuration. */
  readonly tlsVerify?: boolean | undefined;
  /** Resolve from the host's containers-storage (blueprint `local-storage`); default: the run's. */
  readonly local?: boolean | undefined;
  /** Keep the list digest (default true; mpp's `index`, default false in that shape). */
  readonly list?: boolean | undefined;
}

const MAX_ENTRIES_FILE = 16 * 1024 * 1024;
const BLUEPRINT_KEYS = new Set(['source', 'name', 'tls-verify', 'local-storage']);
const MPP_KEYS = new Set(['source', 'tag', 'digest', 'name', 'index', 'arch', 'os', 'variant', 'containers-transport']);

function invalid(file: string, message: string): OcikitError {
  return new OcikitError('INVALID_INPUT', `${file}: ${message}`);
}

function fields(e: unknown, at: string, file: string, keys: ReadonlySet<string>) {
  if (!isRecord(e)) throw invalid(file, `${at} must be a table, not ${describeValue(e)}`);
  for (const k of Object.keys(e)) if (!keys.has(k)) throw invalid(file, `${at}: unknown key ${JSON.stringify(k)}`);
  const str = (k: string, required = false): string | undefined => {
    const v = e[k];
    if (v === undefined && !required) return undefined;
    if (typeof v !== 'string' || v === '')
      throw invalid(file, `${at}.${k} must be a non-empty string, not ${describeValue(v)}`);
    return v;
  };
  const bool = (k: string): boolean | undefined => {
    const v = e[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') throw invalid(file, `${at}.${k} must be a boolean, not ${describeValue(v)}`);
    return v;
  };
  return { str, bool };
}

/**
 * The entries of a parsed entries document (`file` names it in messages).
 * @throws OcikitError `INVALID_INPUT` naming the file and the entry.
 * @category Resolve
 */
export function parseEntries(doc: unknown, file: string): ResolveEntry[] {
  if (!isRecord(doc)) throw invalid(file, `must be a table or object, not ${describeValue(doc)}`);
  const hasContainers = doc.containers !== undefined;
  const images = isRecord(doc['mpp-resolve-images']) ? doc['mpp-resolve-images'].images : doc.images;
  if (!hasContainers && images === undefined)
    throw invalid(file, 'has neither "containers" (a blueprint) nor "images" (osbuild-mpp\'s mpp-resolve-images)');
  const out: ResolveEntry[] = [];
  if (hasContainers) {
    if (!Array.isArray(doc.containers))
      throw invalid(file, `"containers" must be an array, not ${describeValue(doc.containers)}`);
    for (const [i, e] of doc.containers.entries()) {
      const { str, bool } = fields(e, `containers[${i}]`, file, BLUEPRINT_KEYS);
      out.push({
        ref: str('source', true)!,
        name: str('name'),
        tlsVerify: bool('tls-verify'),
        local: bool('local-storage'),
      });
    }
  }
  if (images !== undefined) {
    if (!Array.isArray(images)) throw invalid(file, `"images" must be an array, not ${describeValue(images)}`);
    for (const [i, e] of images.entries()) {
      const at = `images[${i}]`;
      const { str, bool } = fields(e, at, file, MPP_KEYS);
      const source = str('source', true)!;
      const tag = str('tag');
      const digest = str('digest');
      if (digest !== undefined && !isDigest(digest))
        throw invalid(file, `${at}.digest ${JSON.stringify(digest)} is not a sha256 digest`);
      const transport = str('containers-transport');
      if (transport !== undefined && transport !== 'docker' && transport !== 'containers-storage')
        throw invalid(
          file,
          `${at}.containers-transport must be "docker" or "containers-storage", not ${JSON.stringify(transport)}`,
        );
      out.push({
        ref: `${source}${tag !== undefined ? `:${tag}` : ''}${digest !== undefined ? `@${digest}` : ''}`,
        name: str('name') ?? (tag !== undefined ? `${source}:${tag}` : source),
        list: bool('index') ?? false,
        arch: str('arch'),
        os: str('os'),
        variant: str('variant'),
        ...(transport !== undefined ? { local: transport === 'containers-storage' } : {}),
      });
    }
  }
  return out;
}

/**
 * Reads an entries file: TOML when its name ends in `.toml`, JSON otherwise.
 * @throws OcikitError `NOT_FOUND`, `IO`, `INVALID_INPUT`.
 * @category Resolve
 */
export async function readEntriesFile(file: string, label = file): Promise<ResolveEntry[]> {
  const bytes = await readNamedFile(file, 'entries file', { maxBytes: MAX_ENTRIES_FILE, label });
  const text = bytes.toString('utf8');
  let doc: unknown;
  if (file.endsWith('.toml')) {
    try {
      doc = parseTomlDocument(text, label);
    } catch (err) {
      if (isOcikitError(err, 'CONFIG')) throw new OcikitError('INVALID_INPUT', err.message, { cause: err });
      throw err;
    }
  } else {
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new OcikitError('INVALID_INPUT', `${label}: invalid JSON: ${(err as Error).message}`, { cause: err });
    }
  }
  return parseEntries(doc, label);
}
