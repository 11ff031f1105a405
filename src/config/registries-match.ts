/**
 * Which registries.conf entry a reference matches and where it is pulled from, as containers/image
 * 5.23 `pkg/sysregistriesv2/system_registries_v2.go` decides: `FindRegistry` (the longest matching
 * prefix), `refMatchingPrefix` / `refMatchingSubdomainPrefix`, `PullSourcesFromReference` and
 * `rewriteReference`; and, per endpoint, whether it is blocked (`docker/docker_client.go`
 * `newDockerClient` looks the endpoint's own reference up again).
 */
import { OcikitError } from '../errors.js';
import { type DockerReference, formatDockerReference, parseDockerReference } from '../model/docker-reference.js';
import type { RegistryConfEntry, RegistryMirrorConf } from './registries-file.js';

/** Go's `sort.Strings` order (bytes of UTF-8), in which containers/image keeps the entries. */
export function compareGoStrings(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * The length of the match of `prefix` in `ref` (a registry, namespace, repository or full
 * reference string starting with a host), or -1. A plain prefix matches itself and anything that
 * continues with `:`, `/` or `@` — so `example.com` also matches `example.com:5000/x`, a quirk
 * containers/image keeps. A `*.example.com` prefix matches the first `.example.com` in `ref` when
 * no `/` comes before it and the end, `:`, `/` or `@` follows it.
 * @category Configuration
 */
export function refMatchingPrefix(ref: string, prefix: string): number {
  if (prefix.startsWith('*.')) {
    const suffix = prefix.slice(1);
    let index = ref.indexOf(suffix);
    if (index === -1 || ref.slice(0, index).includes('/')) return -1;
    index += suffix.length;
    if (index === ref.length) return index;
    return ':/@'.includes(ref[index]!) ? index : -1;
  }
  if (ref.length < prefix.length) return -1;
  if (ref.length === prefix.length) return ref === prefix ? prefix.length : -1;
  if (!ref.startsWith(prefix)) return -1;
  return ':/@'.includes(ref[prefix.length]!) ? prefix.length : -1;
}

/**
 * The entry with the longest matching prefix for `name` (`domain/path`), or undefined. Among
 * prefixes of equal length the first in sorted order wins (`*.example.com` before `a.example.com`).
 * @category Configuration
 */
export function findRegistry(registries: readonly RegistryConfEntry[], name: string): RegistryConfEntry | undefined {
  let found: RegistryConfEntry | undefined;
  for (const r of registries) {
    if (refMatchingPrefix(name, r.prefix) !== -1 && r.prefix.length > (found?.prefix.length ?? 0)) found = r;
  }
  return found;
}

/**
 * One place a reference is pulled from.
 * @category Configuration
 */
export interface PullSource {
  /** True for a mirror; the primary location is last. */
  readonly mirror: boolean;
  /** The location (the entry's or the mirror's) and its own `insecure`. */
  readonly endpoint: { readonly location: string; readonly insecure: boolean };
  /** The reference rewritten for this location. */
  readonly ref: DockerReference;
}

/** `domain/path` of a reference (containers/image `Named.Name()`). */
export function referenceName(ref: DockerReference): string {
  return `${ref.domain}/${ref.path}`;
}

/**
 * The pull sources of `ref` under `entry` (containers/image `PullSourcesFromReference`): the
 * mirrors in order — only for digest references under `mirror-by-digest-only`, and as each
 * mirror's `pull-from-mirror` allows — then the primary location. Without an entry, the
 * reference itself. Each reference is `location` + what follows the prefix in the full reference,
 * parsed again; it must be a canonical reference.
 * @throws OcikitError `CONFIG` (a rewrite that is not a valid canonical reference) naming the entry.
 * @category Configuration
 */
export function pullSources(entry: RegistryConfEntry | undefined, ref: DockerReference): PullSource[] {
  if (entry === undefined) return [{ mirror: false, endpoint: { location: referenceName(ref), insecure: false }, ref }];
  const digested = ref.digest !== undefined;
  const mirrors = entry.mirrors.filter((m: RegistryMirrorConf) => {
    if (entry.mirrorByDigestOnly) return digested;
    if (m.pullFromMirror === 'digest-only') return digested;
    if (m.pullFromMirror === 'tag-only') return !digested;
    return true;
  });
  const out: PullSource[] = mirrors.map((m) => ({
    mirror: true,
    endpoint: { location: m.location, insecure: m.insecure },
    ref: rewriteReference(entry, m.location, ref),
  }));
  out.push({
    mirror: false,
    endpoint: { location: entry.location, insecure: entry.insecure },
    ref: rewriteReference(entry, entry.location, ref),
  });
  return out;
}

/** containers/image `rewriteReference`: `location` + the rest of the reference after the prefix. */
function rewriteReference(entry: RegistryConfEntry, location: string, ref: DockerReference): DockerReference {
  const full = formatDockerReference(ref);
  const at = refMatchingPrefix(full, entry.prefix);
  const where = `${describeEntry(entry)}`;
  if (at === -1) throw new OcikitError('CONFIG', `${where}: invalid prefix for reference ${JSON.stringify(full)}`);
  if (location === '') return ref; // a `*.` prefix without location: the reference as it is
  const rewritten = location + full.slice(at);
  let parsed: DockerReference;
  try {
    parsed = parseDockerReference(rewritten);
  } catch (err) {
    throw new OcikitError('CONFIG', `${where}: rewriting reference: ${(err as Error).message}`, { cause: err });
  }
  if (formatDockerReference(parsed) !== rewritten)
    throw new OcikitError(
      'CONFIG',
      `${where}: rewriting reference: ${JSON.stringify(rewritten)} is not canonical (it means ${JSON.stringify(formatDockerReference(parsed))})`,
    );
  return parsed;
}

/**
 * The entry as messages name it: `[[registry]] prefix "P" in FILE`, or for a v1 entry
 * `[registries.block]/[registries.insecure] "P" in FILE`.
 * @category Configuration
 */
export function describeEntry(entry: Pick<RegistryConfEntry, 'prefix' | 'file' | 'format'>): string {
  const kind = entry.format === 'v1' ? '[registries.block]/[registries.insecure]' : '[[registry]] prefix';
  return `${kind} ${JSON.stringify(entry.prefix)} in ${entry.file}`;
}

/**
 * The entry that blocks pulls from `ref`, an endpoint's own reference, or undefined. As
 * containers/image `newDockerClient`, the endpoint's reference is looked up again: a blocked
 * primary does not block its mirrors, and an entry whose `location` points elsewhere does not
 * block what it rewrites to (unless another entry matches that).
 * @category Configuration
 */
export function blockingEntry(
  registries: readonly RegistryConfEntry[],
  ref: DockerReference,
): RegistryConfEntry | undefined {
  const entry = findRegistry(registries, referenceName(ref));
  return entry?.blocked ? entry : undefined;
}
