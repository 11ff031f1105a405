/**
 * The terminal progress displays of the CLI, drawn on stderr only when it is a terminal (`isTTY`);
 * on anything else a renderer writes nothing, so logs and pipes stay clean. Both use only `\r`,
 * erase-line and cursor-up escapes, and share one byte formatter and one line-width rule. What each
 * display shows is in the TSDoc of {@link createProgressRenderer} (`ocikit install`) and
 * {@link createFetchProgressRenderer} (`ocikit fetch`); see also docs/install.md.
 */
import type { FetchProgress } from '../fetch/fetch.js';
import type { InstallProgress } from '../install/install.js';

/** A stream the renderer may draw on. */
export interface ProgressStream {
  write(chunk: string): unknown;
  readonly isTTY?: boolean | undefined;
  readonly columns?: number | undefined;
}

/** What {@link createProgressRenderer} and {@link createFetchProgressRenderer} return. */
export interface ProgressRenderer<E = InstallProgress> {
  /** Feed a progress event. */
  readonly onProgress: (event: E) => void;
  /** Erases the lines of images still in flight (after an error or interrupt). Idempotent. */
  finish(): void;
}

/** Options of {@link createProgressRenderer} (injectable for tests). */
export interface RendererOptions {
  /** Clock in milliseconds (default `Date.now`). */
  readonly now?: () => number;
  /** Minimum milliseconds between redraws of in-flight lines (default 100). */
  readonly interval?: number;
  /**
   * Milliseconds between redraws while images are in flight but silent, so elapsed time and
   * rates keep moving (default 500; 0 disables the timer).
   */
  readonly tick?: number;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** `1536` → `1.5 KiB`: binary units, one decimal from KiB up. */
export function formatBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${UNITS[u]}`;
}

/** Seconds → `0:07`, `12:34`, `1:02:03`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

interface Active {
  readonly index: number;
  readonly count: number;
  readonly name: string;
  readonly started: number;
  bytes: number;
  total: number | null;
  status: string;
}

/** The text of an in-flight line. */
function lineFor(a: Active, now: number): string {
  const elapsed = (now - a.started) / 1000;
  const head = `[${a.index + 1}/${a.count}] ${a.name}`;
  if (a.total === null) {
    return `${head}  ${formatDuration(elapsed)}${a.status ? `  ${a.status}` : ''}`;
  }
  const rate = elapsed > 0 ? a.bytes / elapsed : 0;
  const pct = a.total > 0 ? Math.floor((a.bytes / a.total) * 100) : 100;
  const left = rate > 0 ? `${formatDuration((a.total - a.bytes) / rate)} left` : '--:-- left';
  return `${head}  ${formatBytes(a.bytes)} / ${formatBytes(a.total)}  ${pct}%  ${formatBytes(rate)}/s  ${left}${a.status ? `  ${a.status}` : ''}`;
}

/** The text of a finished image's line. */
function doneLine(a: Active, now: number): string {
  const elapsed = (now - a.started) / 1000;
  const head = `[${a.index + 1}/${a.count}] ${a.name}`;
  if (a.total === null) return `${head}  done in ${formatDuration(elapsed)}`;
  const rate = elapsed > 0 ? ` (${formatBytes(a.bytes / elapsed)}/s)` : '';
  return `${head}  ${formatBytes(a.bytes)} in ${formatDuration(elapsed)}${rate}`;
}

/** The characters a line may use without wrapping: one less than the terminal's width. */
function lineWidth(columns: number | undefined): number {
  // A pseudo-terminal may report 0 columns: then assume the classic 80.
  return (columns !== undefined && columns >= 20 ? columns : 80) - 1;
}

function fit(text: string, columns: number | undefined): string {
  const max = lineWidth(columns);
  return text.length > max ? `${text.slice(0, Math.max(0, max - 1))}…` : text;
}

/**
 * Creates the `ocikit install` renderer drawing on `stream`; a no-op when `stream` is not a
 * terminal. One line per image being copied, redrawn in place (at most ten times a second on
 * events, every half second while nothing is reported), and a final line per finished image:
 * - native copies report bytes: the line shows bytes copied / total, percent, the average rate
 *   since the image started, and the time left at that rate;
 * - skopeo copies (containers-storage) report no byte counts: the line is indeterminate — elapsed
 *   time and the latest line skopeo wrote to stderr, if any (nothing is parsed from it).
 */
export function createProgressRenderer(stream: ProgressStream, opts: RendererOptions = {}): ProgressRenderer {
  if (!stream.isTTY) return { onProgress: () => undefined, finish: () => undefined };
  const now = opts.now ?? Date.now;
  const interval = opts.interval ?? 100;
  const tick = opts.tick ?? 500;
  const active = new Map<number, Active>();
  let timer: ReturnType<typeof setInterval> | undefined;
  const setTimer = () => {
    if (active.size > 0 && timer === undefined && tick > 0) {
      timer = setInterval(() => draw(), tick);
      timer.unref();
    } else if (active.size === 0 && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  };
  let drawn = 0; // lines of the in-flight block currently on screen
  let lastDraw = -Infinity;

  const erase = (): string => {
    if (drawn === 0) return '';
    let s = '';
    for (let i = 0; i < drawn; i++) s += i === 0 ? '\r\x1b[2K' : '\x1b[1A\r\x1b[2K';
    drawn = 0;
    return s;
  };
  const draw = (above: string[] = []): void => {
    const t = now();
    let out = erase();
    for (const l of above) out += `${fit(l, stream.columns)}\n`;
    const lines = [...active.values()].sort((a, b) => a.index - b.index).map((a) => fit(lineFor(a, t), stream.columns));
    out += lines.join('\n');
    drawn = lines.length;
    lastDraw = t;
    if (out) stream.write(out);
  };

  return {
    onProgress(e) {
      const t = now();
      let a = active.get(e.index);
      if (!a) {
        a = { index: e.index, count: e.count, name: e.name, started: t, bytes: 0, total: null, status: '' };
        active.set(e.index, a);
      }
      a.bytes = e.bytes;
      a.total = e.total;
      if (e.status !== undefined) a.status = e.status;
      if (e.phase === 'done') {
        active.delete(e.index);
        draw([doneLine(a, t)]);
      } else if (e.phase === 'start' || t - lastDraw >= interval) {
        draw();
      }
      setTimer();
    },
    finish() {
      active.clear();
      setTimer();
      const s = erase();
      if (s) stream.write(s);
    },
  };
}

/**
 * Creates the `ocikit fetch` renderer drawing on `stream`; a no-op when `stream` is not a
 * terminal. One status line for the whole run (items done / started, bytes received of the sizes
 * known so far, percent), redrawn at most ten times a second on byte counts, and a line per
 * finished item above it. Only `now` and `interval` of `opts` apply (the status line moves only on
 * events).
 */
export function createFetchProgressRenderer(
  stream: ProgressStream,
  opts: RendererOptions = {},
): ProgressRenderer<FetchProgress> {
  if (!stream.isTTY) return { onProgress: () => undefined, finish: () => undefined };
  const now = opts.now ?? Date.now;
  const interval = opts.interval ?? 100;
  let total = 0;
  let received = 0;
  let items = 0;
  let done = 0;
  let drawn = false;
  let lastDraw = -Infinity;
  const draw = (force: boolean): void => {
    const t = now();
    if (!force && t - lastDraw < interval) return;
    lastDraw = t;
    drawn = true;
    const max = lineWidth(stream.columns);
    const pct = total > 0 ? ` ${Math.min(100, Math.floor((received / total) * 100))}%` : '';
    const of = total > 0 ? ` of ${formatBytes(total)}` : '';
    const line = `fetch: ${done}/${items} items, ${formatBytes(received)}${of}${pct}`;
    stream.write(`\r${line.slice(0, max).padEnd(Math.min(max, 60))}`);
  };
  return {
    onProgress(e) {
      if (e.type === 'start') items++;
      else if (e.type === 'size') total += e.bytes;
      else if (e.type === 'bytes') received += e.bytes;
      else {
        if (e.item.kind === 'local') items++;
        done++;
        stream.write(`\r\x1b[K${e.item.status} ${e.item.kind} ${e.item.name || e.item.id} ${e.item.id}\n`);
      }
      draw(e.type !== 'bytes');
    },
    finish() {
      if (drawn) stream.write('\r\x1b[K');
      drawn = false;
    },
  };
}
