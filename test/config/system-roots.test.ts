/**
 * Tests for src/config/system-roots.ts and src/config/pem.ts: the system trust store found as Go's
 * crypto/x509 finds it on Linux (SSL_CERT_FILE and SSL_CERT_DIR pointing into temporary
 * directories, never the real /etc), the same-directory symlink rule, and the PEM blocks
 * AppendCertsFromPEM takes.
 */
import * as assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { X509Certificate } from 'node:crypto';
import { CERT_DIRECTORIES, CERT_FILES, loadSystemRoots, systemRootSources } from '../../src/config/system-roots.js';
import { certificatesFromPem, loadKeyPair, pemBlocks } from '../../src/config/pem.js';
import { makePki, type TestPki } from '../helpers/pki.js';
import { needTool } from '../helpers/tools.js';
import { tempDir } from '../helpers/tmp.js';

/** Three independent CAs (one PKI each), made once for the file. */
let pkis: TestPki[] | undefined;
async function cas(t: TestContext): Promise<TestPki[]> {
  if (pkis === undefined) {
    const dir = await tempDir(t);
    pkis = await Promise.all(['a', 'b', 'c'].map(async (n) => makePki(await mkdirp(join(dir, n)), `CA ${n}`)));
  }
  return pkis;
}
async function mkdirp(d: string): Promise<string> {
  await mkdir(d, { recursive: true });
  return d;
}
const subjects = (pems: readonly string[]) => pems.map((p) => new X509Certificate(p).subject).sort();

describe('systemRootSources', () => {
  it("uses Go's Linux bundle files and directories by default, SSL_CERT_FILE and SSL_CERT_DIR (colon-separated) instead", () => {
    assert.deepEqual(systemRootSources({ env: {} }), { files: CERT_FILES, dirs: CERT_DIRECTORIES });
    assert.equal(CERT_FILES[0], '/etc/ssl/certs/ca-certificates.crt');
    assert.equal(CERT_FILES[1], '/etc/pki/tls/certs/ca-bundle.crt');
    assert.deepEqual(systemRootSources({ env: { SSL_CERT_FILE: '/x.pem', SSL_CERT_DIR: '/a:/b' } }), {
      files: ['/x.pem'],
      dirs: ['/a', '/b'],
    });
    // Empty counts as unset, as Go's `os.Getenv(...) != ""`.
    assert.deepEqual(systemRootSources({ env: { SSL_CERT_FILE: '', SSL_CERT_DIR: '' } }), {
      files: CERT_FILES,
      dirs: CERT_DIRECTORIES,
    });
  });
});

describe('loadSystemRoots', () => {
  it('reads the SSL_CERT_FILE bundle and every file of each SSL_CERT_DIR directory, nothing of /etc', async (t) => {
    if (!needTool(t, 'openssl')) return;
    const [a, b, c] = await cas(t);
    const dir = await tempDir(t);
    const d1 = await mkdirp(join(dir, 'd1'));
    const d2 = await mkdirp(join(dir, 'd2'));
    await writeFile(join(dir, 'bundle.pem'), a!.ca.cert);
    await writeFile(join(d1, 'b.pem'), b!.ca.cert);
    await writeFile(join(d2, 'no-extension'), c!.ca.cert);
    await mkdir(join(d2, 'subdir.pem')); // unreadable entries are skipped
    const roots = loadSystemRoots({ env: { SSL_CERT_FILE: join(dir, 'bundle.pem'), SSL_CERT_DIR: `${d1}:${d2}` } });
    assert.deepEqual(subjects(roots.pems), ['CN=CA_a', 'CN=CA_b', 'CN=CA_c']);
    assert.deepEqual(roots.files, [join(dir, 'bundle.pem'), join(d1, 'b.pem'), join(d2, 'no-extension')]);
  });

  it('a missing SSL_CERT_FILE means no bundle (the distribution files are not tried); the directories still count', async (t) => {
    if (!needTool(t, 'openssl')) return;
    const [a] = await cas(t);
    const dir = await tempDir(t);
    await writeFile(join(dir, 'a.pem'), a!.ca.cert);
    const roots = loadSystemRoots({ env: { SSL_CERT_FILE: join(dir, 'missing.pem'), SSL_CERT_DIR: dir } });
    assert.deepEqual(subjects(roots.pems), ['CN=CA_a']);
    const none = loadSystemRoots({ env: { SSL_CERT_FILE: join(dir, 'missing.pem'), SSL_CERT_DIR: join(dir, 'no') } });
    assert.deepEqual(none.pems, []);
  });

  it('skips symlinks whose target has no slash (hash links), reads those whose target has one', async (t) => {
    if (!needTool(t, 'openssl')) return;
    const [a, b, c] = await cas(t);
    const dir = await tempDir(t);
    const store = await mkdirp(join(dir, 'store'));
    const other = await mkdirp(join(dir, 'other'));
    await writeFile(join(other, 'a.pem'), a!.ca.cert);
    await writeFile(join(other, 'b.pem'), b!.ca.cert);
    await writeFile(join(other, 'c.pem'), c!.ca.cert);
    await symlink('../other/a.pem', join(store, 'relative-with-slash.pem')); // read
    await symlink(join(other, 'b.pem'), join(store, 'absolute.pem')); // read
    await writeFile(join(store, 'c-copy'), c!.ca.cert);
    await symlink('c-copy', join(store, '12345678.0')); // same directory: skipped
    await symlink('missing.pem', join(store, 'dangling.0'));
    await symlink('../other/missing.pem', join(store, 'dangling.pem'));
    const roots = loadSystemRoots({ env: { SSL_CERT_FILE: join(dir, 'none'), SSL_CERT_DIR: store } });
    assert.deepEqual(subjects(roots.pems), ['CN=CA_a', 'CN=CA_b', 'CN=CA_c']);
    assert.deepEqual(
      roots.files,
      ['absolute.pem', 'c-copy', 'relative-with-slash.pem'].map((f) => join(store, f)),
    );
    // Only a symlink to a file beside it is skipped: the same target reached through the hash link alone is not read.
    await writeFile(join(other, 'only-linked'), a!.ca.cert);
    const lone = await mkdirp(join(dir, 'lone'));
    await symlink('../other/only-linked', join(lone, 'x.pem'));
    await symlink('x.pem', join(lone, 'abcdef01.0'));
    const r2 = loadSystemRoots({ env: { SSL_CERT_FILE: join(dir, 'none'), SSL_CERT_DIR: lone } });
    assert.deepEqual(r2.files, [join(lone, 'x.pem')]);
  });

  it('takes each certificate once, from the first file that has it', async (t) => {
    if (!needTool(t, 'openssl')) return;
    const [a, b] = await cas(t);
    const dir = await tempDir(t);
    const d = await mkdirp(join(dir, 'd'));
    await writeFile(join(dir, 'bundle.pem'), Buffer.concat([a!.ca.cert, a!.ca.cert, b!.ca.cert]));
    await writeFile(join(d, 'a.pem'), a!.ca.cert);
    const roots = loadSystemRoots({ env: { SSL_CERT_FILE: join(dir, 'bundle.pem'), SSL_CERT_DIR: d } });
    assert.equal(roots.pems.length, 2);
    assert.deepEqual(roots.files, [join(dir, 'bundle.pem')]);
  });
});

