/**
 * Tests for src/config/certs-d.ts: which certificate directory a registry gets (a temporary HOME,
 * the system certs.d roots replaced by temporary ones, `--cert-dir`), what is read from it, and
 * the errors for unpaired client certificates and keys (as containers/image 5.23
 * `pkg/tlsclientconfig` `SetupCertificates`).
 */
import * as assert from 'node:assert/strict';
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { X509Certificate } from 'node:crypto';
import { SYSTEM_CERTS_D, certDirFor, readCertDir, registryCerts } from '../../src/config/certs-d.js';
import { planEndpoints } from '../../src/registry/endpoints.js';
import { parseDockerReference } from '../../src/model/docker-reference.js';
import { makePki, type TestPki } from '../helpers/pki.js';
import { needTool } from '../helpers/tools.js';
import { tempDir } from '../helpers/tmp.js';

let pki: TestPki | undefined;
async function thePki(t: TestContext): Promise<TestPki> {
  pki ??= await makePki(await tempDir(t));
  return pki;
}
async function mkdirp(d: string): Promise<string> {
  await mkdir(d, { recursive: true });
  return d;
}
async function rejectsConfig(p: Promise<unknown>, ...inMessage: RegExp[]): Promise<void> {
  await assert.rejects(p, (err: Error & { code?: string }) => {
    assert.equal(err.code, 'CONFIG', err.message);
    for (const re of inMessage) assert.match(err.message, re);
    assert.ok(!/BEGIN|PRIVATE KEY-/.test(err.message), 'no PEM in messages');
    return true;
  });
}

describe('certDirFor', () => {
  it('looks in $HOME/.config/containers/certs.d, /etc/containers/certs.d, /etc/docker/certs.d, in order', () => {
    assert.deepEqual(SYSTEM_CERTS_D, ['/etc/containers/certs.d', '/etc/docker/certs.d']);
  });

  it('takes the first directory that exists for host:port, without merging the others', async (t) => {
    const root = await tempDir(t);
    const home = join(root, 'home');
    const sys = [join(root, 'etc-containers'), join(root, 'etc-docker')];
    const host = '127.0.0.1:5000';
    const opts = { home, env: {} };
    assert.equal(await certDirFor(host, opts, sys), undefined);
    await mkdirp(join(sys[1]!, host));
    assert.equal(await certDirFor(host, opts, sys), join(sys[1]!, host));
    await mkdirp(join(sys[0]!, host));
    assert.equal(await certDirFor(host, opts, sys), join(sys[0]!, host));
    await mkdirp(join(home, '.config/containers/certs.d', host));
    assert.equal(await certDirFor(host, opts, sys), join(home, '.config/containers/certs.d', host));
    // The home directory comes from HOME when no explicit one is given; XDG_CONFIG_HOME does not count.
    assert.equal(
      await certDirFor(host, { env: { HOME: home, XDG_CONFIG_HOME: join(root, 'xdg') } }, sys),
      join(home, '.config/containers/certs.d', host),
    );
    // Another port is another directory.
    assert.equal(await certDirFor('127.0.0.1:5001', opts, sys), undefined);
  });

  it('uses --cert-dir as is for every registry (no host subdirectory), relative to the working directory', async (t) => {
    const root = await tempDir(t);
    assert.equal(await certDirFor('a.example', { certDir: join(root, 'x') }, []), join(root, 'x'));
    assert.equal(await certDirFor('b.example:99', { certDir: 'rel', cwd: root }, []), join(root, 'rel'));
  });

  it('fails with CONFIG when a candidate is below a file (not a directory)', async (t) => {
    const root = await tempDir(t);
    await writeFile(join(root, 'file'), '');
    await rejectsConfig(certDirFor('h', { home: join(root, 'file') }, []), /cannot be examined/, /ENOTDIR/);
  });
});

