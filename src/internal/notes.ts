/**
 * One-time notes about the environment (a missing helper tool, a weaker fallback): not errors, but
 * worth one line. The library hands them to `process.emitWarning` unless a handler is set; the CLI
 * sets one that prints `ocikit: note: …` on stderr.
 */

let handler: (message: string) => void = (message) => process.emitWarning(message, 'OcikitNote');
const given = new Set<string>();

/** Passes `message` to the note handler, once per process. */
export function note(message: string): void {
  if (given.has(message)) return;
  given.add(message);
  handler(message);
}

/** Sets where notes go. */
export function setNoteHandler(fn: (message: string) => void): void {
  handler = fn;
}