describe('certificatesFromPem (AppendCertsFromPEM)', () => {
  it('takes only CERTIFICATE blocks without headers that parse, skipping the rest', async (t) => {
    if (!needTool(t, 'openssl')) return;
    const [a, b] = await cas(t);
    const body = (pem: Buffer) => pem.toString().split('\n').slice(1, -2).join('\n');
    const text = [
      'preamble text is ignored',
      a!.ca.key.toString(), // PRIVATE KEY
      `-----BEGIN TRUSTED CERTIFICATE-----\n${body(b!.ca.cert)}\n-----END TRUSTED CERTIFICATE-----`,
      `-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n${body(b!.ca.cert)}\n-----END CERTIFICATE-----`,
      '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----', // base64 fine, DER not a certificate
      '-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----', // bad base64
      `-----BEGIN CERTIFICATE-----\n${body(b!.ca.cert)}\n-----END CERTIFICATEX-----`, // END type differs
      a!.ca.cert.toString().replace(/\n/g, '\r\n'), // CRLF line ends are fine
    ].join('\n');
    const ders = certificatesFromPem(Buffer.from(text));
    assert.equal(ders.length, 1);
    assert.equal(new X509Certificate(ders[0]!).subject, 'CN=CA_a');
    const types = pemBlocks(Buffer.from(text)).map((blk) => `${blk.type}${blk.hasHeaders ? '+headers' : ''}`);
    assert.deepEqual(types, [
      'PRIVATE KEY',
      'TRUSTED CERTIFICATE',
      'CERTIFICATE+headers',
      'CERTIFICATE',
      'CERTIFICATE',
    ]);
  });

  it('accepts spaces and tabs inside the base64 and a block at the very start', async (t) => {
    if (!needTool(t, 'openssl')) return;
    const [a] = await cas(t);
    const spaced = a!.ca.cert.toString().replace(/\n(?=[A-Za-z0-9+/=])/g, '\n \t');
    assert.equal(certificatesFromPem(spaced).length, 1);
  });
});

describe('loadKeyPair (X509KeyPair)', () => {
  it('loads a matching certificate and key, refuses a key of another certificate without quoting it', async (t) => {
    if (!needTool(t, 'openssl')) return;
    const [a, b] = await cas(t);
    const pair = loadKeyPair(a!.client.cert, a!.client.key);
    assert.match(pair.cert.toString(), /^-----BEGIN CERTIFICATE-----/);
    assert.match(pair.key.toString(), /^-----BEGIN PRIVATE KEY-----/);
    assert.throws(
      () => loadKeyPair(a!.client.cert, b!.client.key),
      (err: Error) => {
        assert.match(err.message, /does not match/);
        assert.ok(!err.message.includes('PRIVATE'));
        return true;
      },
    );
    assert.throws(() => loadKeyPair(a!.client.key, a!.client.key), /no CERTIFICATE block/);
    assert.throws(() => loadKeyPair(a!.client.cert, a!.client.cert), /no PRIVATE KEY block/);
  });
});
