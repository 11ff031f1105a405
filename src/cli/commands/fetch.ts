/**
 * `ocikit fetch --sources SOURCES.json --cache DIR [--jobs N] [--authfile FILE] [--json]`: fetches
 * osbuild container sources into the cache (see fetch.ts). Progress is drawn on stderr only when
 * it is a terminal; `--json` prints a JSON array with one summary per item on stdout.
 */
import * as path from 'node:path';
import { OcikitError } from '../../errors.js';
import { DEFAULT_JOBS, fetch, type FetchProgress } from '../../fetch/fetch.js';
import { type CliContext, type Command, parse, println, readJsonArg } from '../command.js';

const USAGE = `Usage: ocikit fetch --sources SOURCES.json --cache DIR [--jobs N] [--authfile FILE] [--json]

Fetch the images and manifest lists of osbuild container sources into a verified cache:
  org.osbuild.skopeo        {"items": {IMAGE_ID: {"image": {"name", "digest", "tls-verify"?,
                            "containers-transport"?, "storage-location"?}}}}  ("digests" also accepted)
  org.osbuild.skopeo-index  {"items": {LIST_DIGEST: {"image": {"name", "tls-verify"?}}}}
  org.osbuild.containers-storage  {"items": {IMAGE_ID: {}}}  (checked in the host store, not copied)

Cache layout: DIR/org.osbuild.containers/<image id>/image (a dir: image) and
DIR/org.osbuild.files/<list digest>. Items already cached are not fetched again.

Options:
  --sources FILE   the sources JSON ("-" reads stdin)
  --cache DIR      the cache directory (created if missing)
  --jobs N         parallel downloads (default ${DEFAULT_JOBS})
  --authfile FILE  registry credentials (default: $REGISTRY_AUTH_FILE, then the containers auth files)
  --json           print [{id, kind, name, digest, status, bytes}] on stdout`;

function human(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

/** A one-line progress display, redrawn at most ten times a second. */
function progressDrawer(ctx: CliContext): { onProgress: (e: FetchProgress) => void; end: () => void } {
  let total = 0;
  let received = 0;
  let items = 0;
  let done = 0;
  let last = 0;
  const draw = (force = false) => {
    const now = Date.now();
    if (!force && now - last < 100) return;
    last = now;
    const width = ctx.stderr.columns ?? 80;
    const pct = total > 0 ? ` ${Math.min(100, Math.floor((received / total) * 100))}%` : '';
    const line = `fetch: ${done}/${items} items, ${human(received)}${total > 0 ? ` of ${human(total)}` : ''}${pct}`;
    ctx.stderr.write(`\r${line.slice(0, width - 1).padEnd(Math.min(width - 1, 60))}`);
  };
  return {
    onProgress: (e) => {
      if (e.type === 'start') items++;
      else if (e.type === 'size') total += e.bytes;
      else if (e.type === 'bytes') received += e.bytes;
      else if (e.type === 'done') {
        if (e.item.kind === 'local') items++;
        done++;
        ctx.stderr.write(`\r\x1b[K${e.item.status} ${e.item.kind} ${e.item.name || e.item.id} ${e.item.id}\n`);
      }
      draw(e.type !== 'bytes');
    },
    end: () => {
      if (last !== 0) ctx.stderr.write('\r\x1b[K');
    },
  };
}

export const command: Command = {
  name: 'fetch',
  summary: 'fetch images and manifest lists from registries into a verified cache',
  usage: USAGE,
  async run(args, ctx) {
    const { values } = parse(
      'fetch',
      args,
      {
        sources: { type: 'string' },
        cache: { type: 'string' },
        jobs: { type: 'string' },
        authfile: { type: 'string' },
        json: { type: 'boolean' },
      },
      { min: 0, max: 0, names: 'no positional arguments' },
    );
    if (values.sources === undefined) throw new OcikitError('USAGE', 'fetch: --sources is required');
    if (values.cache === undefined) throw new OcikitError('USAGE', 'fetch: --cache is required');
    let jobs = DEFAULT_JOBS;
    if (values.jobs !== undefined) {
      jobs = Number(values.jobs);
      if (!/^[1-9][0-9]*$/.test(values.jobs) || jobs > 64)
        throw new OcikitError('USAGE', `fetch: --jobs ${JSON.stringify(values.jobs)} is not a number from 1 to 64`);
    }
    const sources = await readJsonArg(values.sources, ctx.cwd, 'sources file');
    const drawer = ctx.stderr.isTTY ? progressDrawer(ctx) : undefined;
    try {
      const result = await fetch(sources, path.resolve(ctx.cwd, values.cache), {
        jobs,
        signal: ctx.signal,
        env: ctx.env,
        ...(values.authfile !== undefined ? { authFile: path.resolve(ctx.cwd, values.authfile) } : {}),
        ...(drawer ? { onProgress: drawer.onProgress } : {}),
      });
      drawer?.end();
      if (values.json) println(ctx.stdout, JSON.stringify(result.items, null, 2));
      return 0;
    } catch (err) {
      drawer?.end();
      throw err;
    }
  },
};
