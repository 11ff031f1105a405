/**
 * Writing an OCI image layout (image-spec `image-layout.md`) the way skopeo 1.9.3's `oci:`
 * destination lays it out (containers/image `oci/layout/oci_dest.go`): content-addressed
 * `blobs/sha256/<hex>`, the `oci-layout` file, and `index.json` naming every image by its
 * `org.opencontainers.image.ref.name` annotation. `read.ts` beside it reads such a layout; the
 * oci-archive writer reuses {@link ociIndexJson} for the `index.json` inside an archive.
 *
 * The writer fills a directory nobody else sees yet (a temporary sibling); making it visible is the
 * caller's job, through `internal/publish.ts`.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fromSystemError } from '../../errors.js';
import { writeNewFile } from '../../internal/fs.js';
import type { Digest } from '../../model/digest.js';
import { goJsonString } from '../../gojson/encode.js';
import { OCI_LAYOUT_FILE, REF_NAME_ANNOTATION, ociBlobPath } from './read.js';

/** One image of `index.json`: its manifest descriptor and the name it is found by. */
export interface OciIndexEntry {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  /** The `org.opencontainers.image.ref.name` annotation (e.g. `localhost/foo:latest`). */
  readonly refName: string;
}

/**
 * The bytes of `index.json` for `entries`, in order: compact JSON with `schemaVersion` and
 * `manifests` only (no top-level `mediaType`), each descriptor with `mediaType`, `digest`, `size`
 * and the ref-name annotation, strings escaped as Go's `encoding/json` escapes them — what skopeo
 * 1.9.3 writes.
 */
export function ociIndexJson(entries: readonly OciIndexEntry[]): Buffer {
  const manifests = entries.map(
    (e) =>
      `{"mediaType":${goJsonString(e.mediaType)},"digest":"${e.digest}","size":${e.size},` +
      `"annotations":{${goJsonString(REF_NAME_ANNOTATION)}:${goJsonString(e.refName)}}}`,
  );
  return Buffer.from(`{"schemaVersion":2,"manifests":[${manifests.join(',')}]}`, 'utf8');
}

/**
 * Creates the empty layout directory `dir` with `blobs/sha256/` (mode 0755). Its parent must
 * exist; `dir` must not.
 * @throws OcikitError `NOT_FOUND`, `IO`.
 */
export async function createOciLayout(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { mode: 0o755 });
    await fs.mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true, mode: 0o755 });
  } catch (err) {
    throw fromSystemError(err, 'creating', dir);
  }
}

/**
 * Creates the blob file for `digest` in the layout `dir` and lets `fill` write it (the caller
 * verifies what it writes).
 * @throws OcikitError `IO`; and what `fill` throws.
 */
export async function writeOciBlob(
  dir: string,
  digest: Digest,
  fill: (fh: fs.FileHandle) => Promise<unknown>,
): Promise<void> {
  await writeNewFile(ociBlobPath(dir, digest), fill);
}

/**
 * Writes `oci-layout` and `index.json` (listing `entries`) into the layout `dir`. The blobs must
 * be in place already.
 * @throws OcikitError `IO`.
 */
export async function finishOciLayout(dir: string, entries: readonly OciIndexEntry[]): Promise<void> {
  await writeNewFile(path.join(dir, 'oci-layout'), (fh) => fh.writeFile(OCI_LAYOUT_FILE));
  await writeNewFile(path.join(dir, 'index.json'), (fh) => fh.writeFile(ociIndexJson(entries)));
}
