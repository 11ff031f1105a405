/**
 * Signed pulls end to end, differential against skopeo 1.9.3: images signed by real
 * `skopeo copy --sign-by` (a GPG key made in the test) into a `lookaside-staging` directory, served
 * by a loopback lookaside server that registries.d in a temporary HOME names; the same `signedBy`
 * policy for `skopeo copy --policy P docker://…@DIGEST dir:OUT` and for `ocikit fetch --policy P`.
 * Both accept the signed image and refuse the unsigned one and the one signed by another key; the
 * cache entry keeps the signature skopeo's `dir:` copy keeps (byte for byte, as `signature-1`);
 * `ocikit policy` explains the decision; and `install` of the cache entry carries the signature
 * into containers-storage.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { install } from '../../src/install/install.js';
import { exportKeys, genKey, makeGpgHome, stageSignatures } from '../helpers/gpg.js';
import { makeDirImage } from '../helpers/images.js';
import { makePki } from '../helpers/pki.js';
import { env as installEnv, inputs, req, storageOptions, store } from '../helpers/install-env.js';
import { startLookasideServer } from '../helpers/lookaside-server.js';
import { runNode } from '../helpers/process.js';
import { startRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';
import { writePolicy } from '../helpers/trust-policy.js';

const OCIKIT = fileURLToPath(new URL('../../../bin/ocikit', import.meta.url));

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout: 60_000 }, (err, _out, stderr) =>
      resolve({ status: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stderr: String(stderr) }),
    );
  });
}

describe('signed pulls: ocikit fetch vs skopeo copy with a signedBy policy and a lookaside server', () => {
  it('accepts the signed image, refuses unsigned and wrongly signed ones, keeps the signature, and install carries it', async (t) => {
    if (!needTool(t, 'skopeo', 'docker-registry', 'gpg', 'podman')) return;
    const work = await tempDir(t, 'ocikit-signed-');
    const reg = await startRegistry(t);
    const g = await makeGpgHome(t);
    const trusted = genKey(g, 'trusted@example.com');
    const other = genKey(g, 'other@example.com');
    const key = join(work, 'trusted.gpg');
    await writeFile(key, exportKeys(g, [trusted]));

    // Sign while pushing: skopeo writes signature-N under the staging directory.
    const stage = await stageSignatures(g, work);
    const img = await makeDirImage(join(work, 'img'));
    const push = async (extra: string[], repo: string) => {
      const r = await run(
        'skopeo',
        ['copy', '--quiet', '--dest-tls-verify=false', ...extra, `dir:${img.dir}`, `docker://${reg.host}/${repo}`],
        g.env,
      );
      assert.equal(r.status, 0, r.stderr);
    };
    await push(['--sign-by', trusted], 'ns/signed:v1');
    await push([], 'ns/unsigned:v1');
    await push(['--sign-by', other], 'ns/other:v1');
    const lookaside = await startLookasideServer(t, stage);

    // The pulling host: registries.d names the lookaside server; the policy wants the trusted key.
    const home = join(work, 'home');
    await mkdir(join(home, '.config', 'containers', 'registries.d'), { recursive: true });
    await writeFile(
      join(home, '.config', 'containers', 'registries.d', 'lookaside.yaml'),
      `default-docker:\n  lookaside: ${lookaside.url}\n`,
    );
    const policy = await writePolicy(join(work, 'policy.json'), {
      default: [{ type: 'reject' }],
      transports: { docker: { [`${reg.host}/ns`]: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: key }] } },
    });
    const env = { PATH: process.env.PATH ?? '', HOME: home };

    const pull = async (repo: string) => {
      const name = `${reg.host}/${repo}`;
      const out = join(work, `out-${repo.replaceAll('/', '-')}`);
      const sk = await run(
        'skopeo',
        ['--policy', policy, 'copy', '--src-tls-verify=false', `docker://${name}@${img.manifestDigest}`, `dir:${out}`],
        env,
      );
      const sources = join(work, `sources-${repo.replaceAll('/', '-')}.json`);
      await writeFile(
        sources,
        JSON.stringify({
          'org.osbuild.skopeo': {
            items: { [img.configDigest]: { image: { name, digest: img.manifestDigest, 'tls-verify': false } } },
          },
        }),
      );
      const cache = join(work, `cache-${repo.replaceAll('/', '-')}`);
      const oc = await runNode([OCIKIT, 'fetch', '--sources', sources, '--cache', cache, '--policy', policy], { env });
      const explained = await runNode(
        [OCIKIT, 'policy', '--json', '--policy', policy, '--tls-verify=false', `${name}@${img.manifestDigest}`],
        { env },
      );
      return { name, out, cache, sk, oc, explained };
    };

    // Signed with the trusted key: both accept; the same signature is kept.
    const signed = await pull('ns/signed');
    assert.equal(signed.sk.status, 0, signed.sk.stderr);
    assert.equal(signed.oc.status, 0, signed.oc.stderr);
    assert.equal(signed.explained.status, 0, signed.explained.stderr);
    assert.equal((JSON.parse(signed.explained.stdout) as { accepted: boolean }).accepted, true);
    const entry = join(signed.cache, 'org.osbuild.containers', img.configDigest, 'image');
    const files = await readdir(entry);
    assert.ok(files.includes('signature-1') && !files.includes('signature-2'), files.join(' '));
    assert.deepEqual(await readFile(join(entry, 'signature-1')), await readFile(join(signed.out, 'signature-1')));
    assert.ok(
      lookaside.requests.some((r) => r.endsWith(`/ns/signed@sha256=${img.manifestDigest.slice(7)}/signature-1`)),
      lookaside.requests.join('\n'),
    );

    // Unsigned, and signed by a key the policy does not trust: both refuse; nothing is cached.
    for (const repo of ['ns/unsigned', 'ns/other']) {
      const p = await pull(repo);
      assert.notEqual(p.sk.status, 0, `skopeo accepted ${repo}`);
      assert.match(p.sk.stderr, /Source image rejected/);
      assert.equal(p.oc.status, 1, p.oc.stderr);
      assert.match(
        p.oc.stderr,
        /^ocikit: docker:\/\/\S+ rejected by trust policy \S+policy\.json \(transports\.docker\["[^"]+\/ns"\]\): requirement 1 \(signedBy\)/,
      );
      if (repo === 'ns/unsigned') assert.match(p.oc.stderr, /lookaside/);
      assert.equal(p.oc.stderr.trim().split('\n').length, 1);
      t.diagnostic(`${repo}: ${p.oc.stderr.trim()}`);
      assert.deepEqual(await readdir(join(p.cache, 'org.osbuild.containers')).catch(() => []), []);
      assert.equal(p.explained.status, 1);
    }

    // install carries the kept signature into a dir destination, and into containers-storage
    // (skopeo copy dir: → storage).
    const kept = await readFile(join(entry, 'signature-1'));
    const e = await installEnv(t);
    await rename(entry, join(e.images, img.configDigest));
    const image = inputs(e, { [img.configDigest]: { format: 'dir', name: 'localhost/signed:v1' } });
    await install(req(e, image, { destination: { type: 'dir', path: '/usr/share/signed' } }));
    assert.deepEqual(await readFile(join(e.tree, 'usr/share/signed/signature-1')), kept);
    await install(req(e, image, storageOptions()));
    // containers/storage keeps an image's signatures as its "signatures" big data, sized in the
    // record's metadata (`signature-sizes`).
    const records = JSON.parse(await readFile(join(store(e), 'vfs-images', 'images.json'), 'utf8')) as {
      id: string;
      metadata?: string;
      'big-data-names'?: string[];
    }[];
    const rec = records.find((r) => r.id === img.configDigest.slice(7));
    assert.ok(rec?.['big-data-names']?.includes('signatures'), JSON.stringify(rec));
    const sizes = (JSON.parse(rec?.metadata ?? '{}') as { 'signature-sizes'?: number[] })['signature-sizes'];
    assert.deepEqual(sizes, [(await readFile(join(signed.out, 'signature-1'))).length]);
  });
  it('an https lookaside is reached with the registry’s TLS settings (its certs.d CA), by both', async (t) => {
    if (!needTool(t, 'skopeo', 'docker-registry', 'gpg', 'openssl')) return;
    const work = await tempDir(t, 'ocikit-signed-tls-');
    const pki = await makePki(await tempDir(t, 'ocikit-pki-'));
    const reg = await startRegistry(t, { tls: { certificate: pki.server.certFile, key: pki.server.keyFile } });
    const caDir = join(work, 'ca');
    await mkdir(caDir);
    await writeFile(join(caDir, 'ca.crt'), pki.ca.cert);
    const g = await makeGpgHome(t);
    const fpr = genKey(g, 'tls@example.com');
    const key = join(work, 'key.gpg');
    await writeFile(key, exportKeys(g, [fpr]));
    const stage = await stageSignatures(g, work);
    const img = await makeDirImage(join(work, 'img'));
    const pushed = await run(
      'skopeo',
      ['copy', '--quiet', '--dest-cert-dir', caDir, '--sign-by', fpr, `dir:${img.dir}`, `docker://${reg.host}/ns/s:v1`],
      g.env,
    );
    assert.equal(pushed.status, 0, pushed.stderr);
    // The lookaside server has a certificate of the same private CA; only the registry's certs.d has the CA.
    const lookaside = await startLookasideServer(t, stage, { tls: { cert: pki.server.cert, key: pki.server.key } });
    const home = join(work, 'home');
    await mkdir(join(home, '.config/containers/registries.d'), { recursive: true });
    await mkdir(join(home, '.config/containers/certs.d', reg.host), { recursive: true });
    await writeFile(join(home, '.config/containers/certs.d', reg.host, 'ca.crt'), pki.ca.cert);
    await writeFile(
      join(home, '.config/containers/registries.d/l.yaml'),
      `default-docker:\n  lookaside: ${lookaside.url}\n`,
    );
    const policy = await writePolicy(join(work, 'policy.json'), {
      default: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: key }],
    });
    const env = { PATH: process.env.PATH ?? '', HOME: home };
    const name = `${reg.host}/ns/s`;
    const sk = await run(
      'skopeo',
      ['--policy', policy, 'copy', `docker://${name}@${img.manifestDigest}`, `dir:${join(work, 'out')}`],
      env,
    );
    assert.equal(sk.status, 0, sk.stderr);
    const skopeoAsked = lookaside.requests.length;
    assert.ok(skopeoAsked > 0);
    const sources = join(work, 'sources.json');
    await writeFile(
      sources,
      JSON.stringify({
        'org.osbuild.skopeo': { items: { [img.configDigest]: { image: { name, digest: img.manifestDigest } } } },
      }),
    );
    const oc = await runNode(
      [OCIKIT, 'fetch', '--sources', sources, '--cache', join(work, 'cache'), '--policy', policy],
      {
        env,
      },
    );
    assert.equal(oc.status, 0, oc.stderr);
    assert.ok(lookaside.requests.length > skopeoAsked, 'ocikit asked the https lookaside');
    const entry = join(work, 'cache', 'org.osbuild.containers', img.configDigest, 'image');
    assert.deepEqual(await readFile(join(entry, 'signature-1')), await readFile(join(work, 'out', 'signature-1')));
  });
});
