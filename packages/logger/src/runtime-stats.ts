import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Logger } from 'pino';

export interface RuntimeStatsOptions {
  logger: Logger;
  /** Length of one sampling window, in ms; one log line per window. */
  intervalMs: number;
  /** Extra fields for each line (e.g. the number of running turns). */
  extra?: () => Record<string, unknown>;
}

/** Resolution of the event-loop delay sampler: a sample every 10 ms while the loop is free. */
const RESOLUTION_MS = 10;

/** Delay beyond the sampler's own interval, in ms (2 decimals). */
const lagMs = (ns: number) => Math.max(0, Math.round(ns / 1e4 - RESOLUTION_MS * 100) / 100);

/**
 * Logs `runtime.stats_sampled` once per window: the event-loop delay of the window (p50, p99, max,
 * in ms, and how many samples they come from), the resident set size and the heap in use. Operators
 * (and the benchmark) read how busy the process's single thread is. Returns a stop function.
 */
export function startRuntimeStats(opts: RuntimeStatsOptions): () => void {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
  const timer = setInterval(() => {
    const memory = process.memoryUsage();
    opts.logger.info(
      {
        event: 'runtime.stats_sampled',
        windowMs: opts.intervalMs,
        eventLoopDelayMs: {
          p50: lagMs(histogram.percentile(50)),
          p99: lagMs(histogram.percentile(99)),
          max: lagMs(histogram.max),
        },
        eventLoopSamples: histogram.count,
        rssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
        // What the resident set holds beyond live JS objects: the heap V8 reserved, and memory outside it.
        heapTotalBytes: memory.heapTotal,
        externalBytes: memory.external,
        arrayBuffersBytes: memory.arrayBuffers,
        ...opts.extra?.(),
      },
      'runtime stats',
    );
    histogram.reset();
  }, opts.intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    histogram.disable();
  };
}
