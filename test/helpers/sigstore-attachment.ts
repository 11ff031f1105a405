/**
 * Sigstore attachments made in the test exactly as containers/image 5.23 writes them
 * (`docker/docker_image_dest.go` `putSignaturesToSigstoreAttachments`; Debian's skopeo 1.9.3
 * cannot sign with sigstore): a P-256 key pair from node:crypto, the payload JSON of
 * `signature/internal/sigstore_payload.go`, its base64 ASN.1 ECDSA-SHA256 signature in the
 * `dev.cosignproject.cosign/signature` annotation, and an OCI manifest tagged `sha256-<hex>.sig`
 * whose layers are the payloads (`application/vnd.dev.cosign.simplesigning.v1+json`) and whose
 * config is the `imgspecv1.Image` c/image marshals — PUT to a registry with the distribution
 * API's monolithic upload.
 */
import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';

/** A sigstore signing key pair. */
export interface SigstoreKey {
  readonly privateKey: KeyObject;
  /** The public key as PEM (`PUBLIC KEY`), as a policy's `keyPath` holds it. */
  readonly publicPem: string;
}

/** A new ECDSA P-256 key pair. */
export function sigstoreKey(): SigstoreKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** The payload c/image writes (`UntrustedSigstorePayload.MarshalJSON`, Go's key order). */
export function sigstorePayload(manifestDigest: string, dockerReference: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': dockerReference },
        image: { 'docker-manifest-digest': manifestDigest },
        type: 'cosign container image signature',
      },
      optional: null,
    }),
  );
}

/** One attachment layer: a payload and its annotations. */
export interface AttachmentLayer {
  readonly payload: Buffer;
  readonly annotations: Record<string, string>;
}

/** A layer holding `payload` signed by `key` (the signature made over `signedPayload` when given: a tampered layer). */
export function signedLayer(key: SigstoreKey, payload: Buffer, signedPayload: Buffer = payload): AttachmentLayer {
  const sig = sign('sha256', signedPayload, { key: key.privateKey, dsaEncoding: 'der' }).toString('base64');
  return { payload, annotations: { 'dev.cosignproject.cosign/signature': sig } };
}

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function putBlob(origin: string, repo: string, body: Buffer): Promise<string> {
  const digest = digestOf(body);
  const start = await fetch(`${origin}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  await start.arrayBuffer();
  const location = start.headers.get('location');
  if (start.status !== 202 || location === null) throw new Error(`blob upload start: HTTP ${start.status}`);
  const url = new URL(location, origin);
  url.searchParams.set('digest', digest);
  const done = await fetch(url, {
    method: 'PUT',
    body,
    headers: { 'content-type': 'application/octet-stream' },
  });
  await done.arrayBuffer();
  if (done.status !== 201) throw new Error(`blob upload: HTTP ${done.status}`);
  return digest;
}

/**
 * Pushes the attachment of `manifestDigest` in `repo` of the plain-HTTP registry at `host`, and
 * returns the attachment manifest's bytes.
 */
export async function pushSigstoreAttachment(
  host: string,
  repo: string,
  manifestDigest: string,
  layers: readonly AttachmentLayer[],
): Promise<Buffer> {
  const origin = `http://${host}`;
  const descriptors = [];
  for (const l of layers) {
    const digest = await putBlob(origin, repo, l.payload);
    descriptors.push({
      mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
      digest,
      size: l.payload.length,
      annotations: l.annotations,
    });
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: '',
      os: '',
      config: {},
      rootfs: { type: 'layers', diff_ids: descriptors.map((d) => d.digest) },
    }),
  );
  const configDigest = await putBlob(origin, repo, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: descriptors,
    }),
  );
  const tag = `${manifestDigest.replace(':', '-')}.sig`;
  const res = await fetch(`${origin}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    body: manifest,
    headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
  });
  await res.arrayBuffer();
  if (res.status !== 201) throw new Error(`manifest upload: HTTP ${res.status}`);
  return manifest;
}
