/**
 * Shared pieces of the registry client tests: a scripted HTTP server on a free 127.0.0.1 port, a
 * client with fast retries and no host auth files, a self-signed certificate, and the test
 * manifest and blob.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { Digest } from '../../src/model/digest.js';
import {
  closeRegistryClient,
  createRegistryClient,
  downloadBlob,
  type RegistryClient,
} from '../../src/registry/client.js';
import { tempDir } from '../helpers/tmp.js';

/** A request handler of the scripted server. */
export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Serves `handler` on `address` (a loopback address, default 127.0.0.1) until the test ends. */
export async function serve(
  t: TestContext,
  handler: Handler,
  address = '127.0.0.1',
): Promise<{ host: string; origin: string; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, address, () => r()));
  t.after(() => closeServer(server));
  const port = (server.address() as AddressInfo).port;
  return { host: `${address}:${port}`, origin: `http://${address}:${port}`, server };
}

/** Closes a test server and every connection it still holds. */
export function closeServer(server: Server): Promise<void> {
  return new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  });
}

/** A client with 3 quick attempts and no auth files of this host, closed when the test ends. */
export function client(t: TestContext, opts: Parameters<typeof createRegistryClient>[0] = {}): RegistryClient {
  const c = createRegistryClient({
    retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
    env: {},
    home: '/nonexistent',
    ...opts,
  });
  t.after(() => closeRegistryClient(c));
  return c;
}

/** An auth file (containers-auth.json) in a fresh temporary directory, holding `user:password` for `host`. */
export async function authFileFor(t: TestContext, host: string, user: string, password: string): Promise<string> {
  const file = join(await tempDir(t), 'auth.json');
  await writeFile(
    file,
    JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } } }),
  );
  return file;
}

/** A self-signed certificate for `127.0.0.1`, made with openssl in `dir`. */
export async function selfSignedCert(dir: string): Promise<{ key: Buffer; cert: Buffer }> {
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  const gen = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  if (gen.status !== 0) assert.fail('openssl could not make a self-signed certificate');
  return { key: await readFile(key), cert: await readFile(cert) };
}

/** The sha256 digest of `b`. */
export const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;
/** A small OCI manifest. */
export const MANIFEST = Buffer.from(
  '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}',
);
/** A random blob of 300,000 bytes, and its digest. */
export const BLOB = randomBytes(300_000);
export const BLOB_DIGEST = sha(BLOB);

/** Downloads `blob` (default {@link BLOB}) from repository `x` of `host` into `file`. */
export function downloadTestBlob(c: RegistryClient, host: string, file: string, blob: Buffer = BLOB): Promise<void> {
  return downloadBlob(c, { host, path: 'x', tlsVerify: false }, { digest: sha(blob), size: blob.length }, file);
}
