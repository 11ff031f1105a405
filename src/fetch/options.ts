/**
 * The public types of `fetch` (`fetch.ts`): its options, its result and its progress events. They
 * live apart from the fetch itself so that the run's code stays readable; `fetch.ts` re-exports
 * them.
 */
import type { Digest } from '../model/digest.js';
import type { FetchItem } from '../osbuild/sources.js';
import type { LowSpeedLimit, RetryPolicy } from '../registry/client.js';
import type { LocalStoreOptions } from './local.js';
import type { TrustOptions } from './trust.js';

/**
 * What happened to one item.
 * @category Fetch
 */
export interface FetchItemSummary {
  /** The item key: the image ID for images and local items, the list digest for lists. */
  readonly id: Digest;
  /** The kind of item: `image` (registry), `list` (registry manifest list) or `local` (host store). */
  readonly kind: FetchItem['kind'];
  /** The image name as the sources gave it (empty for `org.osbuild.containers-storage` items). */
  readonly name: string;
  /** The manifest digest (the list digest for lists); null for local items without one. */
  readonly digest: Digest | null;
  /** `cached`: already in the cache; `fetched`: downloaded now; `verified`: local image checked. */
  readonly status: 'cached' | 'fetched' | 'verified';
  /** Bytes this run downloaded for the item (0 when cached or local; a shared blob counts once). */
  readonly bytes: number;
}

/**
 * The result of {@link fetch}.
 * @category Fetch
 */
export interface FetchResult {
  /** One summary per item, in source order (images, lists, local store items). */
  readonly items: readonly FetchItemSummary[];
  /** Bytes downloaded in total. */
  readonly downloadedBytes: number;
}

/**
 * Progress events (the library never prints; the CLI draws these on a terminal). `type` tells
 * them apart; `id` is the item key ({@link FetchItemSummary.id}).
 * @category Fetch
 */
export type FetchProgress =
  | {
      /** An item to download starts (once per item; cached items send no events at all). */
      readonly type: 'start';
      /** The item key. */
      readonly id: Digest;
      /** The kind of item. */
      readonly kind: FetchItem['kind'];
      /** The image name as the sources gave it. */
      readonly name: string;
    }
  | {
      /** The image will download `bytes` more bytes (sent once its manifest is known; lists send none). */
      readonly type: 'size';
      /** The item key. */
      readonly id: Digest;
      /** Bytes still to download for the item (blobs shared with an earlier item count there). */
      readonly bytes: number;
    }
  | {
      /** More bytes arrived for the item. */
      readonly type: 'bytes';
      /** The item key. */
      readonly id: Digest;
      /** How many bytes arrived since the previous `bytes` event of the item (a delta, not a total). */
      readonly bytes: number;
    }
  | {
      /** An item is finished: downloaded and published, or (local items) verified in the host store. */
      readonly type: 'done';
      /** What happened to it (the same object {@link FetchResult.items} holds). */
      readonly item: FetchItemSummary;
    };

/**
 * Options of {@link fetch}.
 * @category Fetch
 */
export interface FetchOptions extends LocalStoreOptions, TrustOptions {
  /** Parallel downloads (blobs and manifests), default 4. */
  readonly jobs?: number | undefined;
  /** Aborts the fetch: it then rejects with `INTERRUPTED` after removing its staging directory. */
  readonly signal?: AbortSignal | undefined;
  /** Called for every progress event (sizes, bytes, items done); must not throw. */
  readonly onProgress?: ((event: FetchProgress) => void) | undefined;
  /** An auth file to use instead of the standard lookup (skopeo's `--authfile`). */
  readonly authFile?: string | undefined;
  /**
   * A registries.conf to read instead of the per-user or system file (skopeo's
   * `--registries-conf`); it must exist; the drop-in directories are still read.
   */
  readonly registriesConf?: string | undefined;
  /**
   * The environment: `HOME` and the other variables of auth-file, registries.conf, certs.d and
   * storage.conf lookup, the system trust store (`SSL_CERT_FILE`, `SSL_CERT_DIR`) and the proxy
   * variables (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`, lower-case forms; docs/proxies.md);
   * default `process.env`.
   */
  readonly env?: NodeJS.ProcessEnv | undefined;
  /**
   * A certificate directory used for every registry instead of certs.d (skopeo's `--cert-dir`):
   * its `*.crt` are extra CAs, its `NAME.cert` + `NAME.key` a client certificate (docs/tls.md).
   */
  readonly certDir?: string | undefined;
  /** Retry policy for registry requests. */
  readonly retry?: Partial<RetryPolicy> | undefined;
  /**
   * The low-speed limit of registry requests (curl's `--speed-limit`/`--speed-time`): an attempt
   * whose transfer stays below `bytesPerSecond` for `seconds` is aborted and retried under
   * `retry`; default 1024 bytes/s for 30 s; `bytesPerSecond: 0` turns it off.
   */
  readonly lowSpeed?: Partial<LowSpeedLimit> | undefined;
}

/** The default number of parallel downloads. */
export const DEFAULT_JOBS = 4;
