/**
 * The native install writer: images from {@link ImageReader}s into an `oci` layout, an
 * `oci-archive` or a `dir` destination, without skopeo (issue 3, item 4).
 *
 * Contract:
 * - every blob is streamed (never held whole) and its size and sha256 are verified in the same
 *   pass that copies it; a wrong, short, long or missing blob fails the install
 *   (`DIGEST_MISMATCH` / `NOT_FOUND`) and nothing appears at the destination;
 * - the destination appears complete or not at all: everything is written under a hidden
 *   temporary sibling (registered with `trackTemp`, so the CLI removes it on SIGINT), then renamed
 *   into place; a SIGKILL can leave only that hidden sibling. An existing destination is `EXISTS`
 *   (nothing is merged into an existing layout);
 * - `oci` / `oci-archive`: an OCI image keeps its exact manifest and config bytes; a Docker v2s2
 *   image is converted as skopeo converts it (`convert.ts`). Each image gets its own
 *   `org.opencontainers.image.ref.name` = its full name (`localhost/foo:latest`), so several
 *   images share one layout and each is reachable as `oci:PATH:NAME`; shared blobs are written
 *   once. `oci-layout` is skopeo 1.9.3's `{"imageLayoutVersion": "1.0.0"}`; `index.json` is
 *   compact JSON with `schemaVersion` and `manifests` (no top-level `mediaType`, as skopeo 1.9.3);
 * - `oci-archive` is deterministic: entries `blobs/`, `blobs/sha256/`, the blobs sorted by digest,
 *   `index.json`, `oci-layout`; USTAR headers as Go writes them; mtime 0, uid/gid 0, `root`,
 *   modes 0755/0644; no compression. Blobs are copied in parallel straight to their offsets;
 * - `dir`: one image only (`INVALID_INPUT` otherwise); the source manifest bytes are kept exactly,
 *   with skopeo's `version` file.
 * Layers with `urls` (foreign layers) are not copied into `oci`/`oci-archive`, as c/image does.
 * Destination blobs are new files (never hard links to the inputs).
 */
import { createHash } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { OcikitError, fromSystemError } from '../errors.js';
import { digestHex, type Digest } from '../model/digest.js';
import { DOCKER_V2S2, OCI_MANIFEST } from '../model/media-types.js';
import { guessMediaType, type Descriptor } from '../model/manifest.js';
import { trackTemp, untrackTemp } from '../internal/cleanup.js';
import { tempSibling } from '../internal/publish.js';
import { TAR_BLOCK, TAR_END, tarPadding, ustarHeader, type TarHeader } from '../internal/tar/ustar.js';
import { convertDockerToOci } from '../model/convert.js';
import { goJsonString } from '../gojson/encode.js';
import { DIR_VERSION } from '../transports/dir/read.js';
import { OCI_LAYOUT_FILE, REF_NAME_ANNOTATION } from '../transports/oci/read.js';
import { isValidOciRef } from '../transports/reference.js';
import type { ImageReader } from '../transports/reader.js';

/** One image to install. */
export interface InstallItem {
  readonly reader: ImageReader;
  /** The image name, with a domain (e.g. `localhost/foo:latest`); the ref name in oci layouts. */
  readonly name: string;
}

/** Where to install: an absolute path already validated to lie inside the tree. */
export interface NativeDestination {
  readonly type: 'oci' | 'oci-archive' | 'dir';
  readonly path: string;
}

/** A progress report: bytes of one image's blobs copied so far. */
export interface InstallProgress {
  /** The position of the image in the `items` given to {@link installNative}. */
  readonly index: number;
  readonly name: string;
  readonly done: number;
  readonly total: number;
}

/** Options for {@link installNative}. */
export interface InstallNativeOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (ev: InstallProgress) => void;
  /** Blobs copied at the same time (default 4). */
  readonly concurrency?: number;
  /**
   * Drop the images' signatures. Without it, a `dir` destination keeps them (`signature-N`), and
   * an oci or oci-archive destination refuses a signed image, as skopeo does: an OCI layout
   * cannot store signatures.
   */
  readonly removeSignatures?: boolean;
}

/** What was installed, per image. */
export interface InstalledImage {
  readonly name: string;
  /** The config digest as written (the image ID). */
  readonly imageId: Digest;
  /** The manifest digest as written. */
  readonly manifestDigest: Digest;
  /** The destination reference, e.g. `oci:/tree/x:localhost/foo:latest` or `dir:/tree/d`. */
  readonly reference: string;
}

