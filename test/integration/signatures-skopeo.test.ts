/**
 * Differential: signature sources and verification, ocikit against skopeo 1.9.3 on the same
 * images, the same registries.d (in a temporary HOME) and the same policy file. Images are signed
 * by real `skopeo copy --sign-by FPR` (GPG keys made in the test) into a `lookaside-staging`
 * `file://` directory, pushed to a loopback docker-registry, and served for the pull by a loopback
 * HTTP server (`lookaside: http://127.0.0.1:P/`). For each scenario,
 * `skopeo copy --policy P docker://… dir:OUT` succeeds exactly when ocikit's
 * `fetchImageSignatures` + `evaluatePolicy(loadPolicy(P), image, createSignatureVerifier())`
 * accepts, and the signatures ocikit fetched are the `signature-N` files skopeo wrote into OUT.
 *
 * Sigstore attachments are built in the test as containers/image 5.23 writes them
 * (test/helpers/sigstore-attachment.ts): Debian's skopeo 1.9.3 refuses every `sigstoreSigned`
 * image ("sigstore disabled"), so it agrees on every refusal and the valid case is judged by
 * upstream containers/image's rules (`signature/policy_eval_sigstore.go`).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { it, type TestContext } from 'node:test';
import type { Digest } from '../../src/model/digest.js';
import { parseDockerReference } from '../../src/model/docker-reference.js';
import { closeRegistryClient, createRegistryClient } from '../../src/registry/client.js';
import { fetchImageSignatures } from '../../src/registry/signatures.js';
import { evaluatePolicy } from '../../src/trust/evaluate.js';
import { loadPolicy } from '../../src/trust/policy.js';
import { dockerPolicyIdentity } from '../../src/trust/policy-scopes.js';
import { loadRegistriesD, signatureLocationsFor } from '../../src/trust/registries-d.js';
import type { ImageSignature } from '../../src/trust/verifier.js';
import { createSignatureVerifier } from '../../src/trust/verify.js';
import { exportKeys, genKey, makeGpgHome, stageSignatures } from '../helpers/gpg.js';
import { makeDirImage } from '../helpers/images.js';
import { startLookasideServer } from '../helpers/lookaside-server.js';
import { startRegistry } from '../helpers/registry.js';
import { pushSigstoreAttachment, signedLayer, sigstoreKey, sigstorePayload } from '../helpers/sigstore-attachment.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';

/** One pull, as both tools see it. */
interface Pull {
  /** `REPO@DIGEST` or `REPO:TAG` under the registry. */
  readonly image: string;
  /** The policy file's content. */
  readonly policy: unknown;
  /** registries.d `default-docker` (YAML flow mapping content). */
  readonly registriesD: string;
}

interface Outcome {
  readonly skopeo: boolean;
  readonly skopeoError: string;
  readonly ocikit: boolean;
  readonly ocikitReason: string;
  readonly fetched: readonly ImageSignature[] | null;
  readonly out: string;
}

/** Runs a tool asynchronously (the lookaside server answers from this process's event loop). */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, _stdout, stderr) => {
      const status = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ status, stderr: String(stderr) });
    });
  });
}

