/**
 * How long a worker merges a stream's text deltas before it publishes them, given how many turns it
 * is running and how busy its event loop is.
 *
 * Every publish costs the same whatever it carries: a script call in Redis, a pub/sub message to each
 * API replica and one SSE event to each client. A worker holding few streams publishes each delta
 * within `coalesceWindowMs`; holding many on a loop with no time to spare, it would publish tens of
 * thousands of tiny batches a second and spend its CPU on them while new turns wait to start. So the
 * count's window widens with the streams held: each stream publishes at most about `1000 / window`
 * times a second, and the window is chosen so the worker's total stays near `publishBudgetPerSecond`,
 * never wider than `coalesceWindowMaxMs`.
 *
 * `count` mode (the default) applies the count's window whatever the load. In `load` mode the count's
 * widening applies only in proportion to the worker's loop load (its event-loop utilization,
 * smoothed: {@link nextLoopLoad}): none up to `pacingLoadFrom`, all of it from `pacingLoadFull`. A
 * worker with time to spare publishes each delta within `coalesceWindowMs` however many streams it
 * holds; a saturated one paces as the count says. The load only ever narrows the count's window, so
 * a worker whose load reads too high paces as `count` mode does, never wider. `load` is not the
 * default: at 500 held streams on the benchmark's shared two-core host it shortened the gaps but
 * cost a fifth more CPU, and first chunks came no sooner (`test/bench/results/2026-12-01-adaptive-pacing.md`).
 *
 * The first delta of a reply is always published at once (the coalescer's rule), so the wait for the
 * first text does not grow; only later text arrives in fewer, larger pieces.
 */
export interface PublishPacing {
  /** The window while the worker holds few streams or has time to spare (`COALESCE_WINDOW_MS`). */
  coalesceWindowMs: number;
  /** The widest window, however many streams (`COALESCE_WINDOW_MAX_MS`). */
  coalesceWindowMaxMs: number;
  /** Publishes per second the worker aims to stay under (`PUBLISH_BUDGET_PER_SECOND`); 0: a fixed window. */
  publishBudgetPerSecond: number;
  /** `load`: the count's window in proportion to the loop load; `count`: in full (`PUBLISH_PACING`). */
  pacingMode: PacingMode;
  /** Loop load (0-1) up to which the base window is kept, in `load` mode (`PUBLISH_PACING_LOAD_FROM`). */
  pacingLoadFrom: number;
  /** Loop load (0-1) from which the count's window applies in full, in `load` mode (`PUBLISH_PACING_LOAD_FULL`). */
  pacingLoadFull: number;
}

export const PACING_MODES = ['load', 'count'] as const;
export type PacingMode = (typeof PACING_MODES)[number];

/** The worker's defaults (the env schema and `createWorker` both take them from here). */
export const DEFAULT_PUBLISH_PACING: PublishPacing = {
  coalesceWindowMs: 30,
  coalesceWindowMaxMs: 250,
  publishBudgetPerSecond: 5000,
  pacingMode: 'count',
  pacingLoadFrom: 0.9,
  pacingLoadFull: 0.98,
};

/** The count's window, in milliseconds, of each stream of a worker running `streams` turns. */
export function countWindowMs(streams: number, pacing: PublishPacing): number {
  const min = pacing.coalesceWindowMs;
  if (pacing.publishBudgetPerSecond <= 0) return min;
  const max = Math.max(min, pacing.coalesceWindowMaxMs);
  const wanted = Math.ceil((streams * 1000) / pacing.publishBudgetPerSecond);
  return Math.min(max, Math.max(min, wanted));
}

/** How much of the count's widening applies (0-1) at loop load `load` (the {@link LoopLoad} level). */
export function loadShare(load: number, pacing: PublishPacing): number {
  if (pacing.pacingMode === 'count') return 1;
  const from = pacing.pacingLoadFrom;
  const full = pacing.pacingLoadFull;
  if (full <= from) return load >= from ? 1 : 0;
  return Math.min(1, Math.max(0, (load - from) / (full - from)));
}

/**
 * The merge window, in milliseconds, of each stream of a worker running `streams` turns at loop load
 * `load` (0-1): from `coalesceWindowMs` to the count's window as the load goes from `pacingLoadFrom`
 * to `pacingLoadFull`.
 */
export function pacedWindowMs(streams: number, pacing: PublishPacing, load: number): number {
  const min = pacing.coalesceWindowMs;
  const counted = countWindowMs(streams, pacing);
  if (counted <= min) return min;
  return Math.round(min + (counted - min) * loadShare(load, pacing));
}

/**
 * The loop load pacing follows: the event-loop utilization, smoothed, with a dead band.
 *
 * - Smoothed exponentially, faster while it rises (time constant {@link LOAD_RISE_MS}) than while it
 *   falls ({@link LOAD_FALL_MS}): a loop that becomes saturated starts widening the window within a
 *   second when it was already busy (in full within about three), within two to three seconds from
 *   idle (the first delta of each new reply goes at once meanwhile), and a worker that just caught
 *   up keeps pacing a few seconds before publishing every delta again.
 * - `level`, what the window follows, moves (to the smoothed utilization) only once that is more than
 *   {@link LOAD_DEAD_BAND} away from it (hysteresis): a loop whose load wobbles, or dips a little
 *   because pacing itself saved it work, does not make the window swing with it.
 */
export interface LoopLoadState {
  /** Utilization smoothed over the last seconds (0-1). */
  smoothed: number;
  /** The load the window follows (0-1): within {@link LOAD_DEAD_BAND} of `smoothed`. */
  level: number;
}

export const LOAD_RISE_MS = 1000;
export const LOAD_FALL_MS = 5000;
export const LOAD_DEAD_BAND = 0.02;
export const IDLE_LOOP_LOAD: LoopLoadState = { smoothed: 0, level: 0 };

/** The load after a sample: the loop was busy `utilization` (0-1) of the last `elapsedMs`. */
export function nextLoopLoad(state: LoopLoadState, utilization: number, elapsedMs: number): LoopLoadState {
  if (!(elapsedMs > 0) || !Number.isFinite(utilization)) return state;
  const u = Math.min(1, Math.max(0, utilization));
  const tau = u > state.smoothed ? LOAD_RISE_MS : LOAD_FALL_MS;
  const smoothed = state.smoothed + (u - state.smoothed) * (1 - Math.exp(-elapsedMs / tau));
  const level = Math.abs(smoothed - state.level) > LOAD_DEAD_BAND ? smoothed : state.level;
  return { smoothed, level };
}
