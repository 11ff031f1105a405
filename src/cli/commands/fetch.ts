/**
 * `ocikit fetch --sources SOURCES.json --cache DIR [--jobs N] [--authfile FILE] [--registries-conf FILE] [--cert-dir DIR] [--low-speed-limit BYTES]
 * [--low-speed-time SECONDS] [--policy FILE] [--insecure-policy] [--registries.d DIR] [--json]`: fetches
 * osbuild container sources into the cache (library: `fetch/fetch.ts`). Progress is drawn on stderr
 * only when it is a terminal (`progress.ts`); `--json` prints a JSON array with one summary per item on stdout.
 */
import * as path from 'node:path';
import { OcikitError } from '../../errors.js';
import { DEFAULT_JOBS, type FetchResult, fetch } from '../../fetch/fetch.js';
import { DEFAULT_LOW_SPEED, type LowSpeedLimit } from '../../registry/client.js';
import { type Command, parse, println, readJsonArg } from '../command.js';
import { createFetchProgressRenderer } from '../progress.js';

const USAGE = `Usage: ocikit fetch --sources SOURCES.json --cache DIR [--jobs N] [--authfile FILE]
                    [--registries-conf FILE] [--cert-dir DIR] [--low-speed-limit BYTES] [--low-speed-time SECONDS]
                    [--policy FILE] [--insecure-policy] [--registries.d DIR] [--json]

Fetch the images and manifest lists of osbuild container sources into a verified cache:
  org.osbuild.skopeo        {"items": {IMAGE_ID: {"image": {"name", "digest", "tls-verify"?,
                            "containers-transport"?, "storage-location"?}}}}  ("digests" also accepted)
  org.osbuild.skopeo-index  {"items": {LIST_DIGEST: {"image": {"name", "tls-verify"?}}}}
  org.osbuild.containers-storage  {"items": {IMAGE_ID: {}}}  (checked in the host store, not copied)

Cache layout: DIR/org.osbuild.containers/<image id>/image (a dir: image) and
DIR/org.osbuild.files/<list digest>. Items already cached are not fetched again. Every item is
checked against the trust policy (containers-policy.json) before anything of it enters the cache,
as skopeo copy checks it; a refused item fails the fetch (docs/trust.md).

Options:
  --sources FILE   the sources JSON ("-" reads stdin)
  --cache DIR      the cache directory (created if missing)
  --jobs N         parallel downloads (default ${DEFAULT_JOBS})
  --authfile FILE  registry credentials (default: $REGISTRY_AUTH_FILE, then the containers auth files)
  --registries-conf FILE  the registries.conf to read instead of ~/.config/containers/registries.conf
                   or /etc/containers/registries.conf (the registries.conf.d drop-ins are still read)
  --cert-dir DIR   CA certificates (*.crt) and a client certificate (NAME.cert + NAME.key) for every
                   registry, instead of the certs.d directories (default: the first of
                   ~/.config/containers/certs.d/HOST:PORT, /etc/containers/certs.d/HOST:PORT,
                   /etc/docker/certs.d/HOST:PORT)
  --low-speed-limit BYTES   a request slower than BYTES per second for the low-speed time is
                            aborted and retried (default ${DEFAULT_LOW_SPEED.bytesPerSecond}; 0 turns the limit off)
  --low-speed-time SECONDS  the window of the low-speed limit (default ${DEFAULT_LOW_SPEED.seconds})
  --policy FILE    the trust policy to use instead of ~/.config/containers/policy.json or
                   /etc/containers/policy.json (skopeo --policy)
  --insecure-policy  accept every image without reading any policy (skopeo --insecure-policy)
  --registries.d DIR  where signature storage is configured, instead of
                   ~/.config/containers/registries.d or /etc/containers/registries.d (skopeo --registries.d)
  --json           print [{id, kind, name, digest, status, bytes}] on stdout`;

export const command: Command = {
  name: 'fetch',
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
        'registries-conf': { type: 'string' },
        'cert-dir': { type: 'string' },
        'low-speed-limit': { type: 'string' },
        'low-speed-time': { type: 'string' },
        policy: { type: 'string' },
        'insecure-policy': { type: 'boolean' },
        'registries.d': { type: 'string' },
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
    const lowSpeed = lowSpeedArgs(values['low-speed-limit'], values['low-speed-time']);
    const sources = await readJsonArg(values.sources, ctx.cwd, 'sources file');
    const progress = createFetchProgressRenderer(ctx.stderr);
    let result: FetchResult;
    try {
      result = await fetch(sources, path.resolve(ctx.cwd, values.cache), {
        jobs,
        signal: ctx.signal,
        env: ctx.env,
        authFile: values.authfile === undefined ? undefined : path.resolve(ctx.cwd, values.authfile),
        registriesConf:
          values['registries-conf'] === undefined ? undefined : path.resolve(ctx.cwd, values['registries-conf']),
        certDir: values['cert-dir'] ? path.resolve(ctx.cwd, values['cert-dir']) : undefined,
        onProgress: progress.onProgress,
        lowSpeed,
        policy: values.policy ? path.resolve(ctx.cwd, values.policy) : undefined,
        insecurePolicy: values['insecure-policy'],
        registriesD: values['registries.d'] ? path.resolve(ctx.cwd, values['registries.d']) : undefined,
      });
    } finally {
      progress.finish();
    }
    if (values.json) println(ctx.stdout, JSON.stringify(result.items, null, 2));
    return 0;
  },
};

/** `--low-speed-limit` (whole bytes per second, 0 = off) and `--low-speed-time` (seconds, > 0, at most a day). */
function lowSpeedArgs(limit: string | undefined, time: string | undefined): Partial<LowSpeedLimit> {
  const out: { bytesPerSecond?: number; seconds?: number } = {};
  if (limit !== undefined) {
    if (!/^[0-9]{1,12}$/.test(limit))
      throw new OcikitError(
        'USAGE',
        `fetch: --low-speed-limit ${JSON.stringify(limit)} is not a whole number of bytes`,
      );
    out.bytesPerSecond = Number(limit);
  }
  if (time !== undefined) {
    const seconds = Number(time);
    if (!/^[0-9]{1,5}(\.[0-9]{1,3})?$/.test(time) || seconds <= 0 || seconds > 86_400)
      throw new OcikitError(
        'USAGE',
        `fetch: --low-speed-time ${JSON.stringify(time)} is not a number of seconds from above 0 to 86400`,
      );
    out.seconds = seconds;
  }
  return out;
}