it('signature sources and verification: ocikit vs skopeo 1.9.3', async (t) => {
  if (!needTool(t, 'skopeo', 'docker-registry', 'gpg')) return;
  const work = await tempDir(t, 'ocikit-sigsrc-');
  const reg = await startRegistry(t);
  const host = reg.host;
  const g = await makeGpgHome(t);
  const fprA = genKey(g, 'a@example.com');
  const fprB = genKey(g, 'b@example.com');
  const keyA = join(work, 'a.gpg');
  const keyB = join(work, 'b.gpg');
  await writeFile(keyA, exportKeys(g, [fprA]));
  await writeFile(keyB, exportKeys(g, [fprB]));

  // Signing: skopeo writes signatures into the staging directory.
  const stage = await stageSignatures(g, work);
  const img = await makeDirImage(join(work, 'img'));
  const digest = img.manifestDigest as Digest;
  const hex = digest.slice(7);
  const push = async (args: string[]) => {
    const r = await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', ...args], g.env);
    assert.equal(r.status, 0, r.stderr);
  };
  await push(['--sign-by', fprA, `dir:${img.dir}`, `docker://${host}/ns/signed:v1`]);
  await push([`dir:${img.dir}`, `docker://${host}/ns/unsigned:v1`]);
  // Two signatures: B's (kept in a dir: copy), then A's added on the push.
  const signedByB = join(work, 'img-b');
  await push(['--sign-by', fprB, '--sign-identity', `${host}/ns/two:v1`, `dir:${img.dir}`, `dir:${signedByB}`]);
  await push(['--sign-by', fprA, `dir:${signedByB}`, `docker://${host}/ns/two:v1`]);
  // Signed for :v1, pushed as :v2.
  await push([
    '--sign-by',
    fprA,
    '--sign-identity',
    `${host}/ns/ident:v1`,
    `dir:${img.dir}`,
    `docker://${host}/ns/ident:v2`,
  ]);
  // A mirror repository holding ns/signed's signature.
  await push([`dir:${img.dir}`, `docker://${host}/mirror/signed:v1`]);
  await mkdir(join(stage, `mirror/signed@sha256=${hex}`), { recursive: true });
  await copyFile(
    join(stage, `ns/signed@sha256=${hex}/signature-1`),
    join(stage, `mirror/signed@sha256=${hex}/signature-1`),
  );
  assert.deepEqual(await readdir(join(stage, `ns/two@sha256=${hex}`)), ['signature-1', 'signature-2']);

  // Sigstore: attachments as c/image writes them.
  const k1 = sigstoreKey();
  const k2 = sigstoreKey();
  const pemK1 = join(work, 'k1.pub');
  const pemK2 = join(work, 'k2.pub');
  await writeFile(pemK1, k1.publicPem);
  await writeFile(pemK2, k2.publicPem);
  for (const repo of ['cosign', 'cosign-tampered', 'cosign-missing'])
    await push([`dir:${img.dir}`, `docker://${host}/ns/${repo}:v1`]);
  const payload = sigstorePayload(digest, `${host}/ns/cosign:v1`);
  await pushSigstoreAttachment(host, 'ns/cosign', digest, [signedLayer(k1, payload)]);
  const tampered = sigstorePayload(digest, `${host}/ns/cosign-tampered:v1`);
  const original = sigstorePayload(digest, `${host}/ns/cosign-tampered:v2`);
  await pushSigstoreAttachment(host, 'ns/cosign-tampered', digest, [signedLayer(k1, tampered, original)]);

  const server = await startLookasideServer(t, stage);
  const emptyDir = join(work, 'empty');
  await mkdir(emptyDir);
  const http = `{lookaside: "${server.url}"}`;
  const file = `{lookaside: "file://${stage}"}`;
  const sigstore = `{lookaside: "file://${emptyDir}", use-sigstore-attachments: true}`;
  const gpg = (keyPath: string, signedIdentity?: unknown) => ({
    default: [{ type: 'reject' }],
    transports: {
      docker: {
        [host]: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath, ...(signedIdentity ? { signedIdentity } : {}) }],
      },
    },
  });
  const cosign = (keyPath: string) => ({ default: [{ type: 'sigstoreSigned', keyPath }] });

  let n = 0;
  const compare = async (pull: Pull, opts: { failing?: boolean } = {}): Promise<Outcome> => {
    const dir = join(work, `case-${n++}`);
    const home = join(dir, 'home');
    const rdDir = join(home, '.config', 'containers', 'registries.d');
    await mkdir(rdDir, { recursive: true });
    await writeFile(join(rdDir, 'pull.yaml'), `default-docker: ${pull.registriesD}\n`);
    const policyFile = join(dir, 'policy.json');
    await writeFile(policyFile, JSON.stringify(pull.policy));
    server.failing = opts.failing ?? false;
    const out = join(dir, 'out');
    const s = await run(
      'skopeo',
      [
        'copy',
        '--quiet',
        '--policy',
        policyFile,
        '--src-tls-verify=false',
        `docker://${host}/${pull.image}`,
        `dir:${out}`,
      ],
      { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home },
    );

    const hostEnv = { home, env: { HOME: home }, uid: 0, cwd: dir };
    const client = createRegistryClient({ retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 5 }, ...hostEnv });
    let fetched: ImageSignature[] | null = null;
    let accepted = false;
    let reason = '';
    try {
      const ref = parseDockerReference(`${host}/${pull.image}`);
      const where = signatureLocationsFor(await loadRegistriesD(hostEnv), ref);
      const loc = { host, path: ref.path, tlsVerify: false };
      const decision = await evaluatePolicy(
        await loadPolicy({ policyFile, ...hostEnv }),
        {
          identity: dockerPolicyIdentity(ref),
          manifestDigest: digest,
          signatures: async () => (fetched = await fetchImageSignatures(client, loc, digest, where)),
        },
        createSignatureVerifier(),
        { host: hostEnv },
      );
      accepted = decision.accepted;
      reason = decision.requirements.map((r) => r.reason ?? 'ok').join('; ');
    } catch (err) {
      reason = (err as Error).message;
    } finally {
      await closeRegistryClient(client);
      server.failing = false;
    }
    return {
      skopeo: s.status === 0,
      skopeoError: s.stderr.trim(),
      ocikit: accepted,
      ocikitReason: reason,
      fetched,
      out,
    };
  };

  const same = async (
    tt: TestContext,
    name: string,
    pull: Pull,
    expected: boolean,
    opts: { failing?: boolean } = {},
  ) => {
    const o = await compare(pull, opts);
    tt.diagnostic(
      `${name}: skopeo ${o.skopeo ? 'accepts' : `refuses (${o.skopeoError})`}; ocikit ${o.ocikit ? 'accepts' : `refuses (${o.ocikitReason})`}`,
    );
    assert.equal(o.skopeo, expected, `${name}: skopeo: ${o.skopeoError}`);
    assert.equal(o.ocikit, expected, `${name}: ocikit: ${o.ocikitReason}`);
    return o;
  };

  /** The signature-N files skopeo wrote into OUT equal the simple-signing signatures ocikit fetched. */
  const sameSignatures = async (o: Outcome) => {
    const files = (await readdir(o.out)).filter((f) => f.startsWith('signature-')).sort();
    assert.ok(o.fetched !== null);
    assert.equal(o.fetched.length, files.length);
    for (const [i, f] of files.entries()) {
      const sig: ImageSignature | undefined = o.fetched[i];
      assert.equal(sig?.kind, 'simple-signing');
      assert.deepEqual(Buffer.from(sig.kind === 'simple-signing' ? sig.bytes : []), await readFile(join(o.out, f)));
    }
  };

  await t.test('signed, valid key (lookaside over http)', async (tt) => {
    const before = server.requests.length;
    const o = await same(
      tt,
      'signed valid',
      { image: `ns/signed@${digest}`, policy: gpg(keyA), registriesD: http },
      true,
    );
    await sameSignatures(o);
    // Both asked for signature-1 and signature-2 at Go's `<base path>/<repo>` URL (a base ending in / gives //).
    const asked = server.requests.slice(before);
    for (const nth of [1, 2]) {
      assert.equal(asked.filter((p) => p === `//ns/signed@sha256=${hex}/signature-${nth}`).length, 2, asked.join(' '));
    }
  });
  await t.test('signed by another key than the policy names', async (tt) => {
    await same(tt, 'wrong key', { image: `ns/signed@${digest}`, policy: gpg(keyB), registriesD: http }, false);
  });
  await t.test('no signature (404 at N=1)', async (tt) => {
    const o = await same(
      tt,
      'unsigned',
      { image: `ns/unsigned@${digest}`, policy: gpg(keyA), registriesD: http },
      false,
    );
    assert.deepEqual(o.fetched, []);
  });
  await t.test('two signatures, the second valid', async (tt) => {
    const o = await same(tt, 'two', { image: `ns/two@${digest}`, policy: gpg(keyA), registriesD: http }, true);
    await sameSignatures(o);
    assert.equal(o.fetched?.length, 2);
  });
  await t.test('lookaside via file://', async (tt) => {
    const o = await same(tt, 'file', { image: `ns/signed@${digest}`, policy: gpg(keyA), registriesD: file }, true);
    await sameSignatures(o);
  });
  await t.test('the lookaside server answers 500: both fail', async (tt) => {
    const o = await same(tt, '500', { image: `ns/signed@${digest}`, policy: gpg(keyA), registriesD: http }, false, {
      failing: true,
    });
    assert.match(o.ocikitReason, /HTTP 500/);
    assert.match(o.skopeoError, /status 500/);
  });
  await t.test('wrong identity: matchExact vs another tag', async (tt) => {
    await same(
      tt,
      'matchExact',
      { image: 'ns/ident:v2', policy: gpg(keyA, { type: 'matchExact' }), registriesD: http },
      false,
    );
    await same(
      tt,
      'matchRepository',
      { image: 'ns/ident:v2', policy: gpg(keyA, { type: 'matchRepository' }), registriesD: http },
      true,
    );
  });
  await t.test('remapIdentity', async (tt) => {
    const remap = { type: 'remapIdentity', prefix: `${host}/mirror`, signedPrefix: `${host}/ns` };
    await same(tt, 'remap', { image: `mirror/signed@${digest}`, policy: gpg(keyA, remap), registriesD: http }, true);
    await same(tt, 'no remap', { image: `mirror/signed@${digest}`, policy: gpg(keyA), registriesD: http }, false);
  });

  // Sigstore: skopeo (Debian) refuses every sigstoreSigned image; ocikit follows upstream c/image.
  const sigstoreCase = async (tt: TestContext, name: string, repo: string, key: string, ocikitAccepts: boolean) => {
    const o = await compare({ image: `ns/${repo}@${digest}`, policy: cosign(key), registriesD: sigstore });
    tt.diagnostic(
      `${name}: skopeo refuses (${o.skopeoError}); ocikit ${o.ocikit ? 'accepts' : `refuses (${o.ocikitReason})`}`,
    );
    assert.equal(o.skopeo, false);
    assert.equal(o.ocikit, ocikitAccepts, o.ocikitReason);
    return o;
  };
  await t.test('sigstore attachment, valid', async (tt) => {
    const o = await sigstoreCase(tt, 'sigstore valid', 'cosign', pemK1, true);
    assert.match(o.skopeoError, /sigstore disabled/i);
    const sig: ImageSignature | undefined = o.fetched?.[0];
    assert.equal(sig?.kind, 'sigstore');
    assert.equal(sig.kind === 'sigstore' ? sig.mimeType : '', 'application/vnd.dev.cosign.simplesigning.v1+json');
    assert.deepEqual(Buffer.from(sig.kind === 'sigstore' ? sig.payload : []), payload);
  });
  await t.test('sigstore attachment, wrong key', async (tt) => {
    const o = await sigstoreCase(tt, 'sigstore wrong key', 'cosign', pemK2, false);
    assert.match(o.ocikitReason, /cryptographic signature verification failed/);
  });
  await t.test('sigstore attachment, tampered payload', async (tt) => {
    const o = await sigstoreCase(tt, 'sigstore tampered', 'cosign-tampered', pemK1, false);
    assert.match(o.ocikitReason, /cryptographic signature verification failed/);
  });
  await t.test('sigstore attachment, missing', async (tt) => {
    const o = await sigstoreCase(tt, 'sigstore missing', 'cosign-missing', pemK1, false);
    assert.deepEqual(o.fetched, []);
    assert.match(o.ocikitReason, /no signature exists/);
  });
});
