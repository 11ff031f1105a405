/**
 * Temporary paths to remove if the process is interrupted.
 *
 * Scoped helpers ({@link withTempDir}, atomic writers) register what they create here and
 * unregister it when they clean up themselves. The CLI's signal handler calls
 * {@link removeTrackedSync} before exiting, so Ctrl-C leaves no temporary files behind. It is
 * internal (not exported from the package): a library user aborts an operation through its
 * `signal` instead, and the operation removes what it created as it unwinds.
 */
import { rmSync } from 'node:fs';

const tracked = new Set<string>();

/** Registers `p` (file or directory) for removal on interruption. */
export function trackTemp(p: string): void {
  tracked.add(p);
}

/** Forgets `p` (it was cleaned up, or renamed into place). */
export function untrackTemp(p: string): void {
  tracked.delete(p);
}

/** Removes every tracked path, synchronously (safe in a signal handler). Returns how many. */
export function removeTrackedSync(): number {
  let n = 0;
  for (const p of [...tracked].reverse()) {
    try {
      rmSync(p, { recursive: true, force: true });
      n++;
    } catch {
      // best effort: the process is exiting
    }
    tracked.delete(p);
  }
  return n;
}
