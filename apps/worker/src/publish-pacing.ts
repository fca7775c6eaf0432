/**
 * How long a worker merges a stream's text deltas before it publishes them, given how many turns it
 * is running.
 *
 * Every publish costs the same whatever it carries: a script call in Redis, a pub/sub message to each
 * API replica and one SSE event to each client. A worker holding few streams publishes each delta
 * within `coalesceWindowMs`; holding many, it would publish tens of thousands of tiny batches a second
 * and spend its CPU on them while new turns wait to start. So the window widens with the streams
 * held: each stream publishes at most about `1000 / window` times a second, and the window is chosen
 * so the worker's total stays near `publishBudgetPerSecond`, never wider than `coalesceWindowMaxMs`.
 * The first delta of a reply is always published at once (the coalescer's rule), so the wait for the
 * first text does not grow; only later text arrives in fewer, larger pieces.
 */
export interface PublishPacing {
  /** The window while the worker holds few streams (`COALESCE_WINDOW_MS`). */
  coalesceWindowMs: number;
  /** The widest window, however many streams (`COALESCE_WINDOW_MAX_MS`). */
  coalesceWindowMaxMs: number;
  /** Publishes per second the worker aims to stay under (`PUBLISH_BUDGET_PER_SECOND`); 0: a fixed window. */
  publishBudgetPerSecond: number;
}

/** The merge window, in milliseconds, of each stream of a worker running `streams` turns. */
export function pacedWindowMs(streams: number, pacing: PublishPacing): number {
  const min = pacing.coalesceWindowMs;
  if (pacing.publishBudgetPerSecond <= 0) return min;
  const max = Math.max(min, pacing.coalesceWindowMaxMs);
  const wanted = Math.ceil((streams * 1000) / pacing.publishBudgetPerSecond);
  return Math.min(max, Math.max(min, wanted));
}

/** The worker's defaults (the env schema and `createWorker` both take them from here). */
export const DEFAULT_PUBLISH_PACING: PublishPacing = {
  coalesceWindowMs: 30,
  coalesceWindowMaxMs: 250,
  publishBudgetPerSecond: 5000,
};
