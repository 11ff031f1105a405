/**
 * Mount points: which directories are mounted (read from `/proc/self/mountinfo`, see proc(5)) and
 * undoing a mount with `umount --lazy` (umount(8)).
 *
 * Opening an overlay store makes containers/storage bind-mount `<graphroot>/overlay` onto itself
 * (`drivers/overlay/overlay.go`) and leave the mount in place when the process exits; whoever made
 * a store inside a build tree undoes it, as osbuild's `org.osbuild.skopeo` stage does.
 */
import * as fs from 'node:fs/promises';
import { runTool } from '../internal/exec.js';

/** Undoes the octal escapes mountinfo uses for space, tab, newline and backslash (`\040`, …). */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * The mount points listed in a `/proc/self/mountinfo` text (field 5 of each line, unescaped).
 */
export function mountPoints(mountinfo: string): string[] {
  const out: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const field = line.split(' ')[4];
    if (field) out.push(unescapeMountField(field));
  }
  return out;
}

/**
 * Lazily unmounts `dir` if it is a mount point of this process's mount namespace. Does nothing
 * when mountinfo cannot be read (not Linux, no /proc).
 * @throws OcikitError `TOOL_FAILED` or `NOT_FOUND` when `umount` fails or is missing.
 */
export async function unmountIfMounted(dir: string): Promise<void> {
  let info: string;
  try {
    info = await fs.readFile('/proc/self/mountinfo', 'utf8');
  } catch {
    return;
  }
  const real = await fs.realpath(dir).catch(() => dir);
  if (mountPoints(info).includes(real)) await runTool(['umount', '--lazy', real]);
}
