/**
 * `ocikit embed --tree TREE [REF...] [--from FILE] [--bound-images] [--arch A] [--variant V] [--os O]
 * [--cache DIR] [--lock LOCK.json [--frozen]] [--dest containers-storage|oci|oci-archive|dir]
 * [--storage-path P] [--storage-driver D] [--dest-path P] [--runroot DIR] [--tls-verify=false]
 * [--local] [--dry-run] [--json]`: names to an installed tree in one process (library: `embed/embed.ts`).
 * Progress of the three phases on stderr when it is a terminal; warnings as `ocikit: warning:`.
 */
import * as path from 'node:path';
import { OcikitError } from '../../errors.js';
import { type EmbedDestinationType, type EmbedSummary, embed } from '../../embed/embed.js';
import { escapeControl } from '../../internal/text.js';
import { type Command, parse, parseJobs, println } from '../command.js';
import { type ProgressStream, createFetchProgressRenderer, createProgressRenderer } from '../progress.js';

const DESTS = ['containers-storage', 'oci', 'oci-archive', 'dir'];

const USAGE = `Usage: ocikit embed --tree TREE [REF...] [--from FILE] [--bound-images] [--arch A] [--variant V]
                    [--os O] [--cache DIR] [--lock LOCK.json [--frozen]]
                    [--dest containers-storage|oci|oci-archive|dir] [--storage-path P]
                    [--storage-driver D] [--dest-path P] [--runroot DIR] [--tls-verify=false]
                    [--local] [--registries-conf FILE] [--authfile FILE] [--cert-dir DIR] [--policy FILE]
                    [--insecure-policy] [--jobs N] [--dry-run] [--json]

Resolve image names for a platform, fetch them into the verified cache and install them into
TREE, in one process. A failure leaves TREE as it was and the cache sound.

Options:
  --tree DIR       the tree to install into (must exist)
  --from FILE      entries: a blueprint's [[containers]] or osbuild-mpp's {"images": [...]}
  --bound-images   add TREE's bootc bound images (usr/lib/bootc/bound-images.d); a tag that is not
                   pinned by digest is a warning
  --arch A         the target architecture, Go or RPM names (default: the host's)
  --variant V, --os O   the CPU variant and operating system (as ocikit resolve)
  --cache DIR      the cache (default: /var/cache/ocikit for root, else $XDG_CACHE_HOME/ocikit or
                   ~/.cache/ocikit); osbuild's source layout
  --lock FILE      a lock file: entries found in it are not resolved again; new ones are resolved
                   and the lock written back
  --frozen         with --lock: resolve nothing (no network for it); entries missing from the lock
                   are refused; the lock is not written
  --dest TYPE      containers-storage (default), oci, oci-archive or dir
  --storage-path P the store inside TREE (default /var/lib/containers/storage)
  --storage-driver D  the store's driver (default overlay)
  --dest-path P    the path inside TREE of an oci, oci-archive or dir destination
  --runroot DIR    the store's run root (default: a temporary directory of this run)
  --tls-verify=false  plain HTTP and unverified TLS for entries that do not set tls-verify
  --local          entries that do not set local-storage come from the host's containers-storage
                   (the store storage.conf names): checked there, not fetched, installed from it
  --registries-conf FILE, --authfile FILE, --cert-dir DIR, --policy FILE, --insecure-policy
                   as ocikit fetch
  --jobs N         parallel resolves and downloads (default 4), and skopeo copies into
                   the store (default 2)
  --dry-run        resolve and print the plan: fetch nothing, write nothing
  --json           print one JSON summary`;

function text(s: EmbedSummary): string {
  const d = s.destination;
  const head = s.dryRun
    ? `Would embed ${s.images.length} image${s.images.length === 1 ? '' : 's'} (${s.arch}) into ${d.type} at ${d.path} in ${s.tree}:`
    : `Embedded ${s.images.length} image${s.images.length === 1 ? '' : 's'} (${s.arch}) into ${d.type} at ${d.path} in ${s.tree}:`;
  const lines = [head];
  for (const i of s.images) {
    lines.push(`  ${i.name}${i.locked ? '  (from the lock)' : ''}`);
    lines.push(`    image ID   ${i.imageId}`);
    lines.push(`    manifest   ${i.digest}`);
    if (i.listDigest) lines.push(`    list       ${i.listDigest}`);
    lines.push(
      `    platform   ${[i.platform.os, i.platform.architecture, i.platform.variant].filter(Boolean).join('/')}`,
    );
    const cache = i.cache === 'host store' ? 'host store' : i.cache === 'cached' ? 'already cached' : null;
    lines.push(`    cache      ${cache ?? (s.dryRun ? 'to fetch' : 'fetched')}`);
    if (i.installed) lines.push(`    written    ${i.installed}`);
  }
  if (s.lockWritten) lines.push(`Lock written: ${s.lockWritten}`);
  return lines.join('\n');
}

