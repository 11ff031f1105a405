/**
 * An image's signatures, from where containers/image 5.23 looks for them for a docker image
 * (`docker/docker_image_src.go` `GetSignaturesWithFormat`), in its order:
 * 1. when the registry's ping announced the signature API extension
 *    (`X-Registry-Supports-Signatures: 1`): `GET /extensions/v2/<name>/signatures/<digest>` with
 *    the registry's credentials; its `schemaVersion: 2`, `type: "atomic"` entries are
 *    simple-signing signatures (`getSignaturesFromAPIExtension`). The lookaside is then not read
 *    at all, even when registries.d configures one;
 * 2. otherwise the lookaside (registries.d, ../trust/registries-d.ts; c/image always has one, the
 *    built-in default when nothing is configured): `<base>@sha256=<hex>/signature-N` for N = 1, 2, …
 *    until the first that does not exist — a 404 over http(s), ENOENT for `file:` —; any other
 *    answer (a 500, a 403, an unreadable file, a blob that is no signature) is an error, never the
 *    end of the list (`getSignaturesFromLookaside`, `getOneSignature`). HTTP goes through the
 *    registry client with the endpoint's TLS settings (certs.d CAs and client certificate,
 *    `tls-verify`) and the proxy the environment names for the lookaside URL, as c/image uses the
 *    registry's `http.Client`; no credentials are sent. Each file is a signature blob as
 *    `signature.FromBlob` reads it (../trust/signature-files.ts);
 * 3. then, with `use-sigstore-attachments`, the `sha256-<hex>.sig` manifest of the same
 *    repository (`sigstoreAttachmentTag`): absent when the registry says the manifest is unknown
 *    (`isManifestUnknownError`), else it must be an OCI manifest; each of its layers is fetched as
 *    a blob and becomes a sigstore signature with the layer's media type and annotations (the
 *    policy decides which media types count, `getSignaturesFromSigstoreAttachments`).
 *
 * Bounds (c/image has no count or time bound): at most {@link MAX_SIGNATURES} lookaside
 * signatures or attachment layers (more is an error, never a silent cut), 4 MiB per signature and
 * per extension answer (c/image's `iolimits`), and a whole-call deadline. Stricter than c/image:
 * attachment blobs are verified against their descriptor's digest and size (c/image reads them
 * unverified) and are always read from the registry (c/image tries a layer's `urls` first).
 */
import { readNamedFile } from '../internal/fs.js';
import { OcikitError, interrupted, isOcikitError } from '../errors.js';
import { T, decodeGo, type GoStruct } from '../gojson/decode.js';
import { parseGoJSON } from '../gojson/parse.js';
import { escapeControl } from '../internal/text.js';
import type { Digest } from '../model/digest.js';
import { parseManifest } from '../model/manifest.js';
import { MANIFEST_ACCEPT, OCI_MANIFEST } from '../model/media-types.js';
import { verifyBytes } from '../model/verify.js';
import { lookasideSignatureURL, type SignatureLocations } from '../trust/registries-d.js';
import { decodeSignatureBlob } from '../trust/signature-files.js';
import type { ImageSignature } from '../trust/verifier.js';
import type { RegistryClient } from './client.js';
import { type RepositoryLocation, authedGet, authedPathGet, connectionOf } from './transport/bearer.js';
import { type HttpResponse, readBody, registryErrorText, retryBody, send } from './transport/http.js';
import { hostState } from './transport/ping.js';

export type { SignatureLocations } from '../trust/registries-d.js';

/** The most signatures one source may hold (lookaside files, attachment layers, extension entries). */
export const MAX_SIGNATURES = 128;
/** The size limit of one signature, attachment layer or extension answer (c/image `MaxSignatureBodySize`). */
export const MAX_SIGNATURE_SIZE = 4 * 1024 * 1024;
/** The default deadline of one {@link fetchImageSignatures} call. */
export const DEFAULT_SIGNATURES_TIMEOUT_MS = 120_000;

/** Options of {@link fetchImageSignatures}. */
export interface FetchSignaturesOptions {
  /** The whole call's deadline in milliseconds (default {@link DEFAULT_SIGNATURES_TIMEOUT_MS}). */
  readonly timeoutMs?: number | undefined;
}

/** What one call shares. */
interface Ctx {
  readonly client: RegistryClient;
  readonly loc: RepositoryLocation;
  readonly digest: Digest;
  readonly name: string;
  readonly signal: AbortSignal;
}

const tooLarge = (what: string) => (n: number) =>
  new OcikitError('REGISTRY', `${what}: larger than ${MAX_SIGNATURE_SIZE} bytes (${n})`);

function tooMany(what: string): OcikitError {
  return new OcikitError('REGISTRY', `${what}: more than ${MAX_SIGNATURES} signatures; ocikit reads no more`);
}

