/**
 * One layer of an image as the stream a deploy applies, in a single pass with bounded memory:
 * blob → size-and-digest check (R6, `DigestingStream`) → decompression by magic (R4, R5) →
 * DiffID hash over the whole decompressed stream (R7) → the layer reader → the visitor.
 *
 * {@link planLayers} checks what can be checked before anything is written: media types (R3,
 * Docker manifests mapped to OCI types as `model/convert.ts` maps them), `len(diff_ids) ==
 * len(layers)` (R7). {@link streamLayer} then streams layer *i*: after the tar reader stops at the
 * end-of-archive blocks, the rest of the decompressed stream (GNU tar's record padding) is read
 * and hashed too, as umoci and go-containerregistry do; bytes after the last gzip member are a
 * warning once the tar has ended, an error before (deploy corpus case 52). Foreign layers are read from the input
 * like any other and never fetched (R8). Rule numbers are docs/deploy.md's.
 */
import type { Readable } from 'node:stream';
import { OcikitError, isOcikitError, throwIfInterrupted } from '../errors.js';
import { decodeGo, type GoStruct, T } from '../gojson/decode.js';
import { GoJSONError, parseGoJSON } from '../gojson/parse.js';
import {
  type DecompressOptions,
  type LayerCompression,
  TrailingDataError,
  decompressLayer,
} from '../internal/decompress.js';
import type { LayerVisitor } from '../internal/tar/entry.js';
import { readLayer } from '../internal/tar/layer-reader.js';
import { ociLayerMediaType } from '../model/convert.js';
import type { Descriptor } from '../model/descriptor.js';
import { type Digest, isDigest } from '../model/digest.js';
import * as mt from '../model/media-types.js';
import { DigestingStream, Verifier, expectDigest } from '../model/verify.js';
import type { ImageReader } from '../transports/reader.js';
import type { DeployWarning } from './types.js';

/** One layer as it will be applied. */
export interface LayerPlan {
  /** Zero-based position (R2: the base layer is 0). */
  readonly index: number;
  /** The descriptor as the manifest gives it. */
  readonly descriptor: Descriptor;
  /** The OCI layer media type (a Docker type mapped as skopeo maps it). */
  readonly ociMediaType: string;
  /** What the media type says the compression is. */
  readonly declared: LayerCompression;
  /** `config.rootfs.diff_ids[index]`. */
  readonly diffId: Digest;
}

/** The OCI layer types R3 accepts, and the compression each names. */
const ACCEPTED: Readonly<Record<string, LayerCompression>> = {
  [mt.OCI_LAYER]: 'none',
  [mt.OCI_LAYER_GZIP]: 'gzip',
  [mt.OCI_LAYER_ZSTD]: 'zstd',
  [mt.OCI_LAYER_NONDIST]: 'none',
  [mt.OCI_LAYER_NONDIST_GZIP]: 'gzip',
  [mt.OCI_LAYER_NONDIST_ZSTD]: 'zstd',
};

const CONFIG_ROOTFS = T.struct({ rootfs: T.struct({ diff_ids: T.slice(T.string) }) });

/** `rootfs.diff_ids` of a config, decoded as Go decodes it (keys matched case-insensitively). */
function diffIds(config: Buffer, what: string): Digest[] {
  let decoded: GoStruct;
  try {
    decoded = decodeGo(parseGoJSON(config), CONFIG_ROOTFS) as GoStruct;
  } catch (err) {
    if (!(err instanceof GoJSONError)) throw err;
    throw new OcikitError('INVALID_MANIFEST', `${what} config: ${err.message}`, { cause: err });
  }
  const ids = ((decoded.rootfs as GoStruct | undefined)?.diff_ids ?? []) as (string | undefined)[];
  return ids.map((id, i) => {
    if (!isDigest(id)) {
      throw new OcikitError(
        'INVALID_MANIFEST',
        `${what} config: rootfs.diff_ids[${i}] ${JSON.stringify(id ?? '')} is not a sha256 digest`,
      );
    }
    return id;
  });
}