/** Where a blob's bytes come from. */
type BlobSource =
  | { readonly kind: 'bytes'; readonly bytes: Buffer }
  | { readonly kind: 'reader'; readonly reader: ImageReader; readonly desc: Descriptor; readonly owner: number };

interface Blob {
  readonly digest: Digest;
  readonly size: number;
  readonly source: BlobSource;
}

interface PlannedImage {
  /** Index of the item this image came from. */
  readonly item: number;
  readonly name: string;
  readonly manifest: Buffer;
  readonly manifestDigest: Digest;
  readonly manifestMediaType: string;
  readonly configDigest: Digest;
  readonly total: number;
}

const CHUNK = 4 * 1024 * 1024;
const MTIME = 0;

/**
 * Installs `items` into `dest` (rules in the module header).
 * @throws OcikitError `EXISTS`, `INVALID_INPUT` (several images into `dir`, a name that is not a
 *   valid oci reference, one name for two images), `UNSUPPORTED` (schema 1, unconvertible media
 *   types), `DIGEST_MISMATCH`, `NOT_FOUND`, `INTERRUPTED`, `IO`.
 */
export async function installNative(
  items: readonly InstallItem[],
  dest: NativeDestination,
  opts: InstallNativeOptions = {},
): Promise<readonly InstalledImage[]> {
  if (!path.isAbsolute(dest.path))
    throw new OcikitError('INVALID_INPUT', `destination path ${JSON.stringify(dest.path)} is not absolute`);
  if (items.length === 0) throw new OcikitError('INVALID_INPUT', 'no image to install');
  if (dest.type === 'dir' && items.length > 1) {
    throw new OcikitError(
      'INVALID_INPUT',
      `a dir destination holds one image; ${items.length} were given (${items.map((i) => i.name).join(', ')})`,
    );
  }
  const target = path.resolve(dest.path);
  const { images, blobs } = plan(items, dest.type);
  const signatures = opts.removeSignatures ? [] : await signaturesOf(items, dest.type);
  await assertAbsent(target);
  await fs.mkdir(path.dirname(target), { recursive: true }).catch((err: unknown) => {
    throw fromSystemError(err, 'creating the destination parent', path.dirname(target));
  });

  const tmp = tempSibling(target, 'ocikit');
  trackTemp(tmp);
  const progress = makeProgress(images, opts.onProgress);
  try {
    if (dest.type === 'oci-archive') await writeArchive(tmp, images, blobs, progress, opts);
    else await writeDirectory(tmp, dest.type, images, blobs, progress, opts, signatures);
    await publish(tmp, target, dest.type === 'oci-archive');
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw err;
  } finally {
    untrackTemp(tmp);
  }
  return images.map((im) => ({
    name: im.name,
    imageId: im.configDigest,
    manifestDigest: im.manifestDigest,
    reference: dest.type === 'dir' ? `dir:${target}` : `${dest.type}:${target}:${im.name}`,
  }));
}

