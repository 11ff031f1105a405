/**
 * Properties of the tar code (src/internal/tar): a header written by the USTAR writer
 * (`ustar.ts`) reads back through the archive reader (`read.ts`) with its name, size, mode, type,
 * owner and time, and the content after it; the reader throws only OcikitErrors on arbitrary bytes.
 */
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { readTarEntries } from '../../src/internal/tar/read.js';
import { TAR_END, type TarHeader, tarPadding, ustarHeader } from '../../src/internal/tar/ustar.js';
import { onlyOcikitErrorsAsync, params } from './params.js';

const dir = mkdtempSync(join(tmpdir(), 'ocikit-prop-tar-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshFile = (bytes: Buffer): string => {
  const file = join(dir, `a${n++}.tar`);
  writeFileSync(file, bytes);
  return file;
};

const utf8 = (s: string) => Buffer.byteLength(s, 'utf8');
/** Names USTAR holds without a prefix: 1–100 UTF-8 bytes, no NUL; a directory's ends with `/`. */
const baseName = fc
  .oneof(
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }),
    fc.array(fc.stringMatching(/^[a-zA-Z0-9._-]{1,12}$/), { minLength: 1, maxLength: 8 }).map((p) => p.join('/')),
    fc.string({ unit: 'grapheme-ascii', minLength: 90, maxLength: 100 }),
  )
  .filter((s) => !s.includes('\0') && !s.endsWith('/'));
const octalMax = (digits: number) => 8 ** digits - 1;

const entry = fc
  .record({
    type: fc.constantFrom<TarHeader['type']>('file', 'dir'),
    name: baseName,
    size: fc.nat(3000),
    mode: fc.nat(0o7777),
    mtime: fc.oneof(fc.nat(2 ** 31), fc.nat(octalMax(11))),
    uid: fc.nat(octalMax(7)),
    gid: fc.nat(octalMax(7)),
    uname: fc.stringMatching(/^[a-z_][a-z0-9_-]{0,31}$/),
    gname: fc.stringMatching(/^[a-z_][a-z0-9_-]{0,31}$/),
    fill: fc.nat(255),
  })
  .map((e) => ({ ...e, name: e.type === 'dir' ? `${e.name}/` : e.name, size: e.type === 'dir' ? 0 : e.size }))
  .filter((e) => utf8(e.name) <= 100);

describe('tar properties', () => {
  it('USTAR headers written by ustar.ts read back through read.ts', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 4 }), async (entries) => {
        const parts: Buffer[] = [];
        for (const e of entries) {
          parts.push(ustarHeader(e), Buffer.alloc(e.size, e.fill), tarPadding(e.size));
        }
        parts.push(TAR_END);
        const got: { name: string; size: number; mode: number; type: string; rest: unknown[]; body: Buffer }[] = [];
        await readTarEntries(freshFile(Buffer.concat(parts)), async (h, body) => {
          const chunks: Buffer[] = [];
          for await (const c of body) chunks.push(c);
          got.push({
            name: h.name,
            size: h.size ?? -1,
            mode: (h.mode ?? -1) & 0o7777,
            type: h.type ?? '',
            rest: [(h.mtime?.getTime() ?? -1) / 1000, h.uid, h.gid, h.uname, h.gname],
            body: Buffer.concat(chunks),
          });
        });
        assert.deepEqual(
          got,
          entries.map((e) => ({
            name: e.name,
            size: e.size,
            mode: e.mode,
            type: e.type === 'dir' ? 'directory' : 'file',
            rest: [e.mtime, e.uid, e.gid, e.uname, e.gname],
            body: Buffer.alloc(e.size, e.fill),
          })),
        );
      }),
      params(150),
    );
  });

  it('reading arbitrary or damaged bytes as a tar throws only OcikitErrors', async () => {
    const damaged = fc.tuple(entry, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([e, at, bytes]) => {
      const b = Buffer.concat([ustarHeader(e), Buffer.alloc(e.size, e.fill), tarPadding(e.size), TAR_END]);
      Buffer.from(bytes).copy(b, at % b.length);
      return b;
    });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          damaged,
          fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b)),
        ),
        async (bytes) => onlyOcikitErrorsAsync(() => readTarEntries(freshFile(bytes), async () => {})),
      ),
      params(150),
    );
  });
});
