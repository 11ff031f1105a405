import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { convertConfigToOci, convertDockerToOci, ociLayerMediaType } from '../../src/model/convert.js';
import { parseManifest, type ImageManifest } from '../../src/model/manifest.js';
import { isOcikitError } from '../../src/errors.js';
import { makeTar } from '../helpers/images.js';
import { needTool } from '../helpers/tools.js';
import { tempDir } from '../helpers/tmp.js';

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const conv = (obj: unknown) =>
  convertConfigToOci(Buffer.from(typeof obj === 'string' ? obj : JSON.stringify(obj))).toString('utf8');

/** Writes a Docker v2s2 `dir:` image with the given raw config bytes and one gzip layer. */
async function dockerDirWithConfig(
  dir: string,
  config: Buffer,
  layerType = 'application/vnd.docker.image.rootfs.diff.tar.gzip',
) {
  const raw = await makeTar({ 'a.txt': 'hello' });
  const layer = layerType.endsWith('gzip') ? gzipSync(raw) : raw;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: config.length, digest: sha(config) },
      layers: [{ mediaType: layerType, size: layer.length, digest: sha(layer) }],
    }),
  );
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'version'), 'Directory Transport Version: 1.1\n');
  await writeFile(join(dir, 'manifest.json'), manifest);
  await writeFile(join(dir, sha(config).slice(7)), config);
  await writeFile(join(dir, sha(layer).slice(7)), layer);
  return { manifest, layer };
}

/** Copies `<dir>/src` (a `dir:` image) to the OCI layout `<dir>/out` with skopeo. */
const skopeoToOci = (dir: string) =>
  spawnSync('skopeo', ['copy', '-q', `dir:${join(dir, 'src')}`, `oci:${join(dir, 'out')}:x`], { encoding: 'utf8' });

/** A Docker config exercising most of the Go encoding rules. */
const TRICKY_CONFIG = {
  architecture: 'amd64',
  config: {
    Hostname: 'abc',
    Domainname: '',
    User: 'app<&>',
    AttachStdin: false,
    ExposedPorts: { '8080/tcp': {}, '443/tcp': {} },
    Env: ['PATH=/usr/bin', 'X=a\u2028b', 'TAB=\t', 'BS=\b\f\u0001'],
    Cmd: ['/bin/sh', '-c', 'echo "<hi>" && true'],
    Image: 'sha256:0000',
    Volumes: { '/data': {} },
    WorkingDir: '/srv',
    Entrypoint: null,
    OnBuild: null,
    Labels: { zeta: '1', Alpha: '2', é: '3', '\u{1F600}': 'emoji', '\uE000': 'pua', a: 'x<y>&z' },
    StopSignal: 'SIGTERM',
  },
  container: 'deadbeef',
  container_config: { Hostname: 'x', Cmd: ['/bin/sh'] },
  created: '2023-05-06T07:08:09.120000000+02:00',
  docker_version: '20.10.7',
  history: [
    { created: '2023-05-06T07:08:09Z', created_by: '/bin/sh -c #(nop) ADD file:abc in / ' },
    { created: '2023-05-06T07:08:09.5Z', created_by: '/bin/sh -c #(nop)  CMD ["sh"]', empty_layer: true },
    { created: '2023-05-06T07:08:09.000000000Z', comment: 'zero fraction', empty_layer: false },
  ],
  os: 'linux',
  'os.features': [],
  variant: '',
  rootfs: { type: 'layers', diff_ids: ['sha256:1111111111111111111111111111111111111111111111111111111111111111'] },
};

describe('convertConfigToOci', () => {
  it('drops Docker-only fields and writes image-spec field order', () => {
    const out = conv({
      os: 'linux',
      architecture: 'arm64',
      docker_version: '1',
      container_config: {},
      rootfs: { diff_ids: [], type: 'layers' },
    });
    assert.equal(out, '{"architecture":"arm64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]}}');
  });
  it('keeps a missing diff_ids as null and always writes config', () => {
    assert.equal(conv({}), '{"architecture":"","os":"","config":{},"rootfs":{"type":"","diff_ids":null}}');
  });
  it('matches keys case-insensitively, the last one winning', () => {
    assert.equal(
      conv({ OS: 'linux', Architecture: 'x', architecture: 'amd64', ROOTFS: { TYPE: 'layers' } }).slice(0, 40),
      '{"architecture":"amd64","os":"linux","co',
    );
  });
  it('folds KELVIN SIGN and LONG S like Go', () => {
    assert.match(
      conv({ 'o\u017f': 'linux', config: { 'Wor\u212aingDir': '/w' } }),
      /"os":"linux","config":\{"WorkingDir":"\/w"\}/,
    );
  });
  it('sorts map keys by UTF-8 bytes and writes empty structs for ports and volumes', () => {
    const out = conv({
      config: { Labels: { b: '1', '\uE000': 'p', '\u{1F600}': 'e', A: '2' }, ExposedPorts: { '80/tcp': { x: 1 } } },
    });
    assert.match(
      out,
      /"config":\{"ExposedPorts":\{"80\/tcp":\{\}\},"Labels":\{"A":"2","b":"1","\uE000":"p","\u{1F600}":"e"\}\}/u,
    );
  });
  it('omits empty omitempty fields but keeps non-empty ones', () => {
    const out = conv({ variant: '', author: 'me', 'os.features': [], history: [{ empty_layer: false }, null] });
    assert.equal(
      out,
      '{"author":"me","architecture":"","os":"","config":{},"rootfs":{"type":"","diff_ids":null},"history":[{},{}]}',
    );
  });
  it('turns null elements of string slices into empty strings', () => {
    assert.match(conv({ config: { Env: ['A=1', null] } }), /"Env":\["A=1",""\]/);
  });
  const typeErrors: [string, unknown][] = [
    ['a number for a string', { os: 5 }],
    ['a string for a struct', { config: 'x' }],
    ['an object for a slice', { history: {} }],
    ['a string for a bool', { history: [{ empty_layer: 'yes' }] }],
    ['a number for a time', { created: 5 }],
    ['a bad time', { created: '2023-02-30T00:00:00Z' }],
    ['not JSON', '{"os":'],
    ['a byte order mark', '\ufeff{}'],
  ];
  for (const [what, input] of typeErrors) {
    it(`fails like Go on ${what}`, () =>
      assert.throws(
        () => conv(input),
        (e: unknown) => isOcikitError(e, 'INVALID_INPUT'),
      ));
  }
});

