/**
 * Hashing on spare cores. Node's hashing is synchronous and one sha256 stream keeps one core
 * busy, so several large blobs are verified in parallel only on several threads. Two kinds of job,
 * each on an open descriptor:
 *
 * - {@link FileHashJob}: the sha256 of a complete file (a blob that the install placed by a
 *   reflink or a hard link, install/place-blob.ts, and must now verify), on the main thread or
 *   on one of the workers, whichever is free first;
 * - {@link FileCopyJob}: a verified copy (install/copy-blob.ts): read, hash and write in one
 *   synchronous loop on one worker, each chunk still in that core's cache when it is hashed and
 *   written, the bytes hashed being the bytes written. On the main thread only when no worker is
 *   left.
 *
 * A worker uses the very descriptors the main thread opened (descriptors belong to the process,
 * not the thread); a cancel flag is shared memory (`SharedArrayBuffer`). The descriptors' owner
 * closes them only after the job's promise settles, so no worker touches a closed or reused
 * descriptor. Idle workers do not keep the process alive.
 *
 * Sources: Node's worker_threads (`eval` workers, `ref`/`unref`), `Atomics` (ECMA-262), and
 * `os.availableParallelism` (nodejs.org/api).
 */
import { createHash } from 'node:crypto';
import { readSync, writeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { OcikitError, throwIfInterrupted } from '../errors.js';

/** What a finished job read: the sha256 (hex) and the byte count of what it hashed. */
export interface HashResult {
  readonly hex: string;
  readonly bytes: number;
}

/** Bytes read per step; a job reports progress every {@link PROGRESS_EVERY} bytes. */
const CHUNK = 1024 * 1024;
const PROGRESS_EVERY = 8 * 1024 * 1024;

/** One file being hashed. */
export class FileHashJob {
  readonly #cancel = new Int32Array(new SharedArrayBuffer(4));
  /** Settles once no thread reads the descriptor any more: the digest, or undefined if cancelled. */
  readonly result: Promise<HashResult | undefined>;

  /**
   * Queues the job: hash the open descriptor `fd` from offset 0 to its end, but at most `limit`
   * bytes, calling `onBytes` with the bytes hashed since its last call.
   */
  constructor(fd: number, limit: number, onBytes?: (n: number) => void) {
    this.result = schedule({ fd, out: -1, at: 0, limit, cancel: this.#cancel, onBytes });
  }

  /** Stop early; {@link result} then settles with undefined (or the digest, if it was done). */
  cancel(): void {
    Atomics.store(this.#cancel, 0, 1);
  }
}

/**
 * One file being copied and hashed on a worker. A failed read or write rejects with the system
 * error, its `syscall` saying which (`read`, `write`).
 */
export class FileCopyJob {
  readonly #cancel = new Int32Array(new SharedArrayBuffer(4));
  /** Settles once no thread uses the descriptors any more: the digest, or undefined if cancelled. */
  readonly result: Promise<HashResult | undefined>;

  /**
   * Queues the job: copy the open descriptor `fd` from offset 0, at most `limit` bytes, into the
   * open descriptor `out` at offset `at`, hashing what is copied; `onBytes` as for a hash job.
   */
  constructor(fd: number, out: number, at: number, limit: number, onBytes?: (n: number) => void) {
    this.result = schedule({ fd, out, at, limit, cancel: this.#cancel, onBytes });
  }

  /** Stop early; {@link result} then settles with undefined (or the digest, if it was done). */
  cancel(): void {
    Atomics.store(this.#cancel, 0, 1);
  }
}

/**
 * Waits for `job`, cancelling it when `signal` aborts (or has aborted already). It never returns
 * before the job has ended, so its descriptors may be closed (and their numbers reused) then.
 * @returns its result.
 * @throws OcikitError `INTERRUPTED` when the signal aborted; what the job rejects with.
 */
export async function settleJob(job: FileHashJob | FileCopyJob, signal: AbortSignal | undefined): Promise<HashResult> {
  const onAbort = () => job.cancel();
  if (signal?.aborted) job.cancel();
  else signal?.addEventListener('abort', onAbort, { once: true });
  let r: HashResult | undefined;
  try {
    r = await job.result;
  } catch (err) {
    throwIfInterrupted(signal, 'install');
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  throwIfInterrupted(signal, 'install');
  // Only a cancelled job has no result, and only an abort cancels one.
  if (r === undefined) throw new OcikitError('INTERRUPTED', 'install interrupted');
  return r;
}

/** Whether worker threads are running: then a {@link FileCopyJob} runs beside the main thread. */
export function hashWorkersRunning(): boolean {
  return (slots?.length ?? 0) > 0;
}

interface Job {
  readonly fd: number;
  /** The descriptor to copy into, or -1 for a hash job. */
  readonly out: number;
  readonly at: number;
  readonly limit: number;
  readonly cancel: Int32Array;
  readonly onBytes: ((n: number) => void) | undefined;
  resolve?: (r: HashResult | undefined) => void;
  reject?: (err: unknown) => void;
}

interface WorkerReply {
  readonly id: number;
  readonly progress?: number;
  readonly hex?: string;
  readonly bytes?: number;
  readonly cancelled?: boolean;
  readonly error?: { readonly code?: string | undefined; readonly syscall?: string; readonly message: string };
}

interface Slot {
  readonly worker: Worker;
  online: boolean;
  job: Job | undefined;
}

const queue: Job[] = [];
let mainBusy = false;
let slots: Slot[] | undefined;
let nextId = 0;
const running = new Map<number, Job>();

function schedule(job: Job): Promise<HashResult | undefined> {
  return new Promise((resolve, reject) => {
    job.resolve = resolve;
    job.reject = reject;
    queue.push(job);
    pump();
  });
}

/**
 * A worker keeps the process alive while it has a job, or while jobs wait (for it to come
 * online), and not otherwise.
 */
function refreshRefs(): void {
  for (const s of slots ?? []) {
    if (s.job !== undefined || queue.length > 0) s.worker.ref();
    else s.worker.unref();
  }
}

/**
 * Hands queued jobs to free threads: an online idle worker first; else the main thread takes a
 * hash job (a copy job only when no worker is left).
 */
function pump(): void {
  for (let i = 0; i < queue.length; ) {
    const slot = slots?.find((s) => s.online && s.job === undefined);
    if (slot !== undefined) {
      startOnWorker(slot, queue.splice(i, 1)[0]!);
      continue;
    }
    if (mainBusy) break;
    const job = queue[i]!;
    if (job.out >= 0 && hashWorkersRunning()) {
      i++;
      continue;
    }
    queue.splice(i, 1);
    mainBusy = true;
    onMain(job)
      .then(job.resolve, job.reject)
      .finally(() => {
        mainBusy = false;
        pump();
      });
  }
  refreshRefs();
}

/**
 * Starts the worker threads if they are not running, so that they are up (some 30 ms) when the
 * first large job comes: one more than there are cores, at most 4, none on one core. Three equal
 * blobs on two cores then finish together instead of the third after the others.
 */
export function warmHashPool(): void {
  if (slots !== undefined) return;
  const cores = availableParallelism();
  const n = cores < 2 ? 0 : Math.min(4, cores + 1);
  slots = [];
  for (let i = 0; i < n; i++) slots.push(startWorker());
}

function startWorker(): Slot {
  const source = `(${workerMain.toString()})(require('node:worker_threads'), require('node:fs'), require('node:crypto'))`;
  const worker = new Worker(source, { eval: true });
  const slot: Slot = { worker, online: false, job: undefined };
  worker.on('online', () => {
    slot.online = true;
    pump();
  });
  worker.on('message', (m: WorkerReply) => onReply(slot, m));
  const lost = () => {
    slots = slots?.filter((s) => s !== slot);
    const job = slot.job;
    slot.job = undefined;
    // A job the worker did not finish is done again from its start on another thread (its
    // descriptors are still open; the progress already told is told again).
    if (job !== undefined) queue.unshift(job);
    pump();
  };
  worker.on('error', lost);
  worker.on('exit', lost);
  // After the listeners: adding a 'message' listener refs the worker again.
  if (queue.length === 0) worker.unref();
  return slot;
}

function startOnWorker(slot: Slot, job: Job): void {
  const id = nextId++;
  running.set(id, job);
  slot.job = job;
  const { fd, out, at, limit } = job;
  slot.worker.postMessage({ id, fd, out, at, limit, cancel: job.cancel.buffer, every: PROGRESS_EVERY });
}

function onReply(slot: Slot, m: WorkerReply): void {
  const job = running.get(m.id);
  if (job === undefined) return;
  if (m.progress !== undefined && m.progress > 0) job.onBytes?.(m.progress);
  if (m.hex === undefined && m.cancelled !== true && m.error === undefined) return;
  running.delete(m.id);
  slot.job = undefined;
  if (m.error !== undefined) {
    const { code, syscall, message } = m.error;
    job.reject!(Object.assign(new Error(message), { code, syscall }));
  } else job.resolve!(m.hex === undefined ? undefined : { hex: m.hex, bytes: m.bytes ?? 0 });
  pump();
}

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** The main thread's version of a job: the same steps, yielding to the event loop as it goes. */
async function onMain(job: Job): Promise<HashResult | undefined> {
  const buf = Buffer.allocUnsafe(CHUNK);
  const h = createHash('sha256');
  let pos = 0;
  let told = 0;
  while (pos < job.limit) {
    if (Atomics.load(job.cancel, 0) === 1) return undefined;
    const n = readSync(job.fd, buf, 0, Math.min(CHUNK, job.limit - pos), pos);
    if (n === 0) break;
    h.update(buf.subarray(0, n));
    if (job.out >= 0) writeFully(job.out, buf, n, job.at + pos);
    pos += n;
    if (pos - told >= PROGRESS_EVERY) {
      job.onBytes?.(pos - told);
      told = pos;
      await nextTurn();
    }
  }
  if (pos > told) job.onBytes?.(pos - told);
  return { hex: h.digest('hex'), bytes: pos };
}

/** write(2) until all `n` bytes are stored (a write may store fewer than given). */
function writeFully(fd: number, buf: Buffer, n: number, position: number): void {
  for (let off = 0; off < n; ) {
    const w = writeSync(fd, buf, off, n - off, position + off);
    if (w <= 0) throw Object.assign(new Error('write stored nothing'), { code: 'EIO', syscall: 'write' });
    off += w;
  }
}

/**
 * The code of each worker thread. Its source text is what the worker runs (an `eval` worker: a
 * bundle has no separate file to point at), so it uses nothing but its arguments.
 */
function workerMain(
  wt: typeof import('node:worker_threads'),
  fs: typeof import('node:fs'),
  crypto: typeof import('node:crypto'),
): void {
  const port = wt.parentPort;
  if (port === null) return;
  const buf = Buffer.allocUnsafe(1024 * 1024);
  type Message = {
    id: number;
    fd: number;
    out: number;
    at: number;
    limit: number;
    cancel: SharedArrayBuffer;
    every: number;
  };
  port.on('message', (m: Message) => {
    try {
      const cancel = new Int32Array(m.cancel);
      const h = crypto.createHash('sha256');
      let pos = 0;
      let told = 0;
      while (pos < m.limit) {
        if (Atomics.load(cancel, 0) === 1) {
          port.postMessage({ id: m.id, cancelled: true, progress: pos - told });
          return;
        }
        const n = fs.readSync(m.fd, buf, 0, Math.min(buf.length, m.limit - pos), pos);
        if (n === 0) break;
        h.update(buf.subarray(0, n));
        for (let off = 0; m.out >= 0 && off < n; ) {
          const w = fs.writeSync(m.out, buf, off, n - off, m.at + pos + off);
          if (w <= 0) throw Object.assign(new Error('write stored nothing'), { code: 'EIO', syscall: 'write' });
          off += w;
        }
        pos += n;
        if (pos - told >= m.every) {
          port.postMessage({ id: m.id, progress: pos - told });
          told = pos;
        }
      }
      port.postMessage({ id: m.id, hex: h.digest('hex'), bytes: pos, progress: pos - told });
    } catch (err) {
      const e = err as { code?: string; syscall?: string; message?: string };
      port.postMessage({ id: m.id, error: { code: e.code, syscall: e.syscall, message: String(e.message ?? err) } });
    }
  });
}
