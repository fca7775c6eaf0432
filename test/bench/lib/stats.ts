/** Percentiles and summaries of latency samples (milliseconds). */

export interface Summary {
  n: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
  mean: number | null;
}

const round = (x: number) => Math.round(x * 10) / 10;

/** Nearest-rank percentile of ascending `sorted` (`p` in 0..100); null when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function summarize(samples: ArrayLike<number>): Summary {
  const sorted = Float64Array.from(samples as ArrayLike<number>).sort();
  if (sorted.length === 0) return { n: 0, p50: null, p90: null, p99: null, max: null, mean: null };
  let sum = 0;
  for (const x of sorted) sum += x;
  const pick = (p: number) => round(percentile(sorted, p)!);
  return {
    n: sorted.length,
    p50: pick(50),
    p90: pick(90),
    p99: pick(99),
    max: round(sorted[sorted.length - 1]!),
    mean: round(sum / sorted.length),
  };
}

/** `a - b`, or null when either is missing. */
export function minus(a: number | null | undefined, b: number | null | undefined): number | null {
  return a == null || b == null ? null : round(a - b);
}

/** `a / b`, or null when either is missing or `b` is 0. */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  return a == null || b == null || b === 0 ? null : Math.round((a / b) * 1000) / 1000;
}

/**
 * The p99 of a process's event-loop delay over several sampling windows, each reported as
 * (p50, p99, max, count): the samples of each window are spread linearly between those points
 * (half up to p50, 49% from p50 to p99, 1% from p99 to max), and the merged 99th percentile is found.
 */
export function mergedLagP99(
  windows: Array<{ p50: number; p99: number; max: number; count: number }>,
): number | null {
  const total = windows.reduce((s, w) => s + w.count, 0);
  if (total === 0) return null;
  const above = (v: number) =>
    windows.reduce((s, w) => {
      let f: number;
      if (v >= w.max) f = 0;
      else if (v >= w.p99) f = 0.01 * ((w.max - v) / Math.max(1e-9, w.max - w.p99));
      else if (v >= w.p50) f = 0.01 + 0.49 * ((w.p99 - v) / Math.max(1e-9, w.p99 - w.p50));
      else f = 0.5 + 0.5 * ((w.p50 - v) / Math.max(1e-9, w.p50));
      return s + f * w.count;
    }, 0);
  let lo = 0;
  let hi = Math.max(...windows.map((w) => w.max));
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2;
    if (above(mid) > total * 0.01) lo = mid;
    else hi = mid;
  }
  return round(hi);
}
