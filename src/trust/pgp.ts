/**
 * OpenPGP verification of simple-signing signatures, as containers/image 5.23 with gpgme (the build
 * skopeo 1.9.3 uses) does it (`signature/mechanism_gpgme.go`, `signature/policy_eval_signedby.go`,
 * `signature/simple.go` `verifyAndExtractSignature`), with the `openpgp` library:
 * - the trusted keys are imported from each blob (`keyPath`, every file of `keyPaths`, or
 *   `keyData`): a binary keyring or ASCII-armored public key blocks; the trusted identities are
 *   the (uppercase) fingerprints of the *primary* keys; none at all is a refusal ("No public keys
 *   imported");
 * - the signature is an OpenPGP *signed message* (binary, usually compressed, holding the payload
 *   as literal data), not a detached signature; it must carry exactly one signature ("Unexpected
 *   GPG signature count");
 * - gpgme's verdict must be clean: a bad signature, an unknown key, a key or signature that is
 *   expired *now* or a key that is revoked *now* is refused, even when the key was valid when it
 *   signed (gpgme reports `EXPKEYSIG`/`REVKEYSIG` as a status error; `gpg --verify` itself says
 *   "Good signature" and exits 0 there);
 * - the signer's identity is the fingerprint of the key that made the signature — for a subkey,
 *   the *subkey's* fingerprint — and it must be one of the trusted identities. So a signature by a
 *   signing subkey is refused under `signedBy` ("Signature by key … is not accepted"), as skopeo
 *   1.9.3 refuses it (checked by experiment, test/trust/pgp.test.ts);
 * - then the payload is parsed (./simple-signing.ts).
 */
import { createRequire } from 'node:module';
import type * as openpgp from 'openpgp';

let loaded: Promise<typeof openpgp> | undefined;
/**
 * The openpgp library, loaded on first use: it costs about 60 ms to load, which only a run that
 * verifies an OpenPGP signature pays (`ocikit fetch` under a policy without `signedBy` never does).
 * Loaded with `require` (its CommonJS build), not `import()`: the CLI bundle is a script that
 * cannot import (scripts/bundle.mjs).
 */
function lib(): Promise<typeof openpgp> {
  loaded ??= Promise.resolve().then(() => createRequire(import.meta.url)('openpgp') as typeof openpgp);
  return loaded;
}
import { readNamedFile } from '../internal/fs.js';
import { parseSimpleSigningPayload } from './simple-signing.js';
import { SignatureError, type SignedClaims } from './verifier.js';

/**
 * Where the trusted keys of a `signedBy` requirement come from: exactly one of `keyPath`,
 * `keyPaths` and `keyData` (the policy's bytes, already base64-decoded).
 */
export interface GpgKeySource {
  readonly keyPath?: string | undefined;
  readonly keyPaths?: readonly string[] | undefined;
  readonly keyData?: Uint8Array | undefined;
}

/** Trusted OpenPGP keys and their identities (uppercase primary-key fingerprints). */
export interface TrustedGpgKeys {
  readonly keys: readonly openpgp.PublicKey[];
  readonly fingerprints: readonly string[];
}

/** What a verified OpenPGP signed message carried. */
export interface PgpVerification {
  /** The signed content (the literal data). */
  readonly payload: Uint8Array;
  /** Uppercase fingerprint of the key that signed (a subkey's own fingerprint for a subkey). */
  readonly signerFingerprint: string;
  /** Uppercase fingerprint of the primary key the signing key belongs to. */
  readonly primaryFingerprint: string;
}

/** The claims of a verified simple signing signature, and who signed it. */
export interface VerifiedGpgSignature extends SignedClaims {
  /** Uppercase fingerprint of the signing (primary) key. */
  readonly signerFingerprint: string;
}

/** A key file's size limit (a keyring with many keys fits easily). */
const MAX_KEY_FILE = 16 * 1024 * 1024;

/**
 * Reads the key blobs of `source` (files read as given, relative to the working directory as
 * containers/image does).
 * @throws SignatureError `no-keys` when not exactly one source is given; OcikitError `NOT_FOUND`,
 *   `INVALID_INPUT`, `IO` for an unreadable file.
 */
export async function readGpgKeySource(source: GpgKeySource): Promise<Uint8Array[]> {
  const given = [source.keyPath, source.keyPaths, source.keyData].filter((v) => v !== undefined).length;
  if (given !== 1) {
    throw new SignatureError('no-keys', 'not exactly one of "keyPath", "keyPaths" and "keyData" specified');
  }
  if (source.keyData !== undefined) return [source.keyData];
  const files = source.keyPath !== undefined ? [source.keyPath] : (source.keyPaths ?? []);
  const out: Uint8Array[] = [];
  for (const file of files) out.push(await readNamedFile(file, 'GPG key file', { maxBytes: MAX_KEY_FILE }));
  return out;
}

const ARMORED_KEY = /-----BEGIN PGP PUBLIC KEY BLOCK-----[\s\S]*?-----END PGP PUBLIC KEY BLOCK-----/g;