/**
 * The layers of `reader`'s image, checked (R3, R7) before anything is written.
 * @throws OcikitError `UNSUPPORTED` (a media type R3 refuses), `INVALID_MANIFEST` (diff_ids).
 */
export function planLayers(reader: ImageReader): LayerPlan[] {
  const what = reader.source;
  const docker = reader.manifest.mediaType === mt.DOCKER_V2S2;
  const ids = diffIds(reader.config, what);
  const layers = reader.manifest.layers;
  if (ids.length !== layers.length) {
    throw new OcikitError(
      'INVALID_MANIFEST',
      `${what}: the config lists ${ids.length} diff_ids for ${layers.length} layers`,
    );
  }
  return layers.map((descriptor, index) => {
    const type = descriptor.mediaType;
    const ociMediaType = docker ? ociLayerMediaType(type) : type;
    const declared = ociMediaType === undefined ? undefined : ACCEPTED[ociMediaType];
    if (ociMediaType === undefined || declared === undefined) {
      const why = type.includes('+encrypted')
        ? 'encrypted layers are not supported'
        : /bzip2|xz/.test(type)
          ? 'bzip2 and xz layers are not supported'
          : 'not a layer media type ocikit can deploy';
      throw new OcikitError(
        'UNSUPPORTED',
        `${what}: layer ${index + 1} (${descriptor.digest}) has media type ${JSON.stringify(type)}: ${why}`,
      );
    }
    return { index, descriptor, ociMediaType, declared, diffId: ids[index]! };
  });
}

/** Options of {@link streamLayer}. */
export interface StreamLayerOptions {
  readonly zstd?: DecompressOptions['zstd'];
  readonly signal?: AbortSignal | undefined;
  /** Receives the count of each piece of compressed bytes read. */
  readonly onBytes?: ((n: number) => void) | undefined;
  /** Called after each entry the reader hands out. */
  readonly onEntry?: (() => void) | undefined;
  readonly warn: (w: DeployWarning) => void;
}

/** What {@link streamLayer} read. */
export interface StreamedLayer {
  /** R4: what the bytes were. */
  readonly compression: LayerCompression;
  /** Entries the reader handed out. */
  readonly entries: number;
  /** Compressed bytes read (the blob's size). */
  readonly bytes: number;
  /** The verified DiffID. */
  readonly diffId: Digest;
}

/** Opens a layer's blob; an absent foreign layer is named with its urls (R8). */
async function openLayerBlob(reader: ImageReader, plan: LayerPlan, what: string): Promise<Readable> {
  try {
    return await reader.openBlob(plan.descriptor);
  } catch (err) {
    const urls = plan.descriptor.urls ?? [];
    const foreign = urls.length > 0 || plan.ociMediaType.includes('nondistributable');
    if (!foreign || !isOcikitError(err, 'NOT_FOUND')) throw err;
    throw new OcikitError(
      'NOT_FOUND',
      `${what}: the foreign layer's blob is not in the input (urls: ${urls.length > 0 ? urls.join(', ') : 'none'}); ocikit never downloads foreign layers`,
      { cause: err },
    );
  }
}

/** The compressed stream, each chunk counted for progress; an abort stops it. */
async function* counted(check: DigestingStream, opts: StreamLayerOptions): AsyncGenerator<Buffer> {
  const { onBytes, signal } = opts;
  for await (const c of check) {
    throwIfInterrupted(signal, 'deploy');
    onBytes?.((c as Buffer).length);
    yield c as Buffer;
  }
}

/**
 * Streams layer `plan.index` of `reader` into `visitor` (rules in the module header).
 * @throws OcikitError `DIGEST_MISMATCH` (blob digest or size, R6; DiffID, R7, found only after
 *   the layer's entries were handed out), `NOT_FOUND` (blob, R8), `UNSUPPORTED`, `INVALID_INPUT`
 *   (corrupt compressed data, data after the last gzip member before the tar ended), what the
 *   reader and the visitor throw.
 */
