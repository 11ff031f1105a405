/**
 * Tests for src/trust/simple-signing.ts: the strict payload rules, each payload signed with gpg
 * and given to `skopeo standalone-verify` as the reference (containers/image's own parser decides
 * there), and the sigstore variant's differences.
 */
import * as assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { manifestDigest } from '../../src/model/manifest.js';
import {
  SIGSTORE_PAYLOAD_TYPE,
  parseSignaturePayload,
  parseSimpleSigningPayload,
} from '../../src/trust/simple-signing.js';
import { SignatureError } from '../../src/trust/verifier.js';
import { genKey, gpgSign, makeGpgHome, skopeoVerify } from '../helpers/gpg.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';

const MANIFEST = Buffer.from(
  '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}',
);
const D = manifestDigest(MANIFEST);
const REF = 'example.com/ns/app:1';
const ID = `"identity":{"docker-reference":"${REF}"}`;
const IMG = `"image":{"docker-manifest-digest":"${D}"}`;
const TYPE = '"type":"atomic container signature"';
const crit = (...parts: string[]) => `"critical":{${parts.join(',')}}`;
const doc = (critical: string, optional = '"optional":{}') => `{${critical},${optional}}`;
const OK = crit(ID, IMG, TYPE);

/** Payloads and whether containers/image accepts them (checked against skopeo below). */
const CASES: readonly [string, string, boolean][] = [
  ['as c/image writes it', doc(OK, '"optional":{"creator":"atomic 5.23.1","timestamp":1577900000}'), true],
  ['empty optional, other key order', `{"optional":{},"critical":{${TYPE},${IMG},${ID}}}`, true],
  ['unknown optional key', doc(OK, '"optional":{"x":[1,{"y":null}]}'), true],
  ['timestamp 1e3', doc(OK, '"optional":{"timestamp":1e3}'), true],
  ['timestamp null', doc(OK, '"optional":{"timestamp":null}'), true],
  ['creator null', doc(OK, '"optional":{"creator":null}'), true],
  ['whitespace around', `  ${doc(OK)}\n`, true],
  ['fractional timestamp', doc(OK, '"optional":{"timestamp":1.5}'), false],
  ['timestamp 2^63', doc(OK, '"optional":{"timestamp":9223372036854775808}'), false],
  ['timestamp a string', doc(OK, '"optional":{"timestamp":"1"}'), false],
  ['creator a number', doc(OK, '"optional":{"creator":1}'), false],
  ['optional key twice', doc(OK, '"optional":{"x":1,"x":2}'), false],
  ['optional number overflowing float64', doc(OK, '"optional":{"x":1e400}'), false],
  ['optional null', doc(OK, '"optional":null'), false],
  ['no optional', `{${OK}}`, false],
  ['unknown top-level key', `{${OK},"optional":{},"extra":1}`, false],
  ['critical twice', `{${OK},${OK},"optional":{}}`, false],
  ['unknown critical key', doc(crit(ID, IMG, TYPE, '"extra":1')), false],
  ['case-folded critical key', doc(crit(ID, IMG, '"Type":"atomic container signature"')), false],
  ['type missing', doc(crit(ID, IMG)), false],
  ['wrong type', doc(crit(ID, IMG, '"type":"cosign container image signature"')), false],
  ['identity twice', doc(crit(ID, ID, IMG, TYPE)), false],
  ['unknown image key', doc(crit(ID, `"image":{"docker-manifest-digest":"${D}","x":1}`, TYPE)), false],
  ['digest not a string', doc(crit(ID, '"image":{"docker-manifest-digest":1}', TYPE)), false],
  ['digest upper-case', doc(crit(ID, `"image":{"docker-manifest-digest":"${D.toUpperCase()}"}`, TYPE)), false],
  ['reference null', doc(crit('"identity":{"docker-reference":null}', IMG, TYPE)), false],
  ['trailing data', `${doc(OK)}{}`, false],
  ['a JSON array', `[${doc(OK)}]`, false],
];

describe('simple-signing payloads', () => {
  it('accepts and refuses as skopeo standalone-verify does', async (t) => {
    if (!needTool(t, 'skopeo', 'gpg')) return;
    const g = await makeGpgHome(t);
    const dir = await tempDir(t);
    const fpr = genKey(g, 'p@example.com');
    const manifestFile = join(dir, 'manifest.json');
    await writeFile(manifestFile, MANIFEST);
    for (const [i, [name, text, accepted]] of CASES.entries()) {
      const sigFile = join(dir, `sig-${i}`);
      await writeFile(sigFile, gpgSign(g, Buffer.from(text), [fpr]));
      const s = skopeoVerify(g, manifestFile, REF, fpr, sigFile);
      assert.equal(s.ok, accepted, `${name}: skopeo ${s.ok ? 'accepted' : s.stderr}`);
      let ours: boolean;
      try {
        const claims = parseSimpleSigningPayload(Buffer.from(text));
        ours = claims.dockerManifestDigest === D && claims.dockerReference === REF;
      } catch (err) {
        assert.ok(err instanceof SignatureError && err.reason === 'payload' && err.code === 'SIGNATURE', name);
        assert.doesNotMatch(err.message, /\n/);
        ours = false;
      }
      assert.equal(ours, accepted, name);
    }
  });

  it('returns the optional fields', () => {
    const c = parseSimpleSigningPayload(Buffer.from(doc(OK, '"optional":{"creator":"me","timestamp":-5}')));
    assert.deepEqual(c, { dockerManifestDigest: D, dockerReference: REF, creator: 'me', timestamp: -5 });
    assert.deepEqual(parseSimpleSigningPayload(Buffer.from(doc(OK, '"optional":{"timestamp":null}'))).timestamp, 0);
    assert.equal('creator' in parseSimpleSigningPayload(Buffer.from(doc(OK))), false);
  });

  it('sigstore payloads: their own type, and "optional": null allowed', () => {
    const sig = crit(ID, IMG, '"type":"cosign container image signature"');
    assert.equal(
      parseSignaturePayload(Buffer.from(doc(sig, '"optional":null')), SIGSTORE_PAYLOAD_TYPE).dockerReference,
      REF,
    );
    assert.throws(
      () => parseSignaturePayload(Buffer.from(doc(OK)), SIGSTORE_PAYLOAD_TYPE),
      /Unrecognized signature type/,
    );
    assert.throws(() => parseSignaturePayload(Buffer.from(`{${sig}}`), SIGSTORE_PAYLOAD_TYPE), /"optional" missing/);
  });

  it('messages escape control characters of untrusted keys', () => {
    assert.throws(
      () => parseSimpleSigningPayload(Buffer.from(doc(crit(ID, IMG, TYPE, '"\\u001b[31m":1')))),
      (err: Error) => !err.message.includes('\u001b') && /Unknown key/.test(err.message),
    );
  });
});