/** The blob of a stored signature as an {@link ImageSignature}. */
function fromBlob(blob: Uint8Array, source: string): ImageSignature {
  const s = decodeSignatureBlob(blob, `signature ${source}`);
  if (s.format === 'simple-signing') return { kind: 'simple-signing', bytes: s.blob, source };
  return {
    kind: 'sigstore',
    mimeType: s.mimeType,
    payload: s.payload,
    annotations: Object.fromEntries(s.annotations),
    source,
  };
}

/** One lookaside signature: its bytes, or null when it does not exist (`getOneSignature`). */
async function lookasideOne(ctx: Ctx, url: URL): Promise<Uint8Array | null> {
  if (url.protocol === 'file:') {
    const file = decodeURIComponent(url.pathname);
    try {
      return await readNamedFile(file, 'lookaside signature', { maxBytes: MAX_SIGNATURE_SIZE });
    } catch (err) {
      if ((err as { cause?: { code?: unknown } }).cause?.code === 'ENOENT') return null;
      throw err;
    }
  }
  const what = `reading signature from ${escapeControl(url.href)}`;
  return retryBody(ctx.client, what, ctx.signal, async () => {
    const res = await send(ctx.client, url, connectionOf(ctx.loc), what, { signal: ctx.signal });
    if (res.statusCode === 404) {
      await res.body.dump().catch(() => undefined);
      return null;
    }
    if (res.statusCode !== 200) {
      await res.body.dump().catch(() => undefined);
      throw new OcikitError('REGISTRY', `${what}: HTTP ${res.statusCode}`);
    }
    return readBody(res, MAX_SIGNATURE_SIZE, tooLarge(what));
  });
}

async function fromLookaside(ctx: Ctx, base: string, from: string | undefined): Promise<ImageSignature[]> {
  const probe = new URL(base);
  if (!['file:', 'http:', 'https:'].includes(probe.protocol)) {
    throw new OcikitError(
      'CONFIG',
      `lookaside ${escapeControl(base)}${from ? ` (${from})` : ''}: unsupported scheme ${escapeControl(probe.protocol)}`,
    );
  }
  const out: ImageSignature[] = [];
  for (let n = 1; ; n++) {
    const url = lookasideSignatureURL(base, ctx.digest, n);
    if (n > MAX_SIGNATURES) {
      if ((await lookasideOne(ctx, url)) === null) return out;
      throw tooMany(`lookaside ${escapeControl(base)}`);
    }
    const blob = await lookasideOne(ctx, url);
    if (blob === null) return out;
    out.push(fromBlob(blob, url.href));
  }
}

/** The signature list of the API extension (c/image `extensionSignatureList`). */
const EXTENSION_LIST = T.struct({
  signatures: T.slice(T.struct({ schemaVersion: T.int, name: T.string, type: T.string, content: T.bytes })),
});

async function fromExtension(ctx: Ctx): Promise<ImageSignature[]> {
  const pathname = `/extensions/v2/${ctx.loc.path}/signatures/${ctx.digest}`;
  const what = `downloading signatures for ${ctx.digest} in ${ctx.name}`;
  const body = await retryBody(ctx.client, what, ctx.signal, async () => {
    const res = await authedPathGet(ctx.client, ctx.loc, pathname, what, {}, ctx.signal);
    if (res.statusCode !== 200) {
      throw new OcikitError('REGISTRY', `${what}: HTTP ${res.statusCode}${await registryErrorText(res)}`);
    }
    return readBody(res, MAX_SIGNATURE_SIZE, tooLarge(what));
  });
  let list: GoStruct;
  try {
    list = decodeGo(parseGoJSON(body), EXTENSION_LIST) as GoStruct;
  } catch (err) {
    throw new OcikitError('REGISTRY', `${what}: decoding signature list: ${(err as Error).message}`, { cause: err });
  }
  const entries = (list.signatures as (GoStruct | undefined)[] | undefined) ?? [];
  if (entries.length > MAX_SIGNATURES) throw tooMany(what);
  const out: ImageSignature[] = [];
  for (const [i, e] of entries.entries()) {
    if (e?.schemaVersion !== 2n || e.type !== 'atomic') continue;
    const bytes = (e.content as Uint8Array | undefined) ?? new Uint8Array();
    out.push({ kind: 'simple-signing', bytes, source: `${ctx.name} signature API extension, entry ${i + 1}` });
  }
  return out;
}

/** c/image `isManifestUnknownError` of a 404's body (docker/distribution's and registry.redhat.io's answers). */
function isManifestUnknown(body: Buffer): boolean {
  try {
    const doc = JSON.parse(body.toString('utf8')) as { errors?: { code?: unknown; message?: unknown }[] };
    const first = Array.isArray(doc.errors) ? doc.errors[0] : undefined;
    if (first !== undefined) {
      return first?.code === 'MANIFEST_UNKNOWN' || (first?.code === 'UNKNOWN' && first.message === 'Not Found');
    }
  } catch {
    // not an error document: the raw text decides
  }
  return body.includes('Not found');
}

