/**
 * Bounded concurrency: the one pool of ocikit. {@link createLimiter} admits at most `n` calls at a
 * time (fetch's downloads, install's blob copies); {@link runPool} runs a list of tasks through one
 * and stops starting new ones after the first failure.
 */

/** A function that runs `fn` once fewer than the limiter's bound of calls are in flight. */
export type Limiter = <T>(fn: () => Promise<T>) => Promise<T>;

/**
 * A limiter admitting at most `n` (at least 1) concurrent calls, in arrival order.
 */
export function createLimiter(n: number): Limiter {
  const bound = Math.max(1, Math.floor(n));
  let active = 0;
  const queue: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= bound) await new Promise<void>((res) => queue.push(res));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      queue.shift()?.();
    }
  };
}

/**
 * Runs `tasks` with at most `n` at a time. After the first failure no new task starts; the ones
 * running finish, then the first failure is rethrown.
 */
export async function runPool(tasks: readonly (() => Promise<void>)[], n: number): Promise<void> {
  // `n` workers take the tasks in order: no promise or closure per waiting task (inputs may
  // name tens of thousands).
  let failure: { err: unknown } | undefined;
  let next = 0;
  const worker = async () => {
    while (next < tasks.length && failure === undefined) {
      const task = tasks[next++]!;
      try {
        await task();
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(tasks.length, Math.max(1, Math.floor(n))) }, worker));
  if (failure !== undefined) throw failure.err;
}