function plan(
  items: readonly InstallItem[],
  type: NativeDestination['type'],
): { images: PlannedImage[]; blobs: Map<Digest, Blob> } {
  const blobs = new Map<Digest, Blob>();
  const images: PlannedImage[] = [];
  const byName = new Map<string, Digest>();
  const add = (digest: Digest, size: number, source: BlobSource) => {
    if (!blobs.has(digest)) blobs.set(digest, { digest, size, source });
  };
  items.forEach((item, owner) => {
    const m = item.reader.manifest;
    let manifest = m.raw;
    let manifestDigest = m.digest;
    let config = item.reader.config;
    let configDigest = m.config.digest;
    let layers = m.layers;
    if (type !== 'dir') {
      if (!isValidOciRef(item.name)) {
        throw new OcikitError(
          'INVALID_INPUT',
          `image name ${JSON.stringify(item.name)} cannot be an oci reference name (c/image grammar C(/C)*, C = A(S A)*, A = [A-Za-z0-9]+, S = [-._:@+] or --)`,
        );
      }
      if (m.mediaType === DOCKER_V2S2) {
        const c = convertDockerToOci(m, config);
        manifest = c.manifest;
        manifestDigest = c.manifestDigest;
        config = c.config;
        configDigest = c.configDigest;
        layers = c.layers;
      } else if (m.mediaType !== OCI_MANIFEST) {
        throw new OcikitError(
          'UNSUPPORTED',
          `${item.reader.source}: manifest type ${m.mediaType} cannot be written to an OCI layout`,
        );
      }
      const seen = byName.get(item.name);
      if (seen !== undefined && seen !== manifestDigest) {
        throw new OcikitError(
          'INVALID_INPUT',
          `image name ${item.name} is given for two different images (${seen}, ${manifestDigest})`,
        );
      }
      if (seen !== undefined) return;
      byName.set(item.name, manifestDigest);
      add(manifestDigest, manifest.length, { kind: 'bytes', bytes: manifest });
    }
    add(configDigest, config.length, { kind: 'bytes', bytes: config });
    let total = 0;
    const counted = new Set<Digest>();
    for (const l of layers) {
      if (type !== 'dir' && l.urls && l.urls.length > 0) continue; // foreign layer: referenced, not copied
      if (!blobs.has(l.digest)) {
        // The layer descriptor of the *source* manifest names the bytes to read.
        add(l.digest, l.size, { kind: 'reader', reader: item.reader, desc: l, owner });
      }
      if (!counted.has(l.digest)) {
        counted.add(l.digest);
        const b = blobs.get(l.digest)!;
        if (b.source.kind === 'reader' && b.source.owner === owner) total += l.size;
      }
    }
    images.push({
      item: owner,
      name: item.name,
      manifest,
      manifestDigest,
      manifestMediaType: type === 'dir' ? m.mediaType : guessMediaType(manifest),
      configDigest,
      total,
    });
  });
  return { images, blobs };
}

async function assertAbsent(target: string): Promise<void> {
  try {
    await fs.lstat(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw fromSystemError(err, 'destination', target);
  }
  throw new OcikitError('EXISTS', `destination ${target} exists already; ocikit does not overwrite or merge into it`);
}

/** Moves the finished temporary sibling into place without ever replacing an existing target. */
async function publish(tmp: string, target: string, isFile: boolean): Promise<void> {
  if (isFile) {
    // link(2) fails with EEXIST instead of replacing: an atomic "create if absent".
    let linked = false;
    try {
      await fs.link(tmp, target);
      linked = true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST')
        throw new OcikitError('EXISTS', `destination ${target} appeared while writing; not replaced`);
      // File systems without hard links: fall back to check-then-rename, as for directories.
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP')
        throw fromSystemError(err, 'publishing', target);
    }
    if (linked) {
      await fs.rm(tmp, { force: true }).catch(() => {}); // the destination is complete; a leftover sibling is only litter
      return;
    }
  }
  // rename(2) would replace an empty directory; check first (a tiny window remains, documented).
  await assertAbsent(target);
  try {
    await fs.rename(tmp, target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST')
      throw new OcikitError('EXISTS', `destination ${target} appeared while writing; not replaced`);
    throw fromSystemError(err, 'publishing', target);
  }
}

type Progress = (blob: Blob, bytes: number) => void;

function makeProgress(images: readonly PlannedImage[], cb?: (ev: InstallProgress) => void): Progress {
  if (!cb) return () => {};
  const byItem = new Map(images.map((im) => [im.item, { im, done: 0 }]));
  return (blob, bytes) => {
    if (blob.source.kind !== 'reader') return;
    const entry = byItem.get(blob.source.owner);
    if (!entry) return;
    entry.done += bytes;
    cb({ index: entry.im.item, name: entry.im.name, done: entry.done, total: entry.im.total });
  };
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new OcikitError('INTERRUPTED', 'install interrupted', { cause: signal.reason });
}

function blobLabel(b: Blob): string {
  return b.source.kind === 'reader' ? `${b.source.reader.source} blob` : 'blob';
}

function sizeError(b: Blob, got: string): OcikitError {
  return new OcikitError('DIGEST_MISMATCH', `${blobLabel(b)} ${b.digest}: expected ${b.size} bytes, got ${got}`, {
    expected: String(b.size),
    actual: got,
  });
}

/**
 * Copies one reader blob into `out` at `offset`, hashing exactly the bytes written, and fails
 * unless the size and digest are the declared ones. A blob with a local file is read with large
 * positional reads, the next read overlapping the current write; others are streamed.
 */
async function copyVerified(
  b: Blob,
  out: fs.FileHandle,
  offset: number,
  progress: Progress,
  signal?: AbortSignal,
): Promise<void> {
  if (b.source.kind === 'bytes') {
    await out.write(b.source.bytes, 0, b.source.bytes.length, offset);
    return;
  }
  const { reader, desc } = b.source;
  const hash = createHash('sha256');
  let written = 0;
  const file = reader.blobPath?.(desc);
  if (file !== undefined) {
    let src: fs.FileHandle;
    try {
      src = await fs.open(file, fsc.O_RDONLY | fsc.O_NOFOLLOW);
    } catch (err) {
      throw fromSystemError(err, blobLabel(b), file);
    }
    try {
      const st = await src.stat();
      if (!st.isFile()) throw new OcikitError('INVALID_INPUT', `${blobLabel(b)} ${file} is not a regular file`);
      const bufs = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
      let which = 0;
      // Read one byte past the declared size so a longer file is noticed.
      const want = (pos: number) => Math.min(CHUNK, b.size + 1 - pos);
      let n = want(0) > 0 ? (await src.read(bufs[0]!, 0, want(0), 0)).bytesRead : 0;
      while (n > 0) {
        throwIfAborted(signal);
        if (written + n > b.size) throw sizeError(b, `at least ${written + n}`);
        const cur = bufs[which]!.subarray(0, n);
        hash.update(cur);
        which ^= 1;
        const nextPos = written + n;
        const w = out.write(cur, 0, n, offset + written);
        const r =
          want(nextPos) > 0 ? src.read(bufs[which]!, 0, want(nextPos), nextPos) : Promise.resolve({ bytesRead: 0 });
        const [, rr] = await Promise.all([w, r]);
        written = nextPos;
        progress(b, n);
        n = rr.bytesRead;
      }
    } catch (err) {
      throw fromSystemError(err, blobLabel(b), file);
    } finally {
      await src.close();
    }
  } else {
    const stream: Readable = await reader.openBlob(desc);
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        throwIfAborted(signal);
        if (written + chunk.length > b.size) throw sizeError(b, `at least ${written + chunk.length}`);
        hash.update(chunk);
        await out.write(chunk, 0, chunk.length, offset + written);
        written += chunk.length;
        progress(b, chunk.length);
      }
    } finally {
      stream.destroy();
    }
  }
  if (written !== b.size) throw sizeError(b, String(written));
  const actual = `sha256:${hash.digest('hex')}`;
  if (actual !== b.digest) {
    throw new OcikitError('DIGEST_MISMATCH', `${blobLabel(b)}: expected digest ${b.digest}, got ${actual}`, {
      expected: b.digest,
      actual,
    });
  }
}