/** The public keys of one blob: a binary keyring, else every armored public key block in it. */
async function keysOfBlob(blob: Uint8Array, index: number): Promise<openpgp.PublicKey[]> {
  try {
    return (await (await lib()).readKeys({ binaryKeys: blob })).map((k) => k.toPublic());
  } catch (binaryErr) {
    const blocks = Buffer.from(blob).toString('latin1').match(ARMORED_KEY);
    if (blocks === null) {
      throw new SignatureError('no-keys', `key blob ${index + 1}: no OpenPGP public keys (${errorText(binaryErr)})`, {
        cause: binaryErr,
      });
    }
    const out: openpgp.PublicKey[] = [];
    for (const armoredKeys of blocks) {
      try {
        out.push(...(await (await lib()).readKeys({ armoredKeys })).map((k) => k.toPublic()));
      } catch (err) {
        throw new SignatureError('no-keys', `key blob ${index + 1}: unreadable armored key (${errorText(err)})`, {
          cause: err,
        });
      }
    }
    return out;
  }
}

/**
 * Imports the trusted keys of `blobs` (binary keyrings or armored key blocks).
 * @throws SignatureError `no-keys` for an unreadable blob or when no key at all was imported.
 */
export async function loadGpgKeys(blobs: readonly Uint8Array[]): Promise<TrustedGpgKeys> {
  const keys: openpgp.PublicKey[] = [];
  for (const [i, blob] of blobs.entries()) keys.push(...(await keysOfBlob(blob, i)));
  if (keys.length === 0) throw new SignatureError('no-keys', 'No public keys imported');
  return { keys, fingerprints: keys.map((k) => k.getFingerprint().toUpperCase()) };
}

/** One line of a library error message. */
function errorText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').slice(0, 300);
}

/** The failure reason openpgp's message names. */
function classify(err: unknown): 'expired' | 'revoked' | 'bad-signature' {
  const text = errorText(err);
  if (/revoked/i.test(text)) return 'revoked';
  if (/expired/i.test(text)) return 'expired';
  return 'bad-signature';
}

/**
 * Verifies the OpenPGP signed message `signature` against `trusted` as gpgme does (see above) at
 * time `now`; the signer may be any trusted key or subkey (the caller checks the identity).
 * @throws SignatureError `bad-signature`, `untrusted-key` (no trusted key made it), `expired`,
 *   `revoked`, `key-usage`.
 */
export async function verifyPgpMessage(
  signature: Uint8Array,
  trusted: TrustedGpgKeys,
  now: Date = new Date(),
): Promise<PgpVerification> {
  let message: openpgp.Message<Uint8Array>;
  try {
    message = await (await lib()).readMessage({ binaryMessage: signature });
  } catch (err) {
    throw new SignatureError('bad-signature', `not an OpenPGP message: ${errorText(err)}`, { cause: err });
  }
  let result: openpgp.VerifyMessageResult<Uint8Array>;
  try {
    result = await (await lib()).verify({ message, verificationKeys: [...trusted.keys], format: 'binary', date: now });
  } catch (err) {
    throw new SignatureError('bad-signature', `not a signed message: ${errorText(err)}`, { cause: err });
  }
  const [only, ...more] = result.signatures;
  if (only === undefined || more.length > 0) {
    throw new SignatureError('bad-signature', `Unexpected GPG signature count ${result.signatures.length}`);
  }
  const key = trusted.keys.find((k) => k.getKeys(only.keyID).length > 0);
  const signingKey = key?.getKeys(only.keyID)[0];
  if (key === undefined || signingKey === undefined) {
    const packet = (await only.signature.catch(() => undefined))?.packets[0];
    const who = packet?.issuerFingerprint ? Buffer.from(packet.issuerFingerprint).toString('hex') : only.keyID.toHex();
    throw new SignatureError('untrusted-key', `signed by key ${who.toUpperCase()}, which is not a trusted key`);
  }
  const signerFingerprint = signingKey.getFingerprint().toUpperCase();
  try {
    await only.verified;
  } catch (err) {
    throw new SignatureError(classify(err), `signature by key ${signerFingerprint}: ${errorText(err)}`, { cause: err });
  }
  const payload = result.data;
  // gpgme also refuses a signature whose key has expired or been revoked since it signed.
  try {
    await key.getSigningKey(signingKey.getKeyID(), now);
  } catch (err) {
    const reason = classify(err);
    throw new SignatureError(
      reason === 'bad-signature' ? 'key-usage' : reason,
      `signature by key ${signerFingerprint}: the key is not valid for signing now: ${errorText(err)}`,
      { cause: err },
    );
  }
  return { payload, signerFingerprint, primaryFingerprint: key.getFingerprint().toUpperCase() };
}

/**
 * Verifies a simple-signing signature against the trusted keys of a `signedBy` requirement, as
 * containers/image's `verifyAndExtractSignature` with gpgme: the OpenPGP check, the signer's
 * identity among the trusted (primary-key) identities, then the payload parsed. The caller
 * checks the digest and the identity against the image.
 * @throws SignatureError (every reason but `format`).
 */
export async function verifyGpg(signature: Uint8Array, trusted: TrustedGpgKeys): Promise<VerifiedGpgSignature> {
  const v = await verifyPgpMessage(signature, trusted);
  if (!trusted.fingerprints.includes(v.signerFingerprint)) {
    throw new SignatureError(
      'untrusted-key',
      `Signature by key ${v.signerFingerprint} is not accepted (a subkey of trusted key ${v.primaryFingerprint}; ` +
        'containers/image 5.23 accepts only signatures made by a trusted primary key)',
    );
  }
  return { ...parseSimpleSigningPayload(v.payload), signerFingerprint: v.signerFingerprint };
}
