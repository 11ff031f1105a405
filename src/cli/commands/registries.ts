/**
 * `ocikit registries REF [--registries-conf FILE] [--cert-dir DIR] [--authfile FILE]
 * [--tls-verify=BOOL] [--json]`: the pull plan of one reference, a dry run (library:
 * `registry/endpoints.ts` `planEndpoints`). It prints which registries.conf files were read, the
 * entry that matched, every endpoint in the order a pull tries it (mirrors, then the primary)
 * with its scheme and TLS verification, whether it is blocked, the certs.d files, the proxy, and
 * where credentials would come from. Nothing is contacted, no credential helper is run, and no
 * secret is printed: proxy passwords are redacted and credentials are named by file or helper.
 */
import { type CredentialSource, credentialSources } from '../../auth/auth-files.js';
import { OcikitError } from '../../errors.js';
import { type DockerReference, formatDockerReference, parseDockerReference } from '../../model/docker-reference.js';
import { type Endpoint, type EndpointPlan, loadHostRegistries, planEndpoints } from '../../registry/endpoints.js';
import { describeProxy } from '../../registry/transport/proxy.js';
import { type Command, parse, println } from '../command.js';

const USAGE = `Usage: ocikit registries REF [--registries-conf FILE] [--cert-dir DIR] [--authfile FILE]
                         [--tls-verify=false] [--json]

Prints where a pull of REF (NAME[:TAG][@DIGEST], optionally docker://) would go, as ocikit fetch
decides it from the host configuration: the registries.conf files read and the [[registry]] entry
that matched; every endpoint in the order it is tried (mirrors, then the primary), each with the
reference rewritten for it, TLS verification, a blocking entry, its certs.d files, the proxy from
HTTPS_PROXY/HTTP_PROXY/NO_PROXY, and where its credentials would come from (auth files, credential
helpers). A dry run: nothing is contacted, no helper is run, no secret is printed.

Options:
  --registries-conf FILE  the registries.conf to read instead of the standard lookup
  --cert-dir DIR          one certificate directory for every registry instead of certs.d
  --authfile FILE         the primary auth file (default: $REGISTRY_AUTH_FILE, then the standard one)
  --tls-verify=false      as fetch's "tls-verify": false (skopeo --src-tls-verify=false)
  --json                  print the plan as JSON

Exit status: 0 success, 1 invalid host configuration, 2 usage error.`;

/** One endpoint as printed. */
interface EndpointReport {
  readonly mirror: boolean;
  readonly reference: string;
  readonly host: string;
  readonly tlsVerify: boolean;
  readonly insecure: boolean;
  readonly blocked: string | null;
  readonly unusable: string | null;
  readonly certs: { readonly dir: string; readonly files: readonly string[] } | null;
  readonly proxy: Readonly<Record<string, { proxy: string | null; reason: string }>>;
  readonly credentials: readonly CredentialSource[] | { readonly error: string };
}

