/**
 * `ocikit resolve REF... [--from FILE] [--arch A] [--variant V] [--os O] [--tls-verify=false]
 * [--local] [--name NAME] [--allow-platform-mismatch] [--short-names docker|registries-conf]
 * [--registries-conf FILE] [--authfile FILE] [--cert-dir DIR] [--jobs N] [--json] [--lock-out LOCK.json]`:
 * image names to specs and osbuild's sources and inputs (library: `resolve/resolve.ts`). Warnings
 * go to stderr as `ocikit: warning: …` lines.
 */
import * as path from 'node:path';
import { OcikitError } from '../../errors.js';
import { escapeControl } from '../../internal/text.js';
import { type ResolveEntry, readEntriesFile } from '../../resolve/entries.js';
import { lockOf, writeLockFile } from '../../resolve/lock.js';
import { type ResolvedSpec, resolve } from '../../resolve/resolve.js';
import { type Command, parse, println } from '../command.js';

const USAGE = `Usage: ocikit resolve REF... [--from FILE] [--arch A] [--variant V] [--os O] [--tls-verify=false]
                      [--local] [--name NAME] [--allow-platform-mismatch] [--short-names docker|registries-conf]
                      [--registries-conf FILE] [--authfile FILE] [--cert-dir DIR] [--jobs N]
                      [--json] [--lock-out LOCK.json]

Resolve image names (NAME[:TAG][@DIGEST]) for a platform to image IDs, manifest digests and list
digests, through the host's registries.conf (mirrors, rewrites, blocked, insecure), certs.d and
credentials. The image's config must declare the wanted os and architecture.

Options:
  --from FILE      entries: a blueprint's [[containers]] (source, name, tls-verify, local-storage; TOML
                   when FILE ends in .toml, else JSON) or osbuild-mpp's {"images": [...]}
  --arch A         amd64 (x86_64), arm64, aarch64 (arm64 with v8 first), arm, armhfp/armv7 (arm v7),
                   ppc64le, s390x, riscv64 (default: the host's)
  --variant V      the CPU variant (default: the one --arch implies)
  --os O           the operating system (default linux)
  --tls-verify=false  plain HTTP and unverified TLS for the entries that do not set tls-verify
  --local          resolve from the host's containers-storage (the store storage.conf names)
  --name NAME      the name to store the image as (one REF only)
  --allow-platform-mismatch  an image for another os/architecture is a warning, not an error
  --short-names M  docker (default: docker.io/library/…) or registries-conf (registries.conf aliases and
                   unqualified-search-registries; never prompts, fails when enforcing and ambiguous)
  --registries-conf FILE  the registries.conf to read instead of the per-user or system one
  --authfile FILE  registry credentials (default: $REGISTRY_AUTH_FILE, then the containers auth files)
  --cert-dir DIR   CA certificates and a client certificate for every registry, instead of certs.d
  --jobs N         entries resolved at once (default 4)
  --json           print {arch, specs, sources, inputs} on stdout (sources and inputs in osbuild's
                   manifest form, as osbuild/images emits them)
  --lock-out FILE  write the specs as a lock file (replaced atomically)`;

function textBlock(s: ResolvedSpec): string {
  const p = [s.platform.os, s.platform.architecture, ...(s.platform.variant ? [s.platform.variant] : [])].join('/');
  return [
    `${s.ref}  (${p})`,
    `  source     ${s.source}${s.localStorage ? '  (local containers-storage)' : ''}`,
    `  name       ${s.name}`,
    `  image ID   ${s.imageId}`,
    `  manifest   ${s.digest}`,
    `  list       ${s.listDigest ?? '-'}`,
    `  platform   ${p} (${s.arch})`,
  ].join('\n');
}

export const command: Command = {
  name: 'resolve',
  usage: USAGE,
  async run(args, ctx) {
    const { values, positionals } = parse(
      'resolve',
      args,
      {
        from: { type: 'string' },
        arch: { type: 'string' },
        variant: { type: 'string' },
        os: { type: 'string' },
        'tls-verify': { type: 'string' },
        local: { type: 'boolean' },
        name: { type: 'string' },
        'allow-platform-mismatch': { type: 'boolean' },
        'short-names': { type: 'string' },
        'registries-conf': { type: 'string' },
        authfile: { type: 'string' },
        'cert-dir': { type: 'string' },
        jobs: { type: 'string' },
        json: { type: 'boolean' },
        'lock-out': { type: 'string' },
      },
      { min: 0, max: Number.POSITIVE_INFINITY, names: 'REF...' },
    );
    const tls = values['tls-verify'];
    if (tls !== undefined && tls !== 'true' && tls !== 'false')
      throw new OcikitError('USAGE', `resolve: --tls-verify must be true or false, not ${JSON.stringify(tls)}`);
    const shortNames = values['short-names'];
    if (shortNames !== undefined && shortNames !== 'docker' && shortNames !== 'registries-conf')
      throw new OcikitError(
        'USAGE',
        `resolve: --short-names must be docker or registries-conf, not ${JSON.stringify(shortNames)}`,
      );
    const jobs = values.jobs === undefined ? 4 : Number(values.jobs);
    if (values.jobs !== undefined && (!/^[1-9][0-9]*$/.test(values.jobs) || jobs > 64))
      throw new OcikitError('USAGE', `resolve: --jobs ${JSON.stringify(values.jobs)} is not a number from 1 to 64`);
    if (values.name !== undefined && (positionals.length !== 1 || values.from !== undefined))
      throw new OcikitError('USAGE', 'resolve: --name needs exactly one REF (and no --from)');
    const entries: ResolveEntry[] = positionals.map((ref) => ({ ref, ...(values.name ? { name: values.name } : {}) }));
    if (values.from !== undefined)
      entries.push(...(await readEntriesFile(path.resolve(ctx.cwd, values.from), values.from)));
    if (entries.length === 0) throw new OcikitError('USAGE', 'resolve: expected REF... or --from FILE');
    const abs = (p: string | undefined) => (p === undefined ? undefined : path.resolve(ctx.cwd, p));
    const result = await resolve(entries, {
      arch: values.arch,
      variant: values.variant,
      os: values.os,
      tlsVerify: tls === undefined ? undefined : tls === 'true',
      local: values.local,
      allowPlatformMismatch: values['allow-platform-mismatch'],
      shortNames: shortNames as 'docker' | 'registries-conf' | undefined,
      registriesConf: abs(values['registries-conf']),
      authFile: abs(values.authfile),
      certDir: abs(values['cert-dir']),
      jobs,
      env: ctx.env,
      signal: ctx.signal,
    });
    for (const w of result.warnings) println(ctx.stderr, `ocikit: warning: ${escapeControl(w)}`);
    if (values['lock-out'] !== undefined)
      await writeLockFile(path.resolve(ctx.cwd, values['lock-out']), lockOf(result));
    if (values.json) {
      const { arch, specs, sources, inputs } = result;
      println(ctx.stdout, JSON.stringify({ arch, specs, sources, inputs }, null, 2));
    } else {
      println(ctx.stdout, result.specs.map(textBlock).join('\n\n'));
    }
    return 0;
  },
};
