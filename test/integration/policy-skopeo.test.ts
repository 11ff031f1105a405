/**
 * Differential: the policy decisions that need no signatures, ocikit against skopeo 1.9.3 on the
 * same policy file, the same temporary HOME and the same image on a loopback registry:
 * `skopeo copy --policy P docker://127.0.0.1:PORT/ns/repo@DIGEST dir:…` succeeds exactly when
 * ocikit's `loadPolicy` + `evaluatePolicy` accept.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { isOcikitError } from '../../src/errors.js';
import { parseDockerReference } from '../../src/model/docker-reference.js';
import type { Digest } from '../../src/model/digest.js';
import { evaluatePolicy, policyRefusal } from '../../src/trust/evaluate.js';
import { loadPolicy, type PolicyLookupOptions } from '../../src/trust/policy.js';
import { dockerPolicyIdentity } from '../../src/trust/policy-scopes.js';
import type { SignatureVerifier } from '../../src/trust/verifier.js';
import { makeDirImage } from '../helpers/images.js';
import { pushDir, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { haveTool, needTool } from '../helpers/tools.js';

const run = promisify(execFile);
const NEVER: SignatureVerifier = {
  verifyGpg: () => Promise.reject(new Error('no signatures in these scenarios')),
  verifySigstore: () => Promise.reject(new Error('no signatures in these scenarios')),
};
const A = { type: 'insecureAcceptAnything' };
const R = { type: 'reject' };

interface Scenario {
  /** The policy file's content (an object is written as JSON), or null for none. */
  policy: unknown;
  /** Where it goes: an explicit `--policy` file, or the per-user file under HOME. */
  where?: 'explicit' | 'home';
  insecure?: boolean;
  /** The outcome both must reach. */
  accepted: boolean;
}

