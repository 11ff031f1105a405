/**
 * policy.json parsing: every malformed case refused with a `CONFIG` error naming the file, every
 * valid one parsed; and the same table run through skopeo 1.9.3 (`skopeo copy --policy FILE`
 * fails with "Error loading trust policy" exactly for the malformed ones).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { isOcikitError } from '../../src/errors.js';
import { parsePolicy } from '../../src/trust/policy-parse.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';

const run = promisify(execFile);
const ACCEPT = '{"type":"insecureAcceptAnything"}';
const KEY = 'a2V5'; // base64 "key"
const H = '0'.repeat(64);

/** Valid policies (text, as written). */
const VALID: Record<string, string> = {
  minimal: `{"default":[${ACCEPT}]}`,
  'empty transports': `{"default":[${ACCEPT}],"transports":{}}`,
  'transport without scopes': `{"default":[${ACCEPT}],"transports":{"docker":{}}}`,
  'docker scopes (5.23 checks none)': `{"default":[${ACCEPT}],"transports":{"docker":{"":[${ACCEPT}],"quay.io":[{"type":"reject"}],"*.example.com":[${ACCEPT}],"a b c":[${ACCEPT}]}}}`,
  'unknown transport, any scope': `{"default":[${ACCEPT}],"transports":{"atomic":{"rel":[${ACCEPT}]},"openshift":{"x:y:z":[${ACCEPT}]}}}`,
  'dir absolute scope': `{"default":[${ACCEPT}],"transports":{"dir":{"/a/b":[${ACCEPT}]}}}`,
  'oci scope': `{"default":[${ACCEPT}],"transports":{"oci":{"/a":[${ACCEPT}]},"oci-archive":{"/a.tar":[${ACCEPT}]}}}`,
  'storage scopes': `{"default":[${ACCEPT}],"transports":{"containers-storage":{"[overlay@/var/lib/containers/storage]":[${ACCEPT}],"[/var/lib/x]docker.io/library/busybox":[${ACCEPT}],"[vfs@/s]docker.io/a/b:t@sha256:${H}":[${ACCEPT}],"[vfs@/s]a@${H}":[${ACCEPT}],"[vfs@/s]a@sha256:${H}@${H}":[${ACCEPT}]}}}`,
  'docker-daemon name scope': `{"default":[${ACCEPT}],"transports":{"docker-daemon":{"busybox:latest":[${ACCEPT}]}}}`,
  'docker-archive default scope': `{"default":[${ACCEPT}],"transports":{"docker-archive":{"":[${ACCEPT}]},"tarball":{"":[${ACCEPT}]}}}`,
  reject: '{"default":[{"type":"reject"}]}',
  'signedBy keyPath': '{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k.gpg"}]}',
  'signedBy keyPaths (empty list is a key source)':
    '{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPaths":[]}]}',
  'signedBy keyData': `{"default":[{"type":"signedBy","keyType":"GPGKeys","keyData":"${KEY}"}]}`,
  'signedBy keyData empty string': '{"default":[{"type":"signedBy","keyType":"GPGKeys","keyData":""}]}',
  'signedBy other key types parse': '{"default":[{"type":"signedBy","keyType":"X509Certificates","keyPath":"/k"}]}',
  'signedBy signedIdentity kinds': `{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k","signedIdentity":{"type":"matchExact"}}],"transports":{"docker":{"a":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k","signedIdentity":{"type":"matchRepository"}}],"b":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k","signedIdentity":{"type":"exactReference","dockerReference":"busybox:1"}}],"c":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k","signedIdentity":{"type":"exactRepository","dockerRepository":"quay.io/a/b:t"}}],"d":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k","signedIdentity":{"type":"remapIdentity","prefix":"example.com/mirror","signedPrefix":"quay.io"}}]}}}`,
  // "busybox" looks like a domain to the regexp: containers/image 5.23 accepts this prefix (it then never matches).
  'remapIdentity short-name prefix':
    '{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k","signedIdentity":{"type":"remapIdentity","prefix":"busybox/x","signedPrefix":"quay.io"}}]}',
  signedBaseLayer: '{"default":[{"type":"signedBaseLayer","baseLayerIdentity":{"type":"matchRepository"}}]}',
  'sigstoreSigned keyPath': '{"default":[{"type":"sigstoreSigned","keyPath":"/k.pub"}]}',
  'sigstoreSigned keyPath empty string': '{"default":[{"type":"sigstoreSigned","keyPath":""}]}',
  'sigstoreSigned keyData null': '{"default":[{"type":"sigstoreSigned","keyData":null}]}',
  'sigstoreSigned keyData': `{"default":[{"type":"sigstoreSigned","keyData":"${KEY}","signedIdentity":{"type":"matchRepository"}}]}`,
  'escaped key names': `{"def\\u0061ult":[${ACCEPT}]}`,
};

