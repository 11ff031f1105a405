/**
 * The contracts between the parts of `deploy` (an image's root filesystem applied layer by layer
 * into a tree): the tree being written (./tree.ts), the per-layer applier (./apply-layer.ts), the
 * layer stream (./layer-stream.ts) and the command (./deploy.ts). The rule numbers (R1–R45) are
 * those of docs/deploy.md.
 */
import type { Digest } from '../model/digest.js';
import type { LayerVisitor } from '../internal/tar/entry.js';

/**
 * Something a deploy did not apply exactly, reported rather than refused (an xattr the spec
 * excludes, a time truncated to microseconds, a rootless owner recorded in an xattr).
 * @category Deploy
 */
export interface DeployWarning {
  /** A stable short code, e.g. `xattr-dropped`, `xattr-unsupported`, `rootless-owner`, `trailing-data`. */
  readonly code: string;
  /** The path inside the tree it concerns (`.` for the tree itself, `` for none). */
  readonly path: string;
  /** One sentence for humans. */
  readonly detail: string;
}

/** How the tree is written. */
export interface DeployTreeOptions {
  /** R38: write as an unprivileged user, recording owners umoci's way. */
  readonly rootless: boolean;
  /** Receives each warning as it happens (deduplicated by the caller if it wants). */
  readonly warn: (w: DeployWarning) => void;
}

/**
 * The tree being written, shared by every layer of one deploy: the root, path resolution inside
 * it (R18–R21), what rootless mode recorded. Created by `openDeployTree` (./tree.ts).
 */
export interface DeployTree {
  /** The directory the layers are applied into (for an all-or-nothing deploy, the staging one). */
  readonly root: string;
  /** A new applier for the next layer (layers are applied strictly one after another, R2). */
  layer(index: number): LayerApplier;
  /**
   * R45: removes `path` (relative to the root; a leading `/` allowed, a trailing `/` ignored),
   * resolved as R18 with the final component not followed; a missing path is fine.
   * @returns whether something was removed.
   * @throws OcikitError `UNSAFE_PATH` for a `..` segment.
   */
  remove(path: string): Promise<boolean>;
  /** Called once after the last layer and the excludes (rootless: final directory modes). */
  finish(): Promise<void>;
}

/** What one applied layer did. */
export interface LayerApplyResult {
  /** Entries read from the layer (whiteouts and skipped AUFS metadata included). */
  readonly entries: number;
  /** Content bytes written. */
  readonly bytes: number;
}

/**
 * Applies one layer's entries to the tree as the layer reader hands them out, then `finish`
 * applies what has to wait for the layer's end (directory times, R37).
 */
export interface LayerApplier extends LayerVisitor {
  finish(): Promise<LayerApplyResult>;
}

/**
 * What `deploy` reports.
 * @category Deploy
 */
export interface DeploySummary {
  /** The tree deployed into (as given). */
  readonly tree: string;
  /** The image deployed. */
  readonly image: {
    /** The input's name (its `org.osbuild` name, or the source for a bare layout). */
    readonly name: string;
    /** The image ID: the digest of its config blob. */
    readonly imageId: Digest;
    /** The digest of its image manifest (the instance, for an image from a list). */
    readonly manifestDigest: Digest;
  };
  /** The layers applied, base first (R2). */
  readonly layers: readonly {
    /** The layer blob's digest. */
    readonly digest: Digest;
    /** The verified DiffID (R7). */
    readonly diffId: Digest;
    /** The media type as the manifest gives it. */
    readonly mediaType: string;
    /** What the bytes were (R4: the magic decides, not the media type). */
    readonly compression: 'gzip' | 'zstd' | 'none';
    /** Entries read from the layer. */
    readonly entries: number;
    /** Compressed bytes read. */
    readonly bytes: number;
  }[];
  /** Exclude paths that were removed (as given). */
  readonly excluded: readonly string[];
  /** Whether the tree was written rootless (R38). */
  readonly rootless: boolean;
  /** What was not applied exactly, in the order it happened. */
  readonly warnings: readonly DeployWarning[];
}