/** Runs `tasks` with at most `n` at a time; the first failure stops new tasks and is rethrown. */
async function runPool(tasks: readonly (() => Promise<void>)[], n: number): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (failed === undefined && next < tasks.length) {
      const t = tasks[next++]!;
      try {
        await t();
      } catch (err) {
        if (failed === undefined) failed = err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, tasks.length) }, worker));
  if (failed !== undefined) throw failed;
}

function indexJson(images: readonly PlannedImage[]): Buffer {
  const entries = images.map(
    (im) =>
      `{"mediaType":${goJsonString(im.manifestMediaType)},"digest":"${im.manifestDigest}","size":${im.manifest.length},` +
      `"annotations":{${goJsonString(REF_NAME_ANNOTATION)}:${goJsonString(im.name)}}}`,
  );
  return Buffer.from(`{"schemaVersion":2,"manifests":[${entries.join(',')}]}`, 'utf8');
}

async function writeNewFile(file: string, fill: (fh: fs.FileHandle) => Promise<void>): Promise<void> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o644);
  } catch (err) {
    throw fromSystemError(err, 'writing', file);
  }
  try {
    await fill(fh);
  } finally {
    await fh.close();
  }
}

async function writeDirectory(
  tmp: string,
  type: 'oci' | 'dir',
  images: readonly PlannedImage[],
  blobs: Map<Digest, Blob>,
  progress: Progress,
  opts: InstallNativeOptions,
  signatures: readonly Buffer[] = [],
): Promise<void> {
  const blobDir = type === 'oci' ? path.join(tmp, 'blobs', 'sha256') : tmp;
  try {
    await fs.mkdir(tmp, { mode: 0o755 });
    if (type === 'oci') await fs.mkdir(blobDir, { recursive: true, mode: 0o755 });
  } catch (err) {
    throw fromSystemError(err, 'creating', tmp);
  }
  // Large blobs first, so the slowest copy starts earliest.
  const ordered = [...blobs.values()].sort((a, b) => b.size - a.size);
  await runPool(
    ordered.map(
      (b) => () =>
        writeNewFile(path.join(blobDir, digestHex(b.digest)), (fh) => copyVerified(b, fh, 0, progress, opts.signal)),
    ),
    opts.concurrency ?? 4,
  );
  throwIfAborted(opts.signal);
  if (type === 'oci') {
    await writeNewFile(path.join(tmp, 'oci-layout'), (fh) => fh.writeFile(OCI_LAYOUT_FILE));
    await writeNewFile(path.join(tmp, 'index.json'), (fh) => fh.writeFile(indexJson(images)));
  } else {
    const im = images[0]!;
    await writeNewFile(path.join(tmp, 'manifest.json'), (fh) => fh.writeFile(im.manifest));
    for (const [n, sig] of signatures.entries())
      await writeNewFile(path.join(tmp, `signature-${n + 1}`), (fh) => fh.writeFile(sig));
    await writeNewFile(path.join(tmp, 'version'), (fh) => fh.writeFile(DIR_VERSION));
  }
}

