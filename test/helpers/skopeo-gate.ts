/**
 * A skopeo wrapper that fixes the order of concurrent `skopeo copy` runs, for tests of install's
 * bounded concurrency. Every copy is told apart by the tag of its destination image (the last
 * path component of the name, without `:latest`: `localhost/i0:latest` → `i0`). The wrapper
 * writes `<tag>.start` when it begins, waits (bounded: 20 s) until the file named in
 * `<tag>.wait`, if any, exists, runs the real skopeo, then writes `<tag>.end` (exit 0) or
 * `<tag>.fail`; it also appends `start TAG` / `end TAG` / `fail TAG` lines to `log`. Other
 * subcommands pass straight through.
 */
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The wrapper and its marker directory. */
export interface SkopeoGate {
  /** The wrapper script (give it as `skopeo.binary`). */
  readonly binary: string;
  /** The directory of the markers. */
  readonly dir: string;
  /** Makes the copy of `tag` wait until `marker` (e.g. `i1.end`) exists. */
  waitFor(tag: string, marker: string): Promise<void>;
  /** The lines of the log so far. */
  log(): Promise<string[]>;
}

/** Writes the wrapper into `dir` (which must exist), running the skopeo found on PATH. */
export async function makeSkopeoGate(dir: string): Promise<SkopeoGate> {
  const binary = join(dir, 'skopeo-gate');
  const logFile = join(dir, 'log');
  await writeFile(logFile, '');
  const script = `#!/bin/sh
D='${dir}'
is_copy=no
for a in "$@"; do [ "$a" = copy ] && is_copy=yes; last="$a"; done
[ "$is_copy" = yes ] || exec skopeo "$@"
tag="\${last##*/}"
tag="\${tag%:latest}"
echo "start $tag" >> "$D/log"
: > "$D/$tag.start"
if [ -f "$D/$tag.wait" ]; then
  want="$(cat "$D/$tag.wait")"
  i=0
  while [ ! -e "$D/$want" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done
fi
skopeo "$@"
rc=$?
if [ $rc -eq 0 ]; then echo "end $tag" >> "$D/log"; : > "$D/$tag.end"; else echo "fail $tag" >> "$D/log"; : > "$D/$tag.fail"; fi
exit $rc
`;
  await writeFile(binary, script);
  await chmod(binary, 0o755);
  return {
    binary,
    dir,
    waitFor: (tag, marker) => writeFile(join(dir, `${tag}.wait`), marker),
    log: async () => (await readFile(logFile, 'utf8')).split('\n').filter(Boolean),
  };
}
