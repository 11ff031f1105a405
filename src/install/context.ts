/**
 * What the install paths share: the one context an install runs with (built once from the
 * request, then handed down instead of the request and its optional fields one by one), the
 * progress and result types every path reports in. What a failed install removes (only what it
 * created, `internal/dir-handle.ts`) is the destinations' own business.
 */
import type { SkopeoOptions } from '../tools/skopeo.js';

/**
 * Progress of one image.
 * @category Install
 */
export interface InstallProgress {
  /** Zero-based position of the image in the install. */
  readonly index: number;
  /** How many images the install copies in all. */
  readonly count: number;
  /** The image name from the input. */
  readonly name: string;
  /** `start` once, `progress` any number of times, `done` once. */
  readonly phase: 'start' | 'progress' | 'done';
  /** Bytes copied so far (always 0 for skopeo copies, which report no byte counts). */
  readonly bytes: number;
  /** Bytes to copy in all, or null when unknown (skopeo copies). */
  readonly total: number | null;
  /** For skopeo copies: the latest line skopeo wrote (its step report, or a warning). */
  readonly status?: string;
}

/**
 * One installed image.
 * @category Install
 */
export interface InstalledImageSummary {
  /** The image name from the input (`data.name`), as installed. */
  readonly name: string;
  /** The image ID: the digest of the config blob. */
  readonly imageId: string;
  /** The digest of the image manifest written. */
  readonly manifestDigest: string;
  /** The manifest list digest recorded with the image at the destination, or null. */
  readonly listDigest: string | null;
  /** The reference the image was written to (`containers-storage:[…]NAME`, `oci:PATH:REF`, …). */
  readonly destination: string;
}

/** The settings one install runs with, every default filled in. */
export interface InstallContext {
  /** Aborts the install (`INTERRUPTED`). */
  readonly signal: AbortSignal | undefined;
  /** Where temporary directories go (undefined: each user's default). */
  readonly tmpdir: string | undefined;
  /** The run root of the stores (absolute). */
  readonly runroot: string;
  readonly removeSignatures: boolean;
  /** How to run skopeo (the binary; the install's signal). */
  readonly skopeo: SkopeoOptions;
  readonly onProgress: ((event: InstallProgress) => void) | undefined;
  /** containers-storage: how many skopeo copies run at once (undefined: one after another). */
  readonly jobs?: number | undefined;
  /** oci and dir: hard-link input blob files where possible (`InstallRequest.linkInputs`). */
  readonly linkInputs?: boolean | undefined;
}
