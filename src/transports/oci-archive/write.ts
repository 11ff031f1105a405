/**
 * Writing an `oci-archive:`: an OCI image layout as one uncompressed tar, byte for byte what
 * skopeo 1.9.3 writes (containers/image `oci/archive/oci_dest.go`, which tars the layout through
 * c/storage's `archive.TarWithOptions`) except for the timestamps, and deterministic: the same
 * images give the same archive. The entries and their order are in the TSDoc of
 * {@link planOciArchive}, how they are written at {@link writeOciArchive}.
 *
 * The file is a new one nobody else sees yet (a temporary sibling); publishing it is the caller's
 * job, through `internal/publish.ts`.
 */
import type { FileHandle } from 'node:fs/promises';
import { writeAll, writeNewFile } from '../../internal/fs.js';
import { runPool } from '../../internal/pool.js';
import { TAR_BLOCK, TAR_END, tarPadding, ustarHeader, type TarHeader } from '../../internal/tar/ustar.js';
import { digestHex } from '../../model/digest.js';
import type { BlobExpectation } from '../../model/verify.js';
import { OCI_LAYOUT_FILE } from '../oci/read.js';
import { type OciIndexEntry, ociIndexJson } from '../oci/write.js';

/** One entry of the archive at its offset: its header, and its content when it is small and known. */
export interface PlacedEntry<B> {
  /** Offset of the header; the content follows at `at + TAR_BLOCK`. */
  readonly at: number;
  readonly header: Buffer;
  readonly size: number;
  readonly content: Buffer | B | undefined;
}

/** Where everything goes in the archive. */
export interface OciArchivePlan<B extends BlobExpectation> {
  readonly entries: readonly PlacedEntry<B>[];
  /** Offset of the end-of-archive blocks. */
  readonly end: number;
}

/** Options of {@link writeOciArchive}. */
export interface OciArchiveWriteOptions {
  /** Blobs copied at the same time (default 4). */
  readonly concurrency?: number | undefined;
}

function header(name: string, type: TarHeader['type'], size: number): TarHeader {
  return { name, type, size, mode: type === 'dir' ? 0o755 : 0o644, mtime: 0 };
}

/**
 * Lays out the archive of a layout holding `blobs` (each once) and listing `index`: the offset and
 * header of every entry, from the sizes alone, before any blob is read. Entries, in this order:
 * `blobs/`, `blobs/sha256/`, the blobs sorted by digest, `index.json`, `oci-layout`; USTAR headers
 * as Go's `archive/tar` writes them, mtime 0, uid/gid 0, owner `root`, modes 0755/0644; then the
 * two zero blocks that end an archive.
 * @throws OcikitError `UNSUPPORTED` when a size does not fit a USTAR header.
 */
export function planOciArchive<B extends BlobExpectation>(
  blobs: readonly B[],
  index: readonly OciIndexEntry[],
): OciArchivePlan<B> {
  const sorted = [...blobs].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  const indexJson = ociIndexJson(index);
  const layoutFile = Buffer.from(OCI_LAYOUT_FILE);
  const entries: PlacedEntry<B>[] = [];
  let at = 0;
  const place = (h: TarHeader, content?: Buffer | B) => {
    entries.push({ at, header: ustarHeader(h), size: h.size, content });
    at += TAR_BLOCK + h.size + tarPadding(h.size).length;
  };
  place(header('blobs/', 'dir', 0));
  place(header('blobs/sha256/', 'dir', 0));
  for (const b of sorted) place(header(`blobs/sha256/${digestHex(b.digest)}`, 'file', b.size), b);
  place(header('index.json', 'file', indexJson.length), indexJson);
  place(header('oci-layout', 'file', layoutFile.length), layoutFile);
  return { entries, end: at };
}

/**
 * Writes the archive of `blobs` and `index` (laid out by {@link planOciArchive}) as the new file
 * `file`: headers, padding and the small files at their offsets, then the blobs straight into
 * their places, several at a time, by `copy`, which writes one blob's bytes into the open archive
 * at the given offset and must fail unless they are the blob's declared bytes.
 * @throws OcikitError `UNSUPPORTED` (a size USTAR cannot carry), `IO`; and what `copy` throws.
 */
export async function writeOciArchive<B extends BlobExpectation>(
  file: string,
  blobs: readonly B[],
  index: readonly OciIndexEntry[],
  copy: (blob: B, out: FileHandle, offset: number) => Promise<void>,
  opts: OciArchiveWriteOptions = {},
): Promise<void> {
  const plan = planOciArchive(blobs, index);
  await writeNewFile(file, async (fh) => {
    const copies: { blob: B; offset: number }[] = [];
    for (const e of plan.entries) {
      await writeAll(fh, e.header, e.at);
      const pad = tarPadding(e.size);
      if (pad.length > 0) await writeAll(fh, pad, e.at + TAR_BLOCK + e.size);
      if (Buffer.isBuffer(e.content)) await writeAll(fh, e.content, e.at + TAR_BLOCK);
      else if (e.content !== undefined) copies.push({ blob: e.content, offset: e.at + TAR_BLOCK });
    }
    // Large blobs first, so the slowest copy starts earliest.
    copies.sort((a, b) => b.blob.size - a.blob.size);
    await runPool(
      copies.map((c) => () => copy(c.blob, fh, c.offset)),
      opts.concurrency ?? 4,
    );
    await writeAll(fh, TAR_END, plan.end);
  });
}
