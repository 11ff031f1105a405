/**
 * registries.d: the directory chosen, `*.yaml` files merged, a scope defined twice refused, the
 * most specific `docker` scope (then `default-docker`, then the built-in default), the legacy
 * `sigstore` key, `use-sigstore-attachments`, YAML and Go decoding rules, errors naming the file,
 * and the lookaside URLs — the file rules also against skopeo 1.9.3 (`skopeo --debug copy` names
 * the lookaside it would read, or fails on the configuration).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isOcikitError } from '../../src/errors.js';
import type { Digest } from '../../src/model/digest.js';
import { parseDockerReference } from '../../src/model/docker-reference.js';
import {
  loadRegistriesD,
  lookasideBase,
  lookasideSignatureURL,
  type RegistriesDOptions,
  signatureLocationsFor,
} from '../../src/trust/registries-d.js';
import { tempDir } from '../helpers/tmp.js';
import { needTool } from '../helpers/tools.js';

const DIGEST = `sha256:${'ab'.repeat(32)}` as Digest;
const REF = parseDockerReference(`reg.example.com:5000/ns/sub/app@${DIGEST}`);

async function home(t: Parameters<typeof tempDir>[0], files: Record<string, string>): Promise<RegistriesDOptions> {
  const h = await tempDir(t);
  const dir = join(h, '.config', 'containers', 'registries.d');
  await mkdir(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return { home: h, env: { HOME: h }, uid: 0, systemDir: join(h, 'no-system') };
}

async function locations(t: Parameters<typeof tempDir>[0], files: Record<string, string>, ref = REF) {
  return signatureLocationsFor(await loadRegistriesD(await home(t, files)), ref);
}

describe('registries.d: merging and scopes', () => {
  it('merges every *.yaml file and takes the most specific docker scope that sets a lookaside', async (t) => {
    const files = {
      'a.yaml': 'docker:\n  reg.example.com:5000: {lookaside: "http://host/"}\n  reg.example.com:5000/ns/sub: {}\n',
      'b.yaml':
        'docker:\n  reg.example.com:5000/ns: {lookaside: "http://ns"}\ndefault-docker: {lookaside: "http://d/"}\n',
      'c.yml': 'docker: {reg.example.com:5000/ns/sub/app: {lookaside: "http://ignored/"}}\n',
    };
    const loc = await locations(t, files);
    // ns/sub sets nothing: its parent ns decides; c.yml is not a .yaml file.
    assert.equal(loc.lookaside, 'http://ns/ns/sub/app');
    assert.match(loc.lookasideFrom ?? '', /docker scope "reg.example.com:5000\/ns" in .*b\.yaml/);
    const other = await locations(t, files, parseDockerReference('quay.io/x/y:v1'));
    assert.equal(other.lookaside, 'http://d//x/y');
    const host = await locations(t, files, parseDockerReference('reg.example.com:5000/other:v1'));
    assert.equal(host.lookaside, 'http://host//other');
  });

  it('matches the repository with its tag or digest first, and *. wildcard domains last', async (t) => {
    const files = {
      'a.yaml': [
        'docker:',
        `  "reg.example.com:5000/ns/sub/app@${DIGEST}": {lookaside: "http://exact/"}`,
        '  "*.example.com": {lookaside: "http://wild/"}',
        '',
      ].join('\n'),
    };
    assert.equal((await locations(t, files)).lookaside, 'http://exact//ns/sub/app');
    const tagged = await locations(t, files, parseDockerReference('reg.example.com:5000/ns/sub/app:v1'));
    assert.equal(tagged.lookaside, 'http://wild//ns/sub/app');
  });

  it('reads lookaside before the legacy sigstore key, and sigstore alone', async (t) => {
    assert.equal(
      (await locations(t, { 'a.yaml': 'default-docker: {sigstore: "http://s/", lookaside: "http://l/"}' })).lookaside,
      'http://l//ns/sub/app',
    );
    const legacy = await locations(t, {
      'a.yaml': 'default-docker: {sigstore: "http://s/", lookaside-staging: "file:///x"}',
    });
    assert.equal(legacy.lookaside, 'http://s//ns/sub/app');
  });

  it('finds use-sigstore-attachments in the first scope that sets it (default false)', async (t) => {
    const files = {
      'a.yaml': [
        'docker:',
        '  reg.example.com:5000/ns/sub: {lookaside: "http://x/"}',
        '  reg.example.com:5000/ns: {use-sigstore-attachments: false}',
        'default-docker: {use-sigstore-attachments: true}',
        '',
      ].join('\n'),
    };
    assert.equal((await locations(t, files)).useSigstoreAttachments, false);
    assert.equal((await locations(t, files, parseDockerReference('quay.io/a:v1'))).useSigstoreAttachments, true);
    assert.equal((await locations(t, {})).useSigstoreAttachments, false);
    // YAML 1.1 booleans, as yaml.v2 reads them
    assert.equal(
      (await locations(t, { 'a.yaml': 'default-docker: {use-sigstore-attachments: yes}' })).useSigstoreAttachments,
      true,
    );
  });

  it('uses the built-in lookaside when nothing is configured: root, other users, $_CONTAINERS_ROOTLESS_UID', async (t) => {
    const opts = await home(t, {});
    const root = signatureLocationsFor(await loadRegistriesD(opts), REF);
    assert.equal(root.lookaside, 'file:///var/lib/containers/sigstore/ns/sub/app');
    assert.equal(root.lookasideFrom, 'the built-in default');
    const user = signatureLocationsFor(await loadRegistriesD({ ...opts, uid: 1000 }), REF);
    assert.equal(user.lookaside, `file://${opts.home}/.local/share/containers/sigstore/ns/sub/app`);
    const env = { ...opts, env: { HOME: opts.home, _CONTAINERS_ROOTLESS_UID: '1000' } };
    assert.equal(signatureLocationsFor(await loadRegistriesD(env), REF).lookaside, user.lookaside);
    const bad = { ...opts, uid: 1000, env: { HOME: opts.home, _CONTAINERS_ROOTLESS_UID: 'x' } };
    assert.equal(signatureLocationsFor(await loadRegistriesD(bad), REF).lookaside, root.lookaside);
  });

  it('decodes with Go rules: keys case-folded, unknown keys ignored, null is a zero value', async (t) => {
    assert.equal(
      (await locations(t, { 'a.yaml': 'Default-Docker: {LookAside: "http://c/"}' })).lookaside,
      'http://c//ns/sub/app',
    );
    assert.equal(
      (await locations(t, { 'a.yaml': 'extra: 1\ndefault-docker: {x: [1], lookaside: "http://u"}' })).lookaside,
      'http://u/ns/sub/app',
    );
    const nulls = { 'a.yaml': 'docker: {reg.example.com:5000: null}\ndefault-docker: {lookaside: "http://d/"}' };
    assert.equal((await locations(t, nulls)).lookaside, 'http://d//ns/sub/app');
    assert.deepEqual((await loadRegistriesD(await home(t, { 'a.yaml': '', 'b.yaml': '~\n' }))).docker.size, 0);
  });
});

describe('registries.d: directories and errors', () => {
  it('reads $HOME/.config/containers/registries.d when it exists, else the system directory, else nothing', async (t) => {
    const opts = await home(t, { 'a.yaml': 'default-docker: {lookaside: "http://user/"}' });
    const rd = await loadRegistriesD(opts);
    assert.equal(rd.dir, join(opts.home ?? '', '.config/containers/registries.d'));
    assert.deepEqual(rd.files, [join(rd.dir ?? '', 'a.yaml')]);
    const sys = await tempDir(t);
    await writeFile(join(sys, 'x.yaml'), 'default-docker: {lookaside: "http://sys/"}');
    const noUser = { home: join(sys, 'nohome'), env: {}, uid: 0, systemDir: sys };
    assert.equal(signatureLocationsFor(await loadRegistriesD(noUser), REF).lookaside, 'http://sys//ns/sub/app');
    // XDG_CONFIG_HOME is not consulted
    const xdg = { ...noUser, env: { XDG_CONFIG_HOME: join(opts.home ?? '', '.config') } };
    assert.equal((await loadRegistriesD(xdg)).dir, sys);
    const none = await loadRegistriesD({ ...noUser, systemDir: join(sys, 'missing') });
    assert.equal(none.dir, null);
    assert.equal((await loadRegistriesD({ ...noUser, dir: sys })).dir, sys);
  });

  const refused = async (t: Parameters<typeof tempDir>[0], files: Record<string, string>, re: RegExp) => {
    await assert.rejects(loadRegistriesD(await home(t, files)), (err: unknown) => {
      assert.ok(isOcikitError(err, 'CONFIG'), String(err));
      assert.match(err.message, re);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
  };

  it('refuses a scope defined in two files, naming both', async (t) => {
    await refused(
      t,
      { 'a.yaml': 'docker: {x: {}}', 'b.yaml': 'docker: {x: {lookaside: "http://b/"}}' },
      /"docker" scope "x" is defined both in .*a\.yaml and .*b\.yaml/,
    );
    await refused(
      t,
      { 'a.yaml': 'default-docker: {}', 'b.yaml': 'default-docker: {lookaside: "http://b/"}' },
      /"default-docker" is defined both in .*a\.yaml and .*b\.yaml/,
    );
  });

  it('refuses malformed files, naming them', async (t) => {
    await refused(t, { 'bad.yaml': 'docker: {x: [}' }, /registries\.d file .*bad\.yaml: /);
    await refused(
      t,
      { 'dup.yaml': 'default-docker: {lookaside: "http://a/", lookaside: "http://b/"}' },
      /dup\.yaml: Map keys must be unique/,
    );
    await refused(t, { 'list.yaml': '- a' }, /list\.yaml: cannot unmarshal array/);
    await refused(
      t,
      { 'b.yaml': 'default-docker: {use-sigstore-attachments: "true"}' },
      /cannot unmarshal string .*use-sigstore-attachments of type bool/,
    );
    await refused(t, { 'n.yaml': 'default-docker: {lookaside: 123}' }, /cannot unmarshal number 123/);
  });

  it('refuses a lookaside that is not an absolute URL when it is used', async (t) => {
    const rd = await loadRegistriesD(await home(t, { 'a.yaml': 'docker: {quay.io: {lookaside: "/var/x"}}' }));
    assert.throws(
      () => signatureLocationsFor(rd, parseDockerReference('quay.io/a:v1')),
      (err: unknown) => {
        assert.ok(isOcikitError(err, 'CONFIG'));
        assert.match(
          err.message,
          /lookaside URL "\/var\/x" \(lookaside of docker scope "quay.io" in .*a\.yaml\) is not an absolute URL/,
        );
        return true;
      },
    );
    assert.equal(signatureLocationsFor(rd, REF).lookaside, 'file:///var/lib/containers/sigstore/ns/sub/app');
  });
});

describe('lookaside URLs', () => {
  it('appends /<repo> to the path as Go does, then @sha256=<hex>/signature-N', () => {
    assert.equal(lookasideBase('http://h', 'a/b', ''), 'http://h/a/b');
    assert.equal(lookasideBase('http://h/', 'a/b', ''), 'http://h//a/b');
    assert.equal(lookasideBase('https://h/sigs?x=1', 'a/b', ''), 'https://h/sigs/a/b?x=1');
    assert.equal(lookasideBase('file:///srv/sigs', 'a/b', ''), 'file:///srv/sigs/a/b');
    assert.equal(
      lookasideSignatureURL('https://h/sigs/a/b?x=1', DIGEST, 3).href,
      `https://h/sigs/a/b@sha256=${'ab'.repeat(32)}/signature-3?x=1`,
    );
  });
});

/** What `skopeo --debug copy` says it would read, or its configuration error. */
function skopeoLookaside(h: string): Promise<string> {
  return new Promise((resolve) => {
    execFile(
      'skopeo',
      ['--debug', 'copy', `docker://127.0.0.1:9/ns/sub/app@${DIGEST}`, `dir:${join(h, 'out')}`],
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: h }, timeout: 20_000 },
      (_err, _stdout, stderr) => {
        const text = String(stderr);
        const used =
          /Using \\"(?:lookaside|sigstore)\\" (\S+?)"/.exec(text) ?? /using built-in default (\S+?)"/.exec(text);
        if (/level=fatal msg=".*(parsing .*registries\.d|defined both)/.test(text)) resolve('error');
        else resolve(used?.[1] ?? `unknown: ${text.slice(-300)}`);
      },
    );
  });
}

