/**
 * A private PKI for TLS tests, made with openssl: a CA, a server certificate for 127.0.0.1
 * (subjectAltName IP:127.0.0.1) and a client certificate, all signed by the CA, valid for a day.
 * Files are written into the given directory as PEM; keys are unencrypted.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** One certificate and its key: paths and PEM contents. */
export interface PkiPair {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** The made PKI. */
export interface TestPki {
  readonly ca: PkiPair;
  readonly server: PkiPair;
  readonly client: PkiPair;
}

async function pair(dir: string, name: string): Promise<PkiPair> {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}-key.pem`);
  return { certFile, keyFile, cert: await readFile(certFile), key: await readFile(keyFile) };
}

/**
 * Makes a CA and a server and client certificate signed by it in `dir`; `cn` names the CA (spaces
 * become `_`). `req -x509` makes the CA a CA (`basicConstraints CA:TRUE`, openssl's default).
 */
export async function makePki(dir: string, cn = 'ocikit test CA'): Promise<TestPki> {
  // Commands as words (files are relative to `dir`, the working directory of openssl).
  const ssl = (cmd: string) => run('openssl', cmd.split(' '), { cwd: dir });
  const newKey = '-newkey rsa:2048 -nodes';
  await ssl(`req -x509 ${newKey} -keyout ca-key.pem -out ca.pem -days 1 -subj /CN=${cn.replace(/ /g, '_')}`);
  const sign = async (name: string, subj: string, ext: string) => {
    await ssl(`req ${newKey} -keyout ${name}-key.pem -out ${name}.csr -subj ${subj}`);
    await writeFile(join(dir, `${name}.ext`), ext);
    await ssl(
      `x509 -req -in ${name}.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out ${name}.pem -days 1 -extfile ${name}.ext`,
    );
  };
  await sign('server', '/CN=127.0.0.1', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await sign('client', '/CN=ocikit_test_client', 'extendedKeyUsage=clientAuth\n');
  return { ca: await pair(dir, 'ca'), server: await pair(dir, 'server'), client: await pair(dir, 'client') };
}