/** The `sha256-<hex>.sig` tag of a manifest digest (c/image `sigstoreAttachmentTag`). */
export function sigstoreAttachmentTag(digest: Digest): string {
  return `${digest.replace(':', '-')}.sig`;
}

async function readResponse(res: HttpResponse, what: string): Promise<Buffer> {
  return readBody(res, MAX_SIGNATURE_SIZE, tooLarge(what));
}

async function fromAttachments(ctx: Ctx): Promise<ImageSignature[]> {
  const tag = sigstoreAttachmentTag(ctx.digest);
  const ref = `${ctx.name}:${tag}`;
  const what = `fetching sigstore attachment manifest ${ref}`;
  const got = await retryBody(ctx.client, what, ctx.signal, async () => {
    const res = await authedGet(
      ctx.client,
      ctx.loc,
      `manifests/${tag}`,
      what,
      { accept: MANIFEST_ACCEPT.join(', ') },
      ctx.signal,
    );
    if (res.statusCode === 404) {
      const body = await readResponse(res, what).catch(() => Buffer.alloc(0));
      if (isManifestUnknown(body)) return null;
      throw new OcikitError('REGISTRY', `${what}: HTTP 404, and the registry does not say the manifest is unknown`);
    }
    if (res.statusCode !== 200)
      throw new OcikitError('REGISTRY', `${what}: HTTP ${res.statusCode}${await registryErrorText(res)}`);
    const ct = res.headers['content-type'];
    return { bytes: await readResponse(res, what), contentType: typeof ct === 'string' ? ct : '' };
  });
  if (got === null) return [];
  const mime = got.contentType.split(';')[0]?.trim() ?? '';
  if (mime !== OCI_MANIFEST) {
    throw new OcikitError(
      'REGISTRY',
      `unexpected MIME type for sigstore attachment manifest ${ref}: ${escapeControl(JSON.stringify(mime))}`,
    );
  }
  const m = parseManifest(got.bytes, `sigstore attachment manifest ${ref}`);
  if (m.kind !== 'image')
    throw new OcikitError('REGISTRY', `sigstore attachment manifest ${ref} is not an image manifest`);
  if (m.layers.length > MAX_SIGNATURES) throw tooMany(`sigstore attachment manifest ${ref}`);
  const out: ImageSignature[] = [];
  for (const layer of m.layers) {
    const label = `sigstore attachment ${layer.digest} of ${ctx.name}`;
    const bwhat = `fetching ${label}`;
    const payload = await retryBody(ctx.client, bwhat, ctx.signal, async () => {
      const res = await authedGet(ctx.client, ctx.loc, `blobs/${layer.digest}`, bwhat, {}, ctx.signal);
      if (res.statusCode !== 200)
        throw new OcikitError('REGISTRY', `${bwhat}: HTTP ${res.statusCode}${await registryErrorText(res)}`);
      return readResponse(res, bwhat);
    });
    verifyBytes(payload, { digest: layer.digest, size: layer.size }, label);
    out.push({
      kind: 'sigstore',
      mimeType: layer.mediaType,
      payload,
      annotations: { ...layer.annotations },
      source: `${ref} layer ${layer.digest}`,
    });
  }
  return out;
}

/**
 * The signatures of manifest `digest` in repository `loc` (the endpoint that served the manifest),
 * in the order containers/image returns them (see the module header).
 * @throws OcikitError `REGISTRY` (a source that answers neither with signatures nor with their
 *   absence, too many or too large, the deadline), `CONFIG` (a lookaside scheme ocikit cannot
 *   read), `SIGNATURE` (a lookaside blob that is no signature), `DIGEST_MISMATCH`, `INTERRUPTED`.
 */
export async function fetchImageSignatures(
  client: RegistryClient,
  loc: RepositoryLocation,
  digest: Digest,
  where: SignatureLocations,
  signal?: AbortSignal,
  opts: FetchSignaturesOptions = {},
): Promise<ImageSignature[]> {
  const timeout = AbortSignal.timeout(opts.timeoutMs ?? DEFAULT_SIGNATURES_TIMEOUT_MS);
  const ctx: Ctx = {
    client,
    loc,
    digest,
    name: `${loc.host}/${loc.path}`,
    signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
  };
  try {
    const state = await hostState(client, loc.host, connectionOf(loc), ctx.signal);
    const out: ImageSignature[] = [];
    if (state.supportsSignatures) out.push(...(await fromExtension(ctx)));
    else if (where.lookaside !== undefined)
      out.push(...(await fromLookaside(ctx, where.lookaside, where.lookasideFrom)));
    if (where.useSigstoreAttachments) out.push(...(await fromAttachments(ctx)));
    return out;
  } catch (err) {
    if (timeout.aborted && !signal?.aborted) {
      throw new OcikitError('REGISTRY', `fetching the signatures of ${ctx.name}@${digest}: timed out`, { cause: err });
    }
    if (signal?.aborted && !isOcikitError(err, 'INTERRUPTED'))
      throw interrupted(`fetching the signatures of ${ctx.name}@${digest}`, signal);
    throw err;
  }
}