/**
 * The signatures to write: for `dir`, the one image's; for an OCI layout, none — and a signed
 * image is refused, as skopeo refuses it ("Pushing signatures for OCI images is not supported").
 */
async function signaturesOf(
  items: readonly InstallItem[],
  type: NativeDestination['type'],
): Promise<readonly Buffer[]> {
  for (const item of items) {
    const sigs = (await item.reader.signatures?.()) ?? [];
    if (sigs.length === 0) continue;
    if (type === 'dir') return sigs;
    throw new OcikitError(
      'UNSUPPORTED',
      `${item.reader.source} (${item.name}) carries ${sigs.length} signature(s), which an ${type} destination cannot store; set remove-signatures to install it without them`,
    );
  }
  return [];
}

async function writeArchive(
  tmp: string,
  images: readonly PlannedImage[],
  blobs: Map<Digest, Blob>,
  progress: Progress,
  opts: InstallNativeOptions,
): Promise<void> {
  const meta = (name: string, type: TarHeader['type'], size: number): TarHeader => ({
    name,
    type,
    size,
    mode: type === 'dir' ? 0o755 : 0o644,
    mtime: MTIME,
  });
  const sorted = [...blobs.values()].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  const index = indexJson(images);
  const layoutFile = Buffer.from(OCI_LAYOUT_FILE);
  // Lay the archive out first: every entry's header and content offsets are known from the sizes.
  const headers: { at: number; header: Buffer; content?: Buffer | Blob; size: number }[] = [];
  let at = 0;
  const push = (h: TarHeader, content?: Buffer | Blob) => {
    headers.push({ at, header: ustarHeader(h), ...(content ? { content } : {}), size: h.size });
    at += TAR_BLOCK + h.size + tarPadding(h.size).length;
  };
  push(meta('blobs/', 'dir', 0));
  push(meta('blobs/sha256/', 'dir', 0));
  for (const b of sorted) push(meta(`blobs/sha256/${digestHex(b.digest)}`, 'file', b.size), b);
  push(meta('index.json', 'file', index.length), index);
  push(meta('oci-layout', 'file', layoutFile.length), layoutFile);
  const end = at;

  await writeNewFile(tmp, async (fh) => {
    for (const h of headers) {
      await fh.write(h.header, 0, TAR_BLOCK, h.at);
      const pad = tarPadding(h.size);
      if (pad.length > 0) await fh.write(pad, 0, pad.length, h.at + TAR_BLOCK + h.size);
      if (Buffer.isBuffer(h.content)) await fh.write(h.content, 0, h.content.length, h.at + TAR_BLOCK);
    }
    const copies = headers
      .filter((h) => h.content !== undefined && !Buffer.isBuffer(h.content))
      .sort((a, b) => b.size - a.size)
      .map((h) => () => copyVerified(h.content as Blob, fh, h.at + TAR_BLOCK, progress, opts.signal));
    await runPool(copies, opts.concurrency ?? 4);
    throwIfAborted(opts.signal);
    await fh.write(TAR_END, 0, TAR_END.length, end);
  });
}
