import { monitorEventLoopDelay } from 'node:perf_hooks';
import { type Summary, summarize } from './stats.ts';

/** What a client saw of one turn (times from performance.now(), in ms). */
export interface TurnRecord {
  t0: number;
  postDone?: number;
  started?: number;
  firstChunk?: number;
  lastChunk?: number;
  end?: number;
  outcome?: string;
  chunks: number;
}

/** What a run of turns looked like from the client side. */
export interface TurnRunSummary {
  turns: number;
  completed: number;
  /** Turns that ended other than completed (by outcome, `timeout` = no end before the deadline). */
  notCompleted: Record<string, number>;
  /** Request start to first text. */
  ttfcMs: Summary;
  /** Time between consecutive text events of a turn. */
  gapMs: Summary;
  /** Request start to end of the stream. */
  durationMs: Summary;
  /** POST /messages round trip (Turnstream only). */
  postMs?: Summary;
  /** Request start to `turn.started` (Turnstream only). */
  startedMs?: Summary;
  chunks: number;
  /** Completed turns per second of wall time, first request to last end. */
  turnsPerSec: number;
  wallMs: number;
  /** Event-loop delay p99 of the client process during the run (ms): how much the client itself lagged. */
  clientLagP99Ms: number;
  resets?: number;
  retries?: number;
  /** Streams resumed with Last-Event-ID after a `stream.error` or a drop (Turnstream only). */
  resumes?: number;
}

/** Collects turn records and inter-chunk gaps, and the client's own event-loop delay. */
export class TurnRecorder {
  readonly records: TurnRecord[] = [];
  private readonly gaps: number[] = [];
  private readonly lag = monitorEventLoopDelay({ resolution: 10 });
  resets = 0;
  retries = 0;
  resumes = 0;

  constructor() {
    this.lag.enable();
  }

  begin(t0: number): TurnRecord {
    const rec: TurnRecord = { t0, chunks: 0 };
    this.records.push(rec);
    return rec;
  }

  chunk(rec: TurnRecord, now: number): void {
    if (rec.end !== undefined) return;
    if (rec.firstChunk === undefined) rec.firstChunk = now;
    else this.gaps.push(now - rec.lastChunk!);
    rec.lastChunk = now;
    rec.chunks++;
  }

  finish(rec: TurnRecord, outcome: string, now: number): void {
    if (rec.end !== undefined) return;
    rec.end = now;
    rec.outcome = outcome;
  }

  summary(): TurnRunSummary {
    this.lag.disable();
    const recs = this.records;
    const notCompleted: Record<string, number> = {};
    let completed = 0;
    let chunks = 0;
    let first = Number.POSITIVE_INFINITY;
    let last = 0;
    for (const r of recs) {
      chunks += r.chunks;
      first = Math.min(first, r.t0);
      if (r.end !== undefined) last = Math.max(last, r.end);
      const outcome = r.outcome ?? 'timeout';
      if (outcome === 'completed') completed++;
      else notCompleted[outcome] = (notCompleted[outcome] ?? 0) + 1;
    }
    const wallMs = recs.length ? Math.max(0, last - first) : 0;
    const has = (f: (r: TurnRecord) => number | undefined) =>
      recs.map(f).filter((x): x is number => x !== undefined);
    return {
      turns: recs.length,
      completed,
      notCompleted,
      ttfcMs: summarize(has((r) => (r.firstChunk === undefined ? undefined : r.firstChunk - r.t0))),
      gapMs: summarize(this.gaps),
      durationMs: summarize(has((r) => (r.end === undefined ? undefined : r.end - r.t0))),
      postMs: summarize(has((r) => (r.postDone === undefined ? undefined : r.postDone - r.t0))),
      startedMs: summarize(has((r) => (r.started === undefined ? undefined : r.started - r.t0))),
      chunks,
      turnsPerSec: wallMs > 0 ? Math.round((completed / wallMs) * 1000 * 10) / 10 : 0,
      wallMs: Math.round(wallMs),
      clientLagP99Ms: Math.max(0, Math.round(this.lag.percentile(99) / 1e4 - 1000) / 100),
      resets: this.resets,
      retries: this.retries,
      resumes: this.resumes,
    };
  }
}

/** Message text asking the simulator for `words` one-word deltas, `delayMs` apart. */
export function simContent(i: number, words: number, delayMs: number): string {
  return `Benchmark turn ${i}: tell me something [[sim words=${words} delay=${delayMs}]]`;
}