export async function streamLayer(
  reader: ImageReader,
  plan: LayerPlan,
  visitor: LayerVisitor,
  opts: StreamLayerOptions,
): Promise<StreamedLayer> {
  const d = plan.descriptor;
  const what = `${reader.source} layer ${plan.index + 1} (${d.digest})`;
  const blob = await openLayerBlob(reader, plan, what);
  const check = new DigestingStream({ digest: d.digest, size: d.size }, `${what} blob`);
  blob.on('error', (e) => check.destroy(e));
  blob.pipe(check);
  try {
    // The DiffID below covers every decompressed byte (R7), so gzip's own CRC is not computed again.
    const dec = await decompressLayer(counted(check, opts), {
      what,
      zstd: opts.zstd,
      signal: opts.signal,
      gzipCrc: false,
    });
    if (dec.compression !== plan.declared) {
      opts.warn({
        code: 'compression-mismatch',
        path: '',
        detail: `${what}: media type ${d.mediaType} says ${plan.declared}, the bytes are ${dec.compression}; decompressed by the bytes (R4)`,
      });
    }
    const diff = new Verifier(undefined, `${what} DiffID`);
    const it = dec.chunks[Symbol.asyncIterator]();
    const pull = async (): Promise<IteratorResult<Buffer>> => {
      const r = await it.next();
      if (!r.done) diff.update(r.value);
      return r;
    };
    // The reader stops after the end-of-archive blocks; its `return` must not end the stream, whose rest is hashed below.
    const tar: AsyncIterable<Buffer> = {
      [Symbol.asyncIterator]: () => ({ next: pull, return: async () => ({ done: true, value: undefined }) }),
    };
    try {
      const counting: LayerVisitor = opts.onEntry
        ? {
            entry: (e) => {
              opts.onEntry!();
              return visitor.entry(e);
            },
            data: (c) => visitor.data(c),
            end: () => visitor.end(),
          }
        : visitor;
      const result = await readLayer(tar, counting, { label: what });
      try {
        while (!(await pull()).done);
      } catch (err) {
        if (!(err instanceof TrailingDataError) || !result.endMarker) throw err;
        opts.warn({
          code: 'trailing-data',
          path: '',
          detail: `${err.message}; ignored: the tar had already ended`,
        });
        await dec.drainSource();
      }
      const diffId = diff.finish();
      expectDigest(`${what} DiffID (config rootfs.diff_ids[${plan.index}])`, plan.diffId, diffId);
      // Every compressed byte was read and verified: the digest is known.
      void check.digest;
      return { compression: dec.compression, entries: result.entries, bytes: check.bytes, diffId };
    } catch (err) {
      await it.return?.();
      if (err instanceof TrailingDataError) {
        throw new OcikitError('INVALID_INPUT', `${err.message}, and the tar had not ended`, { cause: err });
      }
      throw await blobErrorFirst(err, dec.drainSource, opts.signal);
    }
  } finally {
    blob.unpipe(check);
    blob.destroy();
    check.destroy();
  }
}

/**
 * A tampered blob makes the decoder or the reader fail before the blob's digest is known: the
 * rest of the compressed blob is read (hashing only) so that the error is `DIGEST_MISMATCH`
 * whenever the blob is not the one the manifest names.
 */
async function blobErrorFirst(err: unknown, drain: () => Promise<void>, signal: AbortSignal | undefined) {
  if (isOcikitError(err, 'DIGEST_MISMATCH') || isOcikitError(err, 'INTERRUPTED') || signal?.aborted) return err;
  try {
    await drain();
  } catch (blobErr) {
    if (isOcikitError(blobErr, 'DIGEST_MISMATCH')) return blobErr;
  }
  return err;
}