/** Malformed policies: text and what the message must say. */
const MALFORMED: Record<string, [string, RegExp]> = {
  'not JSON': ['{"default":', /unexpected end of JSON input/],
  'trailing garbage': [`{"default":[${ACCEPT}]} x`, /invalid character/],
  BOM: [`\ufeff{"default":[${ACCEPT}]}`, /invalid character/],
  'top level array': [`[${ACCEPT}]`, /JSON object expected/],
  'top level null': ['null', /JSON object expected/],
  'missing default': ['{"transports":{}}', /Default policy is missing/],
  'unknown top key': [`{"default":[${ACCEPT}],"x":1}`, /Unknown key "x"/],
  'key case differs': [`{"Default":[${ACCEPT}]}`, /Unknown key "Default"/],
  'duplicate default': [`{"default":[${ACCEPT}],"default":[${ACCEPT}]}`, /Duplicate key "default"/],
  'default empty': ['{"default":[]}', /must not be empty/],
  'default null': ['{"default":null}', /must not be empty/],
  'default an object': [`{"default":${ACCEPT}}`, /cannot unmarshal object/],
  'transports null': [`{"default":[${ACCEPT}],"transports":null}`, /JSON object expected/],
  'transport scopes null': [`{"default":[${ACCEPT}],"transports":{"docker":null}}`, /JSON object expected/],
  'duplicate transport': [`{"default":[${ACCEPT}],"transports":{"docker":{},"docker":{}}}`, /Duplicate key "docker"/],
  'duplicate scope': [
    `{"default":[${ACCEPT}],"transports":{"docker":{"a":[${ACCEPT}],"a":[${ACCEPT}]}}}`,
    /Duplicate key "a"/,
  ],
  'scope list empty': [`{"default":[${ACCEPT}],"transports":{"docker":{"a":[]}}}`, /transports\.docker\["a"\]: List/],
  'dir relative scope': [
    `{"default":[${ACCEPT}],"transports":{"dir":{"rel":[${ACCEPT}]}}}`,
    /Unknown key "rel".*absolute/,
  ],
  'dir root scope': [`{"default":[${ACCEPT}],"transports":{"dir":{"/":[${ACCEPT}]}}}`, /Unknown key "\/"/],
  'dir unclean scope': [`{"default":[${ACCEPT}],"transports":{"dir":{"/a/../b":[${ACCEPT}]}}}`, /non-canonical/],
  'dir trailing slash': [`{"default":[${ACCEPT}],"transports":{"dir":{"/a/":[${ACCEPT}]}}}`, /non-canonical/],
  'oci relative scope': [`{"default":[${ACCEPT}],"transports":{"oci":{"a":[${ACCEPT}]}}}`, /Unknown key "a"/],
  'oci-archive unclean': [`{"default":[${ACCEPT}],"transports":{"oci-archive":{"//a":[${ACCEPT}]}}}`, /non-canonical/],
  'sif relative scope': [`{"default":[${ACCEPT}],"transports":{"sif":{"a":[${ACCEPT}]}}}`, /Unknown key "a"/],
  'docker-archive scope': [`{"default":[${ACCEPT}],"transports":{"docker-archive":{"/a":[${ACCEPT}]}}}`, /Unknown key/],
  'tarball scope': [`{"default":[${ACCEPT}],"transports":{"tarball":{"/a":[${ACCEPT}]}}}`, /Unknown key/],
  'docker-daemon digest scope': [
    `{"default":[${ACCEPT}],"transports":{"docker-daemon":{"sha256:${H}":[${ACCEPT}]}}}`,
    /Unknown key/,
  ],
  'storage scope without store': [
    `{"default":[${ACCEPT}],"transports":{"containers-storage":{"busybox":[${ACCEPT}]}}}`,
    /Unknown key/,
  ],
  'storage relative root': [
    `{"default":[${ACCEPT}],"transports":{"containers-storage":{"[overlay@rel]":[${ACCEPT}]}}}`,
    /Unknown key/,
  ],
  'storage empty driver': [
    `{"default":[${ACCEPT}],"transports":{"containers-storage":{"[@/r]":[${ACCEPT}]}}}`,
    /Unknown key/,
  ],
  'storage bad id': [
    `{"default":[${ACCEPT}],"transports":{"containers-storage":{"[/r]a@xyz":[${ACCEPT}]}}}`,
    /Unknown key/,
  ],
  'requirement not an object': ['{"default":["reject"]}', /cannot unmarshal string/],
  'requirement null': ['{"default":[null]}', /Unknown policy requirement type ""/],
  'unknown requirement type': [
    '{"default":[{"type":"acceptSigned"}]}',
    /default\[0\]: Unknown policy requirement type "acceptSigned"/,
  ],
  'requirement type case': ['{"default":[{"TYPE":"reject"}]}', /Unknown key "TYPE"/],
  'reject with extra field': ['{"default":[{"type":"reject","why":1}]}', /Unknown key "why"/],
  'duplicate type': ['{"default":[{"type":"reject","type":"reject"}]}', /Duplicate key "type"/],
  'type not a string': ['{"default":[{"type":1}]}', /cannot unmarshal number/],
  'signedBy no key': ['{"default":[{"type":"signedBy","keyType":"GPGKeys"}]}', /none of them present/],
  'signedBy two keys': [
    `{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k","keyData":"${KEY}"}]}`,
    /more than one present/,
  ],
  'signedBy no keyType': ['{"default":[{"type":"signedBy","keyPath":"/k"}]}', /invalid keyType ""/],
  'signedBy unknown keyType': [
    '{"default":[{"type":"signedBy","keyType":"PGP","keyPath":"/k"}]}',
    /Unrecognized keyType value "PGP"/,
  ],
  'signedBy keyPath empty': ['{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":""}]}', /exactly one of/],
  'signedBy keyPaths null': ['{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPaths":null}]}', /exactly one of/],
  'signedBy keyData null': ['{"default":[{"type":"signedBy","keyType":"GPGKeys","keyData":null}]}', /exactly one of/],
  'signedBy keyData not base64': [
    '{"default":[{"type":"signedBy","keyType":"GPGKeys","keyData":"!!"}]}',
    /base64|illegal/,
  ],
  'signedBy keyPaths not strings': [
    '{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPaths":[1]}]}',
    /cannot unmarshal number/,
  ],
  'signedBy unknown field': [
    '{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k","keyring":"x"}]}',
    /Unknown key "keyring"/,
  ],
  'signedIdentity null': [
    '{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k","signedIdentity":null}]}',
    /Unknown policy reference match type ""/,
  ],
  'signedIdentity unknown': [
    '{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k","signedIdentity":{"type":"matchAnything"}}]}',
    /Unknown policy reference match type "matchAnything"/,
  ],
  'signedIdentity extra field': [
    '{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k","signedIdentity":{"type":"matchExact","x":1}}]}',
    /Unknown key "x"/,
  ],
  'exactReference name only': [
    '{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k","signedIdentity":{"type":"exactReference","dockerReference":"busybox"}}]}',
    /neither a tag nor digest/,
  ],
  'exactReference invalid': [
    '{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k","signedIdentity":{"type":"exactReference","dockerReference":"Busybox:1"}}]}',
    /Invalid format of dockerReference/,
  ],
  'exactReference missing field': [
    '{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k","signedIdentity":{"type":"exactReference"}}]}',
    /Key "dockerReference" missing/,
  ],
  'exactRepository invalid': [
    '{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k","signedIdentity":{"type":"exactRepository","dockerRepository":"a//b"}}]}',
    /Invalid format of dockerRepository/,
  ],
  'remapIdentity trailing slash': [
    '{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k","signedIdentity":{"type":"remapIdentity","prefix":"quay.io/","signedPrefix":"quay.io"}}]}',
    /prefix "quay.io\/" is not valid/,
  ],
  'remapIdentity bad signedPrefix': [
    '{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k","signedIdentity":{"type":"remapIdentity","prefix":"quay.io","signedPrefix":"quay.io/A"}}]}',
    /not valid/,
  ],
  'remapIdentity missing field': [
    '{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k","signedIdentity":{"type":"remapIdentity","prefix":"quay.io"}}]}',
    /Key "signedPrefix" missing/,
  ],
  'signedBaseLayer without identity': ['{"default":[{"type":"signedBaseLayer"}]}', /Key "baseLayerIdentity" missing/],
  'sigstoreSigned no key': ['{"default":[{"type":"sigstoreSigned"}]}', /At least one of keyPath and keyData/],
  'sigstoreSigned both keys': [
    `{"default":[{"type":"sigstoreSigned","keyPath":"/k","keyData":"${KEY}"}]}`,
    /cannot be used simultaneously/,
  ],
  'sigstoreSigned fulcio (5.24+)': [
    `{"default":[{"type":"sigstoreSigned","keyData":"${KEY}","fulcio":{}}]}`,
    /Unknown key "fulcio"/,
  ],
  'sigstoreSigned rekorPublicKeyPath (5.24+)': [
    '{"default":[{"type":"sigstoreSigned","keyPath":"/k","rekorPublicKeyPath":"/r"}]}',
    /Unknown key "rekorPublicKeyPath"/,
  ],
  'sigstoreSigned rekorPublicKeyData (5.24+)': [
    `{"default":[{"type":"sigstoreSigned","keyPath":"/k","rekorPublicKeyData":"${KEY}"}]}`,
    /Unknown key "rekorPublicKeyData"/,
  ],
  'error in a later scope still refuses the policy': [
    `{"default":[${ACCEPT}],"transports":{"docker":{"quay.io":[${ACCEPT}],"x":[{"type":"nope"}]}}}`,
    /transports\.docker\["x"\]\[0\]/,
  ],
};