describe('readCertDir', () => {
  it('takes *.crt as CAs and NAME.cert + NAME.key as the client certificate, listing the files', async (t) => {
    if (!needTool(t, 'openssl')) return;
    const p = await thePki(t);
    const dir = await tempDir(t);
    await writeFile(join(dir, 'ca.crt'), p.ca.cert);
    await writeFile(join(dir, 'client.cert'), p.client.cert);
    await writeFile(join(dir, 'client.key'), p.client.key);
    await writeFile(join(dir, 'README'), 'ignored');
    await writeFile(join(dir, 'ca.pem'), p.ca.cert); // only .crt is a CA file
    await symlink('gone.crt', join(dir, 'dangling.crt')); // skipped, as containers/image warns and goes on
    const got = await readCertDir(dir);
    assert.ok(got);
    assert.deepEqual(got.files, {
      dir,
      files: [join(dir, 'ca.crt'), join(dir, 'client.cert'), join(dir, 'client.key')],
    });
    assert.equal(got.tls.ca?.length, 1);
    assert.equal(new X509Certificate(got.tls.ca![0]!).subject, 'CN=ocikit_test_CA');
    assert.equal(new X509Certificate(got.tls.cert!).subject, 'CN=ocikit_test_client');
    assert.match(got.tls.key!.toString(), /PRIVATE KEY/);
  });

  it('refuses a .cert without its .key and a .key without its .cert, naming the file', async (t) => {
    if (!needTool(t, 'openssl')) return;
    const p = await thePki(t);
    const a = await tempDir(t);
    await writeFile(join(a, 'client.cert'), p.client.cert);
    await rejectsConfig(readCertDir(a), new RegExp(`${join(a, 'client.cert')}.*client\\.key`));
    const b = await tempDir(t);
    await writeFile(join(b, 'client.key'), p.client.key);
    await rejectsConfig(readCertDir(b), new RegExp(`${join(b, 'client.key')}.*client\\.cert`));
  });

  it('refuses a key that does not belong to the certificate, and unreadable entries', async (t) => {
    if (!needTool(t, 'openssl')) return;
    const p = await thePki(t);
    const dir = await tempDir(t);
    await writeFile(join(dir, 'client.cert'), p.client.cert);
    await writeFile(join(dir, 'client.key'), p.server.key);
    await rejectsConfig(readCertDir(dir), /client\.cert/, /does not match/);
    const d2 = await tempDir(t);
    await mkdir(join(d2, 'x.crt'));
    await rejectsConfig(readCertDir(d2), /x\.crt/);
  });

  it('is no directory when it does not exist, and a permission error is no directory either', async (t) => {
    const dir = await tempDir(t);
    assert.equal(await readCertDir(join(dir, 'missing')), undefined);
    if (process.getuid?.() === 0) return; // root reads anyway
    const locked = await mkdirp(join(dir, 'locked'));
    await chmod(locked, 0);
    t.after(() => chmod(locked, 0o700));
    assert.equal(await readCertDir(locked), undefined);
  });
});

describe('registryCerts and planEndpoints', () => {
  it("puts the certs.d material on the endpoint's location and the files in the plan; docker.io is 'docker.io'", async (t) => {
    if (!needTool(t, 'openssl')) return;
    const p = await thePki(t);
    const home = await tempDir(t);
    const hub = await mkdirp(join(home, '.config/containers/certs.d/docker.io'));
    await writeFile(join(hub, 'hub.crt'), p.ca.cert);
    await mkdirp(join(home, '.config/containers/certs.d/registry-1.docker.io')); // not this one
    const plan = await planEndpoints(parseDockerReference('fedora'), { home, env: {} });
    const ep = plan.endpoints[0]!;
    assert.equal(ep.location.host, 'registry-1.docker.io');
    assert.deepEqual(ep.certs, { dir: hub, files: [join(hub, 'hub.crt')] });
    assert.equal(ep.location.tls?.ca?.length, 1);

    // Planned again (the next image of a run): the very same material, so connections are shared.
    const again = await planEndpoints(parseDockerReference('fedora:41'), { home, env: {} });
    assert.equal(again.endpoints[0]!.location.tls, ep.location.tls);

    const other = await planEndpoints(parseDockerReference('quay.io/a/b'), { home, env: {} });
    assert.equal(other.endpoints[0]!.certs, undefined);
    assert.equal(other.endpoints[0]!.location.tls, undefined);

    // An empty directory is used (and lists no files) but gives no material.
    assert.deepEqual(await registryCerts('registry-1.docker.io', { home, env: {} }), {
      files: { dir: join(home, '.config/containers/certs.d/registry-1.docker.io'), files: [] },
      tls: undefined,
    });
  });
});
