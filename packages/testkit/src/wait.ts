/** Waiting for conditions: tests never sleep a fixed time, they wait for something to become true. */

export interface WaitOptions {
  /** Give up after this long (default 20 s). */
  timeoutMs?: number;
  /** Poll interval (default 25 ms). */
  intervalMs?: number;
  /** What is being waited for, for the failure message. */
  message?: string;
}

export const DEFAULT_WAIT_MS = 20_000;

export class WaitTimeoutError extends Error {
  override name = 'WaitTimeoutError';
}

type Attempt<T> = { done: true; value: T } | { done: false; error?: unknown };

async function poll<T>(attempt: () => Promise<Attempt<T>>, opts: WaitOptions, what: string): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_WAIT_MS;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await attempt();
    if (r.done) return r.value;
    if (Date.now() >= deadline) {
      const last = r.error === undefined ? '' : ` (last error: ${describeError(r.error)})`;
      throw new WaitTimeoutError(`waited ${timeoutMs} ms for ${opts.message ?? what}${last}`, {
        cause: r.error,
      });
    }
    await sleepMs(opts.intervalMs ?? 25);
  }
}

/**
 * Poll `check` until it returns a truthy value and resolve with it. A throw counts as "not yet";
 * on timeout the error names `opts.message` (or the check's source) and the last error thrown.
 */
export function waitFor<T>(check: () => T | Promise<T>, opts: WaitOptions = {}): Promise<NonNullable<T>> {
  return poll<NonNullable<T>>(
    async () => {
      try {
        const value = await check();
        return value ? { done: true, value: value as NonNullable<T> } : { done: false };
      } catch (error) {
        return { done: false, error };
      }
    },
    opts,
    check.toString().slice(0, 160),
  );
}

/**
 * Retry an assertion (`() => expect(...)`) until it stops throwing; resolve with its return value.
 * On timeout the last assertion error is in the message.
 */
export function eventually<T>(assertion: () => T | Promise<T>, opts: WaitOptions = {}): Promise<T> {
  return poll(
    async () => {
      try {
        return { done: true, value: await assertion() };
      } catch (error) {
        return { done: false, error };
      }
    },
    opts,
    assertion.toString().slice(0, 160),
  );
}

/** Reject with a readable error when `promise` has not settled within `timeoutMs`. */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new WaitTimeoutError(`waited ${timeoutMs} ms for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A pause between polls or a pacing delay in a load generator. Tests synchronise on conditions
 * (`waitFor`), never on this.
 */
export function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function describeError(error: unknown): string {
  if (error instanceof Error) return error.message.split('\n').slice(0, 6).join('\n');
  return String(error);
}