/** The phase headers and the fetch and install renderers of `progress.ts`, on a terminal only. */
export function phases(stream: ProgressStream) {
  const fetchR = createFetchProgressRenderer(stream);
  const installR = createProgressRenderer(stream);
  let phase = '';
  const header = (p: string, extra = '') => {
    if (phase === p) return;
    phase = p;
    if (stream.isTTY) stream.write(`\r\x1b[K${p}${extra}\n`);
  };
  return {
    onProgress: (e: Parameters<NonNullable<Parameters<typeof embed>[0]['onProgress']>>[0]) => {
      if (e.phase === 'resolve') header('resolve', `: ${e.resolving} to resolve, ${e.locked} from the lock`);
      else if (e.phase === 'fetch') {
        header('fetch');
        fetchR.onProgress(e.event);
      } else {
        if (phase === 'fetch') fetchR.finish();
        header('install');
        installR.onProgress(e.event);
      }
    },
    finish() {
      fetchR.finish();
      installR.finish();
    },
  };
}

export const command: Command = {
  name: 'embed',
  usage: USAGE,
  async run(args, ctx) {
    const { values, positionals } = parse(
      'embed',
      args,
      {
        tree: { type: 'string' },
        from: { type: 'string' },
        'bound-images': { type: 'boolean' },
        arch: { type: 'string' },
        variant: { type: 'string' },
        os: { type: 'string' },
        cache: { type: 'string' },
        lock: { type: 'string' },
        frozen: { type: 'boolean' },
        dest: { type: 'string' },
        'storage-path': { type: 'string' },
        'storage-driver': { type: 'string' },
        'dest-path': { type: 'string' },
        runroot: { type: 'string' },
        'tls-verify': { type: 'string' },
        local: { type: 'boolean' },
        'registries-conf': { type: 'string' },
        authfile: { type: 'string' },
        'cert-dir': { type: 'string' },
        policy: { type: 'string' },
        'insecure-policy': { type: 'boolean' },
        jobs: { type: 'string' },
        'dry-run': { type: 'boolean' },
        json: { type: 'boolean' },
      },
      { min: 0, max: Number.POSITIVE_INFINITY, names: 'REF...' },
    );
    if (!values.tree) throw new OcikitError('USAGE', 'embed: --tree is required');
    if (values.frozen && values.lock === undefined) throw new OcikitError('USAGE', 'embed: --frozen needs --lock');
    const dest = values.dest ?? 'containers-storage';
    if (!DESTS.includes(dest))
      throw new OcikitError('USAGE', `embed: --dest must be one of ${DESTS.join(', ')}, not ${JSON.stringify(dest)}`);
    const storage = dest === 'containers-storage';
    if (storage && values['dest-path'] !== undefined)
      throw new OcikitError('USAGE', 'embed: --dest-path is for oci, oci-archive and dir (use --storage-path)');
    if (!storage && (values['storage-path'] ?? values['storage-driver'] ?? values.runroot) !== undefined)
      throw new OcikitError(
        'USAGE',
        `embed: --storage-path, --storage-driver and --runroot are for containers-storage`,
      );
    if (!storage && !values['dest-path']) throw new OcikitError('USAGE', `embed: --dest ${dest} needs --dest-path`);
    const tls = values['tls-verify'];
    if (tls !== undefined && tls !== 'true' && tls !== 'false')
      throw new OcikitError('USAGE', `embed: --tls-verify must be true or false, not ${JSON.stringify(tls)}`);
    const jobs = parseJobs('embed', values.jobs);
    if (positionals.length === 0 && values.from === undefined && !values['bound-images'])
      throw new OcikitError('USAGE', 'embed: expected REF..., --from FILE or --bound-images');
    const abs = (p: string | undefined) => (p === undefined ? undefined : path.resolve(ctx.cwd, p));
    const progress = phases(ctx.stderr);
    let summary: EmbedSummary;
    try {
      summary = await embed({
        tree: abs(values.tree)!,
        entries: positionals,
        from: abs(values.from),
        boundImages: values['bound-images'],
        arch: values.arch,
        variant: values.variant,
        os: values.os,
        cache: abs(values.cache),
        lock: abs(values.lock),
        frozen: values.frozen,
        destination: dest as EmbedDestinationType,
        storagePath: values['storage-path'],
        storageDriver: values['storage-driver'],
        destPath: values['dest-path'],
        runroot: abs(values.runroot),
        tlsVerify: tls === undefined ? undefined : tls === 'true',
        local: values.local,
        registriesConf: abs(values['registries-conf']),
        authFile: abs(values.authfile),
        certDir: abs(values['cert-dir']),
        policy: abs(values.policy),
        insecurePolicy: values['insecure-policy'],
        jobs,
        dryRun: values['dry-run'],
        tmpdir: ctx.env.TMPDIR ? path.resolve(ctx.cwd, ctx.env.TMPDIR) : undefined,
        host: { env: ctx.env },
        signal: ctx.signal,
        onProgress: progress.onProgress,
      });
    } finally {
      progress.finish();
    }
    for (const w of summary.warnings) println(ctx.stderr, `ocikit: warning: ${escapeControl(w)}`);
    println(ctx.stdout, values.json ? JSON.stringify(summary, null, 2) : text(summary));
    return 0;
  },
};
