/** Hand-made tar archives for the archive tests, hostile entries included. */
import { writeFile } from 'node:fs/promises';
import tar from 'tar-stream';

/** One entry of {@link makeArchive}: a file by default. */
export type Entry = {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'fifo';
  body?: string;
  linkname?: string;
};

/** Writes a plain tar of `entries`, in order, to `file`. */
export async function makeArchive(file: string, entries: readonly Entry[]): Promise<void> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((res) => pack.on('end', () => res()));
  for (const e of entries) {
    const body = e.body ?? '';
    const header = {
      name: e.name,
      type: e.type ?? 'file',
      size: e.type && e.type !== 'file' ? 0 : body.length,
      linkname: e.linkname ?? '',
      mode: 0o644,
    } as const;
    if (e.type && e.type !== 'file') pack.entry(header);
    else pack.entry(header, body);
  }
  pack.finalize();
  await done;
  await writeFile(file, Buffer.concat(chunks));
}