export const command: Command = {
  name: 'registries',
  usage: USAGE,
  async run(args, ctx) {
    const { values, positionals } = parse(
      'registries',
      args,
      {
        'registries-conf': { type: 'string' },
        'cert-dir': { type: 'string' },
        authfile: { type: 'string' },
        'tls-verify': { type: 'string' },
        json: { type: 'boolean' },
      },
      { min: 1, max: 1, names: 'one image reference' },
    );
    const tls = values['tls-verify'];
    if (tls !== undefined && tls !== 'true' && tls !== 'false')
      throw new OcikitError('USAGE', `registries: --tls-verify ${JSON.stringify(tls)} is not true or false`);
    let ref: DockerReference;
    try {
      ref = parseDockerReference(positionals[0]!.replace(/^docker:\/\//, ''), 'image reference');
    } catch (err) {
      throw new OcikitError('USAGE', `registries: ${(err as Error).message}`, { cause: err });
    }
    const host = {
      env: ctx.env,
      cwd: ctx.cwd,
      registriesConf: values['registries-conf'],
      certDir: values['cert-dir'],
      authFile: values.authfile,
    };
    const registries = await loadHostRegistries(host);
    const plan = await planEndpoints(ref, {
      ...host,
      registries,
      tlsVerify: tls === undefined ? undefined : tls === 'true',
    });
    const auth = { ...host, credentialHelpers: registries.credentialHelpers };
    const endpoints = await Promise.all(plan.endpoints.map((e) => report(e, ctx.env, auth)));
    if (values.json) {
      println(ctx.stdout, JSON.stringify(jsonPlan(plan, endpoints), null, 2));
    } else {
      println(ctx.stdout, textPlan(plan, endpoints));
    }
    return 0;
  },
};

async function report(
  e: Endpoint,
  env: NodeJS.ProcessEnv,
  auth: Parameters<typeof credentialSources>[2],
): Promise<EndpointReport> {
  const loc = e.location;
  const urls = [`https://${loc.host}/v2/`, ...(loc.tlsVerify === false ? [`http://${loc.host}/v2/`] : [])];
  const proxy: Record<string, { proxy: string | null; reason: string }> = {};
  for (const u of urls) {
    const d = describeProxy(new URL(u), env);
    proxy[new URL(u).protocol.slice(0, -1)] = { proxy: d.proxy ?? null, reason: d.reason };
  }
  let credentials: EndpointReport['credentials'];
  try {
    credentials = await credentialSources(loc.authDomain ?? loc.host, loc.path, auth);
  } catch (err) {
    if (!(err instanceof OcikitError)) throw err;
    credentials = { error: err.message };
  }
  return {
    mirror: e.mirror,
    reference: formatDockerReference(e.ref),
    host: loc.host,
    tlsVerify: loc.tlsVerify !== false,
    insecure: e.insecure,
    blocked: e.blocked?.description ?? null,
    unusable: e.unusable?.message ?? null,
    certs: e.certs ?? null,
    proxy,
    credentials,
  };
}

function jsonPlan(plan: EndpointPlan, endpoints: readonly EndpointReport[]) {
  return {
    reference: formatDockerReference(plan.ref),
    registriesConf: {
      files: plan.files,
      entry: plan.entry && { prefix: plan.entry.prefix, location: plan.entry.location, file: plan.entry.file },
    },
    endpoints,
  };
}

function describeCredentials(c: EndpointReport['credentials']): string {
  if (!Array.isArray(c)) return `cannot be looked up: ${(c as { error: string }).error}`;
  if (c.length === 0) return 'none found (anonymous)';
  return c
    .map((s) =>
      s.kind === 'file'
        ? `${s.path} (${s.identityToken ? 'identity token' : 'user and password'})`
        : `${s.helper} would be asked (${s.origin})`,
    )
    .join(', then ');
}

function textPlan(plan: EndpointPlan, endpoints: readonly EndpointReport[]): string {
  const lines = [`reference: ${formatDockerReference(plan.ref)}`];
  lines.push(`registries.conf: ${plan.files.length > 0 ? plan.files.join(', ') : 'none found'}`);
  lines.push(`matching entry: ${plan.entry ? plan.entry.description : 'none'}`);
  lines.push('endpoints, in the order they are tried:');
  for (const [i, e] of endpoints.entries()) {
    lines.push(`  ${i + 1}. ${e.mirror ? 'mirror' : 'primary'} ${e.reference}`);
    const scheme = e.tlsVerify
      ? `https://${e.host} (certificates checked)`
      : `https://${e.host}, then http:// (certificates not checked)`;
    lines.push(`     connects to: ${scheme}`);
    if (e.blocked) lines.push(`     BLOCKED by ${e.blocked}: never contacted`);
    else if (e.unusable) lines.push(`     UNUSABLE: ${e.unusable}`);
    lines.push(
      `     certificates: ${e.certs ? `${e.certs.dir}${e.certs.files.length ? ` (${e.certs.files.join(', ')})` : ' (no files)'}` : 'none'}`,
    );
    for (const [scheme2, p] of Object.entries(e.proxy))
      lines.push(`     proxy for ${scheme2}: ${p.proxy ?? 'direct'} (${p.reason})`);
    lines.push(`     credentials: ${describeCredentials(e.credentials)}`);
  }
  return lines.join('\n');
}
