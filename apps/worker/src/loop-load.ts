import { type EventLoopUtilization, performance } from 'node:perf_hooks';
import { IDLE_LOOP_LOAD, type LoopLoadState, nextLoopLoad } from './publish-pacing.ts';

/** How often the loop's utilization is read, in ms. */
export const LOOP_LOAD_SAMPLE_MS = 500;

/** One reading: the share of `elapsedMs` the event loop was busy. */
export interface LoopReading {
  utilization: number;
  elapsedMs: number;
}

/** Reads the process's event-loop utilization since the previous call (Node's own accounting). */
export function eventLoopReader(): () => LoopReading {
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const delta = performance.eventLoopUtilization(now, last);
    last = now;
    return { utilization: delta.utilization, elapsedMs: delta.idle + delta.active };
  };
}

/**
 * The worker's loop load as publish pacing follows it ({@link nextLoopLoad}), read every
 * {@link LOOP_LOAD_SAMPLE_MS}. A loop blocked for a while is read late, and that reading covers the
 * whole block.
 */
export class LoopLoad {
  private state: LoopLoadState = IDLE_LOOP_LOAD;
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly read: () => LoopReading;

  constructor(read: () => LoopReading = eventLoopReader()) {
    this.read = read;
  }

  /** The load the window follows (0-1). */
  get level(): number {
    return this.state.level;
  }

  /** The utilization smoothed over the last seconds (0-1). */
  get smoothed(): number {
    return this.state.smoothed;
  }

  /** Takes one reading (the timer's, or a test's). */
  sample(): void {
    const r = this.read();
    this.state = nextLoopLoad(this.state, r.utilization, r.elapsedMs);
  }

  start(intervalMs = LOOP_LOAD_SAMPLE_MS): this {
    this.timer ??= setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