describe('policy decisions: ocikit vs skopeo 1.9.3', () => {
  let reg: TestRegistry | undefined;
  let work = '';
  let digest = '';
  before(async () => {
    if (!haveTool('skopeo') || !haveTool('docker-registry')) return;
    work = await mkdtemp('/tmp/ocikit-policy-');
    reg = await startRegistry();
    const img = await makeDirImage(join(work, 'img'));
    await pushDir(join(work, 'img'), reg.host, 'ns/repo:v1');
    digest = img.manifestDigest;
  });
  after(async () => {
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const scenarios = (host: string): Record<string, Scenario> => ({
    'reject default': { policy: { default: [R] }, accepted: false },
    'accept default': { policy: { default: [A] }, accepted: true },
    'reject scoped to host:port': {
      policy: { default: [A], transports: { docker: { [host]: [R] } } },
      accepted: false,
    },
    'reject scoped to the host without its port (no match)': {
      policy: { default: [A], transports: { docker: { '127.0.0.1': [R] } } },
      accepted: true,
    },
    'reject scoped to *.0.0.1': {
      policy: { default: [A], transports: { docker: { '*.0.0.1': [R] } } },
      accepted: false,
    },
    'reject scoped to the namespace': {
      policy: { default: [A], transports: { docker: { [`${host}/ns`]: [R] } } },
      accepted: false,
    },
    'reject scoped to the repository': {
      policy: { default: [A], transports: { docker: { [`${host}/ns/repo`]: [R] } } },
      accepted: false,
    },
    'reject scoped to repo@digest': {
      policy: { default: [A], transports: { docker: { [`${host}/ns/repo@${digest}`]: [R] } } },
      accepted: false,
    },
    'reject scoped to repo:tag (a digest pull does not match)': {
      policy: { default: [A], transports: { docker: { [`${host}/ns/repo:v1`]: [R] } } },
      accepted: true,
    },
    'reject scoped to another repository': {
      policy: { default: [A], transports: { docker: { [`${host}/ns/other`]: [R] } } },
      accepted: true,
    },
    'accept at the repository overrides reject at the host and default': {
      policy: { default: [R], transports: { docker: { [host]: [R], [`${host}/ns/repo`]: [A] } } },
      accepted: true,
    },
    'the docker "" scope before default': {
      policy: { default: [A], transports: { docker: { '': [R] } } },
      accepted: false,
    },
    'every requirement must hold': { policy: { default: [A, R] }, accepted: false },
    'signedBy with no signatures': {
      policy: { default: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/nonexistent.gpg' }] },
      accepted: false,
    },
    'sigstoreSigned with no signatures': {
      policy: { default: [{ type: 'sigstoreSigned', keyPath: '/nonexistent.pub' }] },
      accepted: false,
    },
    'signedBaseLayer (not implemented: both refuse)': {
      policy: { default: [{ type: 'signedBaseLayer', baseLayerIdentity: { type: 'matchRepository' } }] },
      accepted: false,
    },
    'malformed policy (unknown key)': { policy: { default: [A], defaults: [A] }, accepted: false },
    'malformed policy in a scope that does not apply': {
      policy: { default: [A], transports: { docker: { 'quay.io': [] } } },
      accepted: false,
    },
    'sigstoreSigned with fulcio (unknown to 5.23)': {
      policy: {
        default: [A],
        transports: { docker: { 'quay.io': [{ type: 'sigstoreSigned', keyPath: '/k', fulcio: {} }] } },
      },
      accepted: false,
    },
    'missing explicit policy file': { policy: null, accepted: false },
    '--insecure-policy over a reject policy': { policy: { default: [R] }, insecure: true, accepted: true },
    '--insecure-policy over a malformed policy': { policy: '{', insecure: true, accepted: true },
    'per-user policy under HOME': { policy: { default: [R] }, where: 'home', accepted: false },
  });

  it('reaches the same decision for every scenario', async (t) => {
    if (!needTool(t, 'skopeo', 'docker-registry') || reg === undefined) return;
    const host = reg.host;
    const results: string[] = [];
    let n = 0;
    for (const [name, s] of Object.entries(scenarios(host))) {
      const dir = join(work, `case-${n++}`);
      const home = join(dir, 'home');
      const xdg = join(dir, 'xdg');
      await mkdir(join(home, '.config', 'containers'), { recursive: true });
      await mkdir(join(xdg, 'containers'), { recursive: true });
      // A permissive policy under XDG_CONFIG_HOME, which neither tool may read.
      await writeFile(join(xdg, 'containers', 'policy.json'), JSON.stringify({ default: [A] }));
      const file = s.where === 'home' ? join(home, '.config', 'containers', 'policy.json') : join(dir, 'policy.json');
      if (s.policy !== null) await writeFile(file, typeof s.policy === 'string' ? s.policy : JSON.stringify(s.policy));
      const args = ['copy', '--quiet', '--src-tls-verify=false'];
      if (s.where !== 'home') args.push('--policy', file);
      if (s.insecure) args.push('--insecure-policy');
      args.push(`docker://${host}/ns/repo@${digest}`, `dir:${join(dir, 'out')}`);
      const sk = await run('skopeo', args, { env: { PATH: process.env.PATH, HOME: home, XDG_CONFIG_HOME: xdg } }).then(
        () => ({ ok: true, err: '' }),
        (e: { stderr: string }) => ({ ok: false, err: e.stderr.trim() }),
      );

      const opts: PolicyLookupOptions = {
        env: { HOME: home, XDG_CONFIG_HOME: xdg },
        systemPath: join(dir, 'no-system-policy.json'),
        ...(s.where !== 'home' ? { policyFile: file } : {}),
        ...(s.insecure ? { insecurePolicy: true } : {}),
      };
      let ours: { ok: boolean; err: string };
      try {
        const policy = await loadPolicy(opts);
        const id = dockerPolicyIdentity(parseDockerReference(`${host}/ns/repo@${digest}`));
        const d = await evaluatePolicy(
          policy,
          { identity: id, manifestDigest: digest as Digest, signatures: async () => [] },
          NEVER,
        );
        ours = d.accepted ? { ok: true, err: '' } : { ok: false, err: policyRefusal(d, id).message };
        if (!d.accepted) assert.ok(isOcikitError(policyRefusal(d, id), 'POLICY'));
      } catch (err) {
        assert.ok(isOcikitError(err, 'CONFIG'), `${name}: ${String(err)}`);
        assert.ok(err.message.includes(file), `${name}: the CONFIG error names the file: ${err.message}`);
        ours = { ok: false, err: err.message };
      }
      results.push(`${name}: skopeo ${sk.ok ? 'accepts' : 'refuses'}, ocikit ${ours.ok ? 'accepts' : 'refuses'}`);
      assert.equal(sk.ok, s.accepted, `${name}: skopeo: ${sk.err}`);
      assert.equal(ours.ok, s.accepted, `${name}: ocikit: ${ours.err}`);
      if (!s.accepted)
        assert.ok(sk.err.includes('Source image rejected') || sk.err.includes('Error loading trust policy'), sk.err);
    }
    t.diagnostic(results.join('\n'));
  });
});