describe('parsePolicy', () => {
  for (const [name, text] of Object.entries(VALID)) {
    it(`parses: ${name}`, () => {
      const p = parsePolicy(Buffer.from(text), '/p.json');
      assert.equal(p.file, '/p.json');
      assert.ok(p.default.length > 0);
    });
  }
  for (const [name, [text, re]] of Object.entries(MALFORMED)) {
    it(`refuses: ${name}`, () => {
      assert.throws(
        () => parsePolicy(Buffer.from(text), '/etc/p.json'),
        (err: unknown) =>
          isOcikitError(err, 'CONFIG') &&
          /^invalid trust policy in \/etc\/p\.json: /.test(err.message) &&
          re.test(err.message),
      );
    });
  }

  it('keeps what it parsed: defaults, scopes and key sources', () => {
    const p = parsePolicy(Buffer.from(VALID['signedBy signedIdentity kinds']!), null);
    assert.deepEqual(p.default[0], {
      type: 'signedBy',
      keyType: 'GPGKeys',
      keyPath: '/k',
      signedIdentity: { type: 'matchExact' },
    });
    assert.deepEqual(p.transports.get('docker')?.get('d')?.[0], {
      type: 'signedBy',
      keyType: 'GPGKeys',
      keyPath: '/k',
      signedIdentity: { type: 'remapIdentity', prefix: 'example.com/mirror', signedPrefix: 'quay.io' },
    });
    const sig = parsePolicy(
      Buffer.from(`{"default":[{"type":"signedBy","keyType":"GPGKeys","keyData":"${KEY}"}]}`),
      null,
    );
    assert.deepEqual(sig.default[0], {
      type: 'signedBy',
      keyType: 'GPGKeys',
      keyData: new Uint8Array(Buffer.from('key')),
      signedIdentity: { type: 'matchRepoDigestOrExact' },
    });
  });

  it('agrees with skopeo 1.9.3 on which policies load', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const dir = await tempDir(t);
    const cases = [
      ...Object.entries(VALID).map(([n, text]) => ({ n, text, ok: true })),
      ...Object.entries(MALFORMED).map(([n, [text]]) => ({ n, text, ok: false })),
    ];
    const results = await Promise.all(
      cases.map(async ({ n, text, ok }, i) => {
        const file = join(dir, `p${i}.json`);
        await writeFile(file, text);
        // Port 1 refuses connections: a loaded policy gets skopeo as far as the registry ping.
        const r = await run(
          'skopeo',
          ['copy', '--policy', file, 'docker://127.0.0.1:1/a:t', `dir:${join(dir, `o${i}`)}`],
          {
            env: { PATH: process.env.PATH, HOME: dir },
          },
        ).catch((e: { stderr: string }) => ({ stderr: e.stderr }));
        const loaded = !r.stderr.includes('Error loading trust policy');
        return { n, ok, loaded };
      }),
    );
    assert.deepEqual(
      results.filter((r) => r.ok !== r.loaded),
      [],
    );
  });
});
