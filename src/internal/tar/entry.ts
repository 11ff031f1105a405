/**
 * The shape of one entry of an image layer's tar stream as the byte-exact layer reader
 * (./layer-reader.ts) hands it out, and the visitor interface its consumers implement.
 *
 * Names, link targets and xattr values are raw bytes, never decoded text: Go's `archive/tar`
 * (what containers/storage and umoci read layers with) keeps them as byte strings, and a layer
 * may carry names that are not UTF-8 and binary xattr values (`security.capability`). See the
 * image-spec `layer.md` "File Attributes".
 */

/** The entry types a layer may hold (tar type flags `0`/NUL, `1`, `2`, `3`, `4`, `5`, `6`). */
export type LayerEntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'directory' | 'fifo';

/** One extended attribute of an entry, from a PAX `SCHILY.xattr.<name>` record. */
export interface LayerXattr {
  /** The attribute name's raw bytes (the record key after `SCHILY.xattr.`). */
  readonly name: Buffer;
  /** The value's raw bytes (everything between `=` and the record's final newline). */
  readonly value: Buffer;
}

/**
 * One entry, with every extension applied: USTAR `prefix`, GNU `L`/`K` long names and links,
 * PAX `x` records (`path`, `linkpath`, `size`, `uid`, `gid`, `mtime`, `atime`), GNU base-256
 * numbers, sparse files expanded to their real name and size. `g` (global) records are read
 * and ignored, as containers/storage does.
 */
export interface LayerEntry {
  /** The entry's name, raw bytes, not normalised (may start with `./` or `/`, end with `/`). */
  readonly name: Buffer;
  readonly type: LayerEntryType;
  /** A hard link's or symlink's target, raw bytes; empty for other types. */
  readonly linkname: Buffer;
  /** The 12 permission bits (07777) of the header's mode; the type bits are dropped. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Content size in bytes: the real (expanded) size of a sparse file; 0 for non-files. */
  readonly size: number;
  /** Modification time: whole seconds since the epoch (may be negative) and nanoseconds. */
  readonly mtime: { readonly sec: number; readonly nsec: number };
  /** PAX `atime` when present. */
  readonly atime?: { readonly sec: number; readonly nsec: number };
  /** Device numbers of `char` and `block` entries (0 otherwise). */
  readonly devmajor: number;
  readonly devminor: number;
  /** The entry's `SCHILY.xattr.*` records, in record order. */
  readonly xattrs: readonly LayerXattr[];
}

/**
 * What a consumer of the layer reader implements. For every entry the reader calls `entry`
 * once, then `data` for each piece of a `file`'s content in order (sparse holes as zero-filled
 * buffers), then `end`. A returned promise is awaited before the reader goes on; returning
 * nothing keeps the reader synchronous (the fast path). A `data` buffer is only valid until the
 * call (or its promise) finishes: copy it to keep it.
 */
export interface LayerVisitor {
  entry(entry: LayerEntry): void | Promise<void>;
  data(chunk: Buffer): void | Promise<void>;
  end(): void | Promise<void>;
}

/** What the reader reports once the archive is read. */
export interface LayerReadResult {
  /** Entries handed to the visitor. */
  readonly entries: number;
  /** True when the archive ended with its end-of-archive zero blocks, false at a clean EOF. */
  readonly endMarker: boolean;
}
