/**
 * V8's `--trace-gc-nvp` lines (one per collection, on stdout): a worker started with
 * `--worker-node-arg=--trace-gc-nvp` reports its pauses and promoted bytes per run.
 */
export interface GcEvent {
  at: number;
  /** `s` scavenge, `mc` mark-compact (and V8's other short names). */
  kind: string;
  pauseMs: number;
  /** Bytes moved from the young to the old generation by this collection. */
  promotedBytes: number;
  /** Bytes allocated since the previous collection (V8's `allocated=`: young and old generation). */
  allocatedBytes: number;
}

const NVP = / ms: pause=([\d.]+) .*?\bgc=(\w+) .*?\bpromoted=(\d+)/;
const ALLOCATED = /\ballocated=(\d+)/;

/** The collection a `--trace-gc-nvp` line reports, or undefined for any other line. */
export function parseGcLine(raw: string, at: number): GcEvent | undefined {
  const m = NVP.exec(raw);
  if (!m) return undefined;
  const allocated = ALLOCATED.exec(raw);
  return {
    at,
    kind: m[2]!,
    pauseMs: Number(m[1]),
    promotedBytes: Number(m[3]),
    allocatedBytes: allocated ? Number(allocated[1]) : 0,
  };
}

export interface GcSummary {
  scavenges: number;
  scavengeMs: number;
  markCompacts: number;
  markCompactMs: number;
  /** All pauses over the window's wall time (the share of the thread GC held). */
  pauseShare: number;
  promotedMb: number;
  /** Bytes allocated over the window (summed over collections: exact to within a young generation). */
  allocatedMb: number;
}

/** GC of the events within [from, to] (summed over processes), or null when none were traced. */
export function summarizeGc(events: GcEvent[], from: number, to: number): GcSummary | null {
  const inWindow = events.filter((e) => e.at >= from && e.at <= to);
  if (!inWindow.length) return null;
  const sum = (xs: GcEvent[], f: (e: GcEvent) => number) => xs.reduce((s, e) => s + f(e), 0);
  const scavenges = inWindow.filter((e) => e.kind === 's');
  const markCompacts = inWindow.filter((e) => e.kind === 'mc');
  const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;
  return {
    scavenges: scavenges.length,
    scavengeMs: round(
      sum(scavenges, (e) => e.pauseMs),
      0,
    ),
    markCompacts: markCompacts.length,
    markCompactMs: round(
      sum(markCompacts, (e) => e.pauseMs),
      0,
    ),
    pauseShare: round(sum(inWindow, (e) => e.pauseMs) / (to - from), 3),
    promotedMb: round(sum(inWindow, (e) => e.promotedBytes) / 1024 / 1024, 1),
    allocatedMb: round(sum(inWindow, (e) => e.allocatedBytes) / 1024 / 1024, 0),
  };
}
