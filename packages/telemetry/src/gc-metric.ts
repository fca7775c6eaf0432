import { constants, type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';
import { Histogram, type Registry } from 'prom-client';

/** The default metric's name, kept so dashboards built on prom-client's defaults keep working. */
const GC_DURATION_METRIC = 'nodejs_gc_duration_seconds';

/** GC pauses are sub-millisecond scavenges up to mark-compacts of tens or hundreds of milliseconds. */
const GC_SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

function gcKind(entry: PerformanceEntry): string {
  // Node 16+ puts the kind in `detail` (typed on the GC entry, not on PerformanceEntry).
  const kind = (entry as { detail?: { kind?: number } }).detail?.kind;
  return (kind !== undefined && GC_KINDS[kind]) || 'unknown';
}

/**
 * `nodejs_gc_duration_seconds`, counting every collection. prom-client's default metric of that name
 * records only the first entry of each batch of GC entries Node delivers to its observer, and under
 * load Node batches them (18 in one delivery was seen), so its count and sum read far too low exactly
 * when GC matters. This replaces it in `registry` with a histogram that records every entry.
 */
export function registerGcDuration(registry: Registry): void {
  registry.removeSingleMetric(GC_DURATION_METRIC);
  const histogram = new Histogram({
    name: GC_DURATION_METRIC,
    help: 'Garbage collection pauses by kind (major, minor, incremental or weakcb), every collection counted.',
    labelNames: ['kind'],
    buckets: GC_SECONDS_BUCKETS,
    registers: [registry],
  });
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) histogram.observe({ kind: gcKind(entry) }, entry.duration / 1000);
  });
  observer.observe({ entryTypes: ['gc'] });
}
