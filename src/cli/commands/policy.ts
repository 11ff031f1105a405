/**
 * `ocikit policy REF [--policy FILE] [--insecure-policy] [--registries.d DIR] [--registries-conf FILE]
 * [--tls-verify=false] [--json]`: what the trust policy decides for a pull of REF, and why
 * (library: `fetch/explain.ts` `explainPolicy`). Exit 0 when the policy accepts the image, 1 when
 * it refuses it (the refusal on stderr, as `ocikit fetch` would print it), 2 usage.
 */
import { OcikitError } from '../../errors.js';
import { type PolicyExplanation, explainPolicy } from '../../fetch/explain.js';
import { type DockerReference, parseDockerReference } from '../../model/docker-reference.js';
import { policyImageName, scopeLabel } from '../../trust/evaluate.js';
import type { PolicyRequirement } from '../../trust/policy-parse.js';
import type { ImageSignature } from '../../trust/verifier.js';
import { type Command, parse, println } from '../command.js';
import * as path from 'node:path';

const USAGE = `Usage: ocikit policy REF [--policy FILE] [--insecure-policy] [--registries.d DIR]
                     [--registries-conf FILE] [--tls-verify=false] [--json]

Prints what the trust policy (containers-policy.json) decides for a pull of REF
(NAME[:TAG] or NAME@DIGEST, optionally docker://), as ocikit fetch decides it: the policy file, the
scope that matches, its requirements and, when the image is reachable, the manifest evaluated (for
a list, this host's instance), the signatures found and why each did or did not satisfy each
requirement.

Options:
  --policy FILE           the policy to use instead of ~/.config/containers/policy.json or
                          /etc/containers/policy.json
  --insecure-policy       accept every image without reading any policy
  --registries.d DIR      signature storage configuration instead of the standard registries.d
  --registries-conf FILE  the registries.conf to read instead of the standard lookup
  --tls-verify=false      as fetch's "tls-verify": false
  --json                  print the explanation as JSON

Exit status: 0 accepted, 1 refused (or a configuration error), 2 usage error.`;

export const command: Command = {
  name: 'policy',
  usage: USAGE,
  async run(args, ctx) {
    const { values, positionals } = parse(
      'policy',
      args,
      {
        policy: { type: 'string' },
        'insecure-policy': { type: 'boolean' },
        'registries.d': { type: 'string' },
        'registries-conf': { type: 'string' },
        'tls-verify': { type: 'string' },
        json: { type: 'boolean' },
      },
      { min: 1, max: 1, names: 'one image reference' },
    );
    const tls = values['tls-verify'];
    if (tls !== undefined && tls !== 'true' && tls !== 'false')
      throw new OcikitError('USAGE', `policy: --tls-verify ${JSON.stringify(tls)} is not true or false`);
    let ref: DockerReference;
    try {
      ref = parseDockerReference(positionals[0]!.replace(/^docker:\/\//, ''), 'image reference');
      if (ref.tag !== undefined && ref.digest !== undefined)
        throw new Error('a reference with both a tag and a digest cannot be pulled');
    } catch (err) {
      throw new OcikitError('USAGE', `policy: ${(err as Error).message}`, { cause: err });
    }
    const abs = (p: string | undefined) => (p ? path.resolve(ctx.cwd, p) : undefined);
    const ex = await explainPolicy(ref, {
      env: ctx.env,
      signal: ctx.signal,
      policy: abs(values.policy),
      insecurePolicy: values['insecure-policy'],
      registriesD: abs(values['registries.d']),
      registriesConf: abs(values['registries-conf']),
      tlsVerify: tls === undefined ? undefined : tls === 'true',
    });
    println(ctx.stdout, values.json ? JSON.stringify(jsonOf(ex), null, 2) : textOf(ex));
    if (!ex.accepted) throw new OcikitError('POLICY', ex.refusal ?? 'the trust policy refuses the image');
    return 0;
  },
};

/** A requirement as printed: its fields, key data shown by size only. */
function requirementJson(r: PolicyRequirement): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) out[k] = v instanceof Uint8Array ? `<${v.length} bytes>` : v;
  return out;
}

function signatureJson(s: ImageSignature, index: number) {
  return { index, kind: s.kind, source: s.source ?? null, ...(s.kind === 'sigstore' ? { mimeType: s.mimeType } : {}) };
}

function jsonOf(ex: PolicyExplanation) {
  return {
    policy: ex.file,
    image: policyImageName(ex.identity),
    scope: { ...ex.scope, label: scopeLabel(ex.scope) },
    requirements: ex.requirements.map(requirementJson),
    manifest: ex.manifest,
    unreachable: ex.unreachable ?? null,
    signaturesLookedIn: ex.lookedIn ?? null,
    signatures: ex.signatures.map(signatureJson),
    decision: ex.decision?.requirements ?? null,
    accepted: ex.accepted,
    refusal: ex.refusal ?? null,
  };
}

function textOf(ex: PolicyExplanation): string {
  const lines = [`policy: ${ex.file ?? '--insecure-policy (every image is accepted)'}`];
  lines.push(`image: ${policyImageName(ex.identity)}`);
  lines.push(`scope: ${scopeLabel(ex.scope)}`);
  lines.push('requirements:');
  for (const [i, r] of ex.requirements.entries()) lines.push(`  ${i + 1}. ${JSON.stringify(requirementJson(r))}`);
  if (ex.manifest === null) lines.push(`manifest: not reachable (${ex.unreachable ?? 'unknown'})`);
  else {
    const inst = ex.manifest.instance ? `, instance ${ex.manifest.instance} for this host evaluated` : '';
    lines.push(`manifest: ${ex.manifest.digest} from ${ex.manifest.endpoint}${inst}`);
  }
  if (ex.lookedIn !== undefined) {
    lines.push(`signatures looked for in: ${ex.lookedIn}`);
    lines.push(`signatures found: ${ex.signatures.length}`);
    for (const [i, s] of ex.signatures.entries())
      lines.push(`  ${i + 1}. ${s.kind}${s.source ? ` from ${s.source}` : ''}`);
  }
  if (ex.decision !== null) {
    lines.push('evaluation:');
    for (const r of ex.decision.requirements) {
      const field = r.unimplemented ? ` (field ${JSON.stringify(r.unimplemented)} not implemented)` : '';
      lines.push(`  ${r.index + 1}. ${r.type}: ${r.allowed ? 'allows' : `refuses${field}: ${r.reason ?? ''}`}`);
      for (const s of r.signatures ?? [])
        lines.push(`     signature ${s.index + 1}: ${s.accepted ? 'accepted' : `not accepted: ${s.reason ?? ''}`}`);
    }
  }
  lines.push(`result: ${ex.accepted ? 'accepted' : `refused: ${ex.refusal ?? ''}`}`);
  return lines.join('\n');
}
