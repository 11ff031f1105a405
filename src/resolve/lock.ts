/**
 * The lock file: resolved specs pinned by digest, versioned, so that a later run (`embed --lock`)
 * uses the same images without resolving the names again. The format:
 *
 * ```json
 * {"version": 1, "arch": "aarch64", "resolved": "2026-09-20T12:00:00.000Z", "specs": [ResolvedSpec…]}
 * ```
 *
 * The writer ({@link writeLockFile}) and the reader ({@link readLockFile}, every field checked:
 * a lock decides which bytes go into a tree) live here together.
 */
import { rm } from 'node:fs/promises';
import * as path from 'node:path';
import { OcikitError } from '../errors.js';
import { readNamedFile, writeNewFile } from '../internal/fs.js';
import { describeValue, isRecord } from '../internal/guards.js';
import { replaceFile, tempSibling } from '../internal/publish.js';
import { isDigest } from '../model/digest.js';
import type { ResolveResult, ResolvedSpec, SpecPlatform } from './resolve.js';

/** The lock format's version. */
export const LOCK_VERSION = 1;

/**
 * A lock file's content.
 * @category Resolve
 */
export interface LockFile {
  /** The format version: 1. */
  readonly version: typeof LOCK_VERSION;
  /** The architecture the specs were resolved for (RPM form). */
  readonly arch: string;
  /** When they were resolved (ISO 8601, UTC). */
  readonly resolved: string;
  /** The specs, as {@link resolve} returned them. */
  readonly specs: readonly ResolvedSpec[];
}

/**
 * The lock of a resolve result.
 * @category Resolve
 */
export function lockOf(result: Pick<ResolveResult, 'arch' | 'specs'>, now: Date = new Date()): LockFile {
  return { version: LOCK_VERSION, arch: result.arch, resolved: now.toISOString(), specs: result.specs };
}

/**
 * Writes `lock` to `file` atomically: a temporary sibling, synced, renamed over the old file.
 * @throws OcikitError `NOT_FOUND` (no such directory), `IO`, `NO_SPACE`.
 * @category Resolve
 */
export async function writeLockFile(file: string, lock: LockFile): Promise<void> {
  const target = path.resolve(file);
  const tmp = tempSibling(target);
  try {
    await writeNewFile(tmp, async (fh) => {
      await fh.writeFile(`${JSON.stringify(lock, null, 2)}\n`);
      await fh.sync();
    });
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {});
    throw err;
  }
  await replaceFile(tmp, target);
}

const MAX_LOCK_FILE = 16 * 1024 * 1024;
const SPEC_KEYS = [
  'ref',
  'source',
  'name',
  'digest',
  'imageId',
  'listDigest',
  'platform',
  'arch',
  'tlsVerify',
  'localStorage',
] as const;

/** One spec of a lock, every field checked; `at` names it in messages. */
function lockSpec(v: unknown, at: string, bad: (m: string) => OcikitError): ResolvedSpec {
  if (!isRecord(v)) throw bad(`${at} must be an object, not ${describeValue(v)}`);
  for (const k of Object.keys(v))
    if (!(SPEC_KEYS as readonly string[]).includes(k)) throw bad(`${at}: unknown key ${JSON.stringify(k)}`);
  const str = (k: string, o: Record<string, unknown> = v, where = at): string => {
    const x = o[k];
    if (typeof x !== 'string' || x === '')
      throw bad(`${where}.${k} must be a non-empty string, not ${describeValue(x)}`);
    return x;
  };
  const digest = (k: string, nullable = false) => {
    const x = v[k];
    if (nullable && x === null) return null;
    if (!isDigest(x))
      throw bad(`${at}.${k} must be a sha256 digest${nullable ? ' or null' : ''}, not ${describeValue(x)}`);
    return x;
  };
  const p = v.platform;
  if (!isRecord(p)) throw bad(`${at}.platform must be an object, not ${describeValue(p)}`);
  for (const k of Object.keys(p))
    if (k !== 'os' && k !== 'architecture' && k !== 'variant')
      throw bad(`${at}.platform: unknown key ${JSON.stringify(k)}`);
  const platform: SpecPlatform = {
    os: str('os', p, `${at}.platform`),
    architecture: str('architecture', p, `${at}.platform`),
    ...(p.variant !== undefined ? { variant: str('variant', p, `${at}.platform`) } : {}),
  };
  const tls = v.tlsVerify;
  if (tls !== null && typeof tls !== 'boolean')
    throw bad(`${at}.tlsVerify must be true, false or null, not ${describeValue(tls)}`);
  if (typeof v.localStorage !== 'boolean')
    throw bad(`${at}.localStorage must be a boolean, not ${describeValue(v.localStorage)}`);
  return {
    ref: str('ref'),
    source: str('source'),
    name: str('name'),
    digest: digest('digest')!,
    imageId: digest('imageId')!,
    listDigest: digest('listDigest', true),
    platform,
    arch: str('arch'),
    tlsVerify: tls,
    localStorage: v.localStorage,
  };
}

/**
 * Checks a parsed lock document (`file` names it in messages): version 1, the run's `arch`, the
 * `resolved` time and every spec field (digests are sha256 digests; unknown keys are refused).
 * @throws OcikitError `INVALID_INPUT` naming the file and the field.
 * @category Resolve
 */
export function parseLockFile(doc: unknown, file: string): LockFile {
  const bad = (m: string) => new OcikitError('INVALID_INPUT', `lock file ${file}: ${m}`);
  if (!isRecord(doc)) throw bad(`must be a JSON object, not ${describeValue(doc)}`);
  if (doc.version !== LOCK_VERSION)
    throw bad(`"version" must be ${LOCK_VERSION} (the version this ocikit reads), not ${describeValue(doc.version)}`);
  for (const k of Object.keys(doc))
    if (!['version', 'arch', 'resolved', 'specs'].includes(k)) throw bad(`unknown key ${JSON.stringify(k)}`);
  if (typeof doc.arch !== 'string' || doc.arch === '')
    throw bad(`"arch" must be a non-empty string, not ${describeValue(doc.arch)}`);
  if (typeof doc.resolved !== 'string' || Number.isNaN(Date.parse(doc.resolved)))
    throw bad(`"resolved" must be an ISO 8601 time, not ${describeValue(doc.resolved)}`);
  if (!Array.isArray(doc.specs)) throw bad(`"specs" must be an array, not ${describeValue(doc.specs)}`);
  const specs = doc.specs.map((s, i) => lockSpec(s, `specs[${i}]`, bad));
  return { version: LOCK_VERSION, arch: doc.arch, resolved: doc.resolved, specs };
}

/**
 * Reads and checks the lock file `file` ({@link parseLockFile}).
 * @throws OcikitError `NOT_FOUND` (no such file), `INVALID_INPUT` (not JSON, not a lock), `IO`.
 * @category Resolve
 */
export async function readLockFile(file: string, label = file): Promise<LockFile> {
  const bytes = await readNamedFile(file, 'lock file', { maxBytes: MAX_LOCK_FILE, label });
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new OcikitError('INVALID_INPUT', `lock file ${label}: invalid JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parseLockFile(doc, label);
}