describe('registries.d against skopeo 1.9.3', () => {
  it('chooses the same lookaside or refuses the same files', async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const table: Record<string, Record<string, string>> = {
      'most specific scope': {
        'a.yaml': 'docker: {127.0.0.1:9: {lookaside: "http://h/"}, 127.0.0.1:9/ns: {lookaside: "http://n/"}}',
      },
      'empty scope falls through': {
        'a.yaml': 'docker: {127.0.0.1:9/ns: {}}\ndefault-docker: {lookaside: "http://d/"}',
      },
      'null scope falls through': {
        'a.yaml': 'docker: {127.0.0.1:9/ns: null}\ndefault-docker: {lookaside: "http://d/"}',
      },
      'lookaside over sigstore': { 'a.yaml': 'default-docker: {sigstore: "http://s/", lookaside: "http://l/"}' },
      'sigstore alone': { 'a.yaml': 'default-docker: {sigstore: "http://s/"}' },
      'staging is not for reading': { 'a.yaml': 'default-docker: {lookaside-staging: "http://st/"}' },
      'case-folded keys': { 'a.yaml': 'Default-Docker: {Lookaside: "http://cf/"}' },
      'unknown keys': { 'a.yaml': 'x: 1\ndefault-docker: {y: 2, lookaside: "http://u/"}' },
      'wildcard scope': { 'a.yaml': 'docker: {"*.0.0.1": {lookaside: "http://w/"}}' },
      'two files': { 'a.yaml': 'docker: {x: {}}', 'b.yaml': 'default-docker: {lookaside: "http://b/"}' },
      'scope in two files': { 'a.yaml': 'docker: {x: {}}', 'b.yaml': 'docker: {x: {}}' },
      'default-docker in two files': { 'a.yaml': 'default-docker: {}', 'b.yaml': 'default-docker: {}' },
      'string for a bool': { 'a.yaml': 'default-docker: {use-sigstore-attachments: "true"}' },
      'a list': { 'a.yaml': '- a' },
      'bad YAML': { 'a.yaml': 'docker: {x: [}' },
      'empty file': { 'a.yaml': '' },
      'not .yaml': { 'a.yml': 'default-docker: {lookaside: "http://yml/"}' },
    };
    for (const [name, files] of Object.entries(table)) {
      const opts = await home(t, files);
      const h = opts.home ?? '';
      await mkdir(join(h, '.config', 'containers'), { recursive: true });
      await writeFile(join(h, '.config/containers/policy.json'), '{"default":[{"type":"insecureAcceptAnything"}]}');
      const skopeo = await skopeoLookaside(h);
      let ours: string;
      try {
        const top = signatureLocationsFor(
          await loadRegistriesD({ ...opts, systemDir: '/etc/containers/registries.d' }),
          parseDockerReference(`127.0.0.1:9/ns/sub/app@${DIGEST}`),
        );
        ours = top.lookaside ?? '';
      } catch (err) {
        assert.ok(isOcikitError(err, 'CONFIG'), String(err));
        ours = 'error';
      }
      assert.equal(ours, skopeo === 'error' ? 'error' : lookasideBase(skopeo, 'ns/sub/app', ''), name);
    }
  });
});