describe('ociLayerMediaType', () => {
  const table: [string, string | undefined][] = [
    ['application/vnd.docker.image.rootfs.diff.tar.gzip', 'application/vnd.oci.image.layer.v1.tar+gzip'],
    ['application/vnd.docker.image.rootfs.diff.tar', 'application/vnd.oci.image.layer.v1.tar'],
    ['application/vnd.docker.image.rootfs.foreign.diff.tar', 'application/vnd.oci.image.layer.nondistributable.v1.tar'],
    [
      'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
      'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
    ],
    ['application/vnd.oci.image.layer.v1.tar+zstd', undefined],
  ];
  for (const [from, to] of table) it(`maps ${from}`, () => assert.equal(ociLayerMediaType(from), to));
});

describe('convertDockerToOci', () => {
  it('refuses a layer type c/image cannot convert', async () => {
    const m = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
        config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: 2, digest: sha('{}') },
        layers: [{ mediaType: 'application/octet-stream', size: 1, digest: sha('x') }],
      }),
    );
    const parsed = parseManifest(m, 'test') as ImageManifest;
    assert.throws(
      () => convertDockerToOci(parsed, Buffer.from('{}')),
      (e: unknown) => isOcikitError(e, 'UNSUPPORTED'),
    );
  });

  for (const [label, config] of [
    ['a tricky Docker config', Buffer.from(JSON.stringify(TRICKY_CONFIG))],
    [
      'a pretty-printed config with escapes',
      Buffer.from(JSON.stringify(TRICKY_CONFIG, null, 3).replace('"linux"', '"\\u006cinux"')),
    ],
  ] as const) {
    it(`gives skopeo's exact manifest and config bytes for ${label}`, async (t) => {
      if (!needTool(t, 'skopeo')) return;
      const dir = await tempDir(t);
      const { manifest } = await dockerDirWithConfig(join(dir, 'src'), config);
      const r = skopeoToOci(dir);
      assert.equal(r.status, 0, r.stderr);
      const index = JSON.parse(await readFile(join(dir, 'out', 'index.json'), 'utf8'));
      const wantManifest = await readFile(join(dir, 'out', 'blobs', 'sha256', index.manifests[0].digest.slice(7)));
      const got = convertDockerToOci(parseManifest(manifest, 'test') as ImageManifest, config);
      const wantConfig = await readFile(join(dir, 'out', 'blobs', 'sha256', got.configDigest.slice(7)));
      assert.equal(got.config.toString('utf8'), wantConfig.toString('utf8'));
      assert.equal(got.manifest.toString('utf8'), wantManifest.toString('utf8'));
      assert.equal(got.manifestDigest, index.manifests[0].digest);
    });
  }

  /** Go 1.19 corners that a JSON.parse-based conversion gets wrong, as raw config text. */
  const GO_CORNERS = Buffer.concat([
    Buffer.from(
      '{"config":{"Env":["a","b","c"]},"config":{"Env":["x"]},"config":{"Env":[null,null,null,null]},' +
        '"history":[{"author":"x"}],"history":[{"comment":"y","created":"2023-05-06T07:08:09,5+23:99"}],' +
        '"created":"2023-05-06T7:08:09.1234567891-00:00","rootfs":{"type":"layers"},"rootfs":{"diff_ids":[]},' +
        '"os":"linux","config":{"Labels":{"bad":"',
    ),
    Buffer.from([0xe2, 0x82, 0x41, 0xff]),
    Buffer.from('"}}}'),
  ]);

  it("gives skopeo's exact bytes for repeated keys, Go time corners and invalid UTF-8", async (t) => {
    if (!needTool(t, 'skopeo')) return;
    const dir = await tempDir(t);
    const { manifest } = await dockerDirWithConfig(join(dir, 'src'), GO_CORNERS);
    const r = skopeoToOci(dir);
    assert.equal(r.status, 0, r.stderr);
    const got = convertDockerToOci(parseManifest(manifest, 'test') as ImageManifest, GO_CORNERS);
    const wantConfig = await readFile(join(dir, 'out', 'blobs', 'sha256', got.configDigest.slice(7)));
    assert.equal(got.config.toString('utf8'), wantConfig.toString('utf8'));
  });

  for (const [label, config] of [
    ['a time with an escape', '{"created":"2023-05-06T07:08:09\\u005a"}'],
    ['a one-digit offset hour', '{"created":"2023-05-06T07:08:09+1:00"}'],
  ] as const) {
    it(`fails where skopeo fails: ${label}`, async (t) => {
      if (!needTool(t, 'skopeo')) return;
      const dir = await tempDir(t);
      const bytes = Buffer.from(config);
      const { manifest } = await dockerDirWithConfig(join(dir, 'src'), bytes);
      const r = skopeoToOci(dir);
      assert.notEqual(r.status, 0, 'skopeo accepted it');
      assert.throws(
        () => convertDockerToOci(parseManifest(manifest, 'test') as ImageManifest, bytes),
        (e: unknown) => isOcikitError(e, 'INVALID_INPUT'),
      );
    });
  }
});
