import { collectDefaultMetrics, Registry } from 'prom-client';
import { registerGcDuration } from './gc-metric.ts';

/**
 * A Prometheus registry for one process (or one app instance in tests) with the default process
 * metrics: CPU, memory, handles, GC pauses (every collection: see {@link registerGcDuration}), and
 * event-loop lag (`nodejs_eventloop_lag_*`).
 */
export function createMetricsRegistry(opts: { service: string; labels?: Record<string, string> }): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service: opts.service, ...opts.labels });
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 });
  registerGcDuration(registry);
  return registry;
}

/** Histogram buckets in seconds for turn-scale durations (100 ms .. 10 min). */
export const TURN_SECONDS_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600];
/** Histogram buckets in seconds for latencies that should be short (5 ms .. 60 s). */
export const LATENCY_SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
