import type { BenchContext } from '../lib/context.ts';
import { type GcSummary, summarizeGc } from '../lib/gc.ts';
import { CpuMeter, type GroupUsage } from '../lib/proc.ts';
import { mergedLagP99, minus } from '../lib/stats.ts';
import { simContent, type TurnRunSummary } from '../lib/turns.ts';
import { turnstreamLoop } from './turn-runs.ts';

export interface HeldPoint {
  streams: number;
  workers: number;
  turnstream: TurnRunSummary;
  direct: TurnRunSummary;
  overheadMs: { ttfcP50: number | null; ttfcP99: number | null; gapP99: number | null };
  /** Turns that did not end `completed` (must be 0). */
  notCompleted: number;
  worker: {
    startRssMb: number[];
    peakRssMb: number[];
    /** (peak - start) RSS per held stream, summed over the workers, in KB. */
    rssPerStreamKb: number;
    /** Event-loop delay p99 over the run (merged from the workers' 1 s windows), and the worst window's p99. */
    eventLoopLagP99Ms: number | null;
    eventLoopWorstWindowP99Ms: number | null;
    /** The workers' collections during the run (null unless they trace them: `--trace-gc-nvp`). */
    gc: GcSummary | null;
  };
  /** Streams x their nominal length (words x token delay), in seconds: what "per stream-second" divides by. */
  streamSeconds?: number;
  cpuSeconds: Record<string, number>;
  /** CPU ms per stream-second (streams x nominal reply length), per process group and Turnstream's total. */
  cpuMsPerStreamSecond: Record<string, number>;
  directCpuSeconds: Record<string, number>;
  directCpuMsPerStreamSecond: Record<string, number>;
}

const mb = (b: number) => Math.round(b / 1024 / 102.4) / 10;

function perStreamSecond(cpu: Record<string, GroupUsage>, streamSeconds: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, u] of Object.entries(cpu))
    out[name] = Math.round((u.cpuSeconds / streamSeconds) * 1e5) / 100;
  return out;
}

/** Turnstream's own processes (the simulator and the client are the same for both paths). */
export const SYSTEM_GROUPS = ['api', 'worker', 'postgres', 'redis'];

export function systemTotal(values: Record<string, number>): number {
  return Math.round(SYSTEM_GROUPS.reduce((s, g) => s + (values[g] ?? 0), 0) * 100) / 100;
}

/**
 * Scenario 2: held slow streams (20 tokens/s) posted over a few seconds, each in its own
 * conversation, on one worker (and on two), against as many direct SDK streams.
 */
export async function held(ctx: BenchContext): Promise<HeldPoint[]> {
  const { profile } = ctx;
  const plan = [
    ...profile.held.oneWorker.map((streams) => ({ streams, workers: 1 })),
    ...profile.held.twoWorkers.map((streams) => ({ streams, workers: 2 })),
  ];
  const points: HeldPoint[] = [];
  for (const { streams, workers } of plan) points.push(await heldPoint(ctx, streams, workers));
  return points;
}

async function heldPoint(ctx: BenchContext, streams: number, workers: number): Promise<HeldPoint> {
  const { stack, profile } = ctx;
  const { words, delayMs, spreadMs } = profile.held;
  const nominalMs = words * delayMs;
  const deadlineMs = spreadMs + nominalMs * 3 + 60_000;
  const contents = Array.from({ length: streams }, (_, i) => simContent(i, words, delayMs));

  // Fresh workers: their memory and event-loop windows belong to this run only.
  await stack.setWorkers(workers, workers === 1 ? Math.max(2000, streams) : Math.max(500, streams / workers));
  // Warm the fresh workers up (JIT, connection pools), unrecorded.
  await turnstreamLoop(ctx, { concurrency: 10, durationMs: profile.warmupMs, words: 40, delayMs: 0 });
  const conversationIds = await stack.seedConversations(streams);
  const meter = new CpuMeter(stack.groups([{ name: 'client', pids: () => [ctx.client.pid] }]));
  const from = Date.now();
  await meter.begin();
  const turnstream = await ctx.client.call<TurnRunSummary>('held', {
    conversationIds,
    contents,
    spreadMs,
    deadlineMs,
  });
  const cpu = await meter.end();
  const to = Date.now();

  const windows = stack.workers.flatMap((w) =>
    w.stats
      .filter((l) => l.at >= from && l.at <= to + 1000)
      .map((l) => {
        const d = l.eventLoopDelayMs as { p50: number; p99: number; max: number };
        return { ...d, count: Number(l.eventLoopSamples ?? 0) };
      }),
  );

  const directMeter = new CpuMeter([
    { name: 'client', pids: () => [ctx.direct.pid] },
    { name: 'sim', pids: () => [stack.sim.pid] },
  ]);
  await directMeter.begin();
  const direct = await ctx.direct.call<TurnRunSummary>('held', { contents, spreadMs, deadlineMs });
  const directCpu = await directMeter.end();

  const streamSeconds = (streams * nominalMs) / 1000;
  const cpuMs = perStreamSecond(cpu, streamSeconds);
  cpuMs.turnstream = systemTotal(cpuMs);
  const startRss = cpu.worker!.startRssBytes ?? [];
  const peakRss = cpu.worker!.peakRssBytes ?? [];
  const grown = peakRss.reduce((s, b, i) => s + b - (startRss[i] ?? 0), 0);
  const point: HeldPoint = {
    streams,
    workers,
    turnstream,
    direct,
    overheadMs: {
      ttfcP50: minus(turnstream.ttfcMs.p50, direct.ttfcMs.p50),
      ttfcP99: minus(turnstream.ttfcMs.p99, direct.ttfcMs.p99),
      gapP99: minus(turnstream.gapMs.p99, direct.gapMs.p99),
    },
    notCompleted: turnstream.turns - turnstream.completed,
    worker: {
      startRssMb: startRss.map(mb),
      peakRssMb: peakRss.map(mb),
      rssPerStreamKb: Math.round(grown / streams / 1024),
      eventLoopLagP99Ms: mergedLagP99(windows),
      eventLoopWorstWindowP99Ms: windows.length ? Math.max(...windows.map((w) => w.p99)) : null,
      gc: summarizeGc(
        stack.workers.flatMap((w) => w.gc),
        from,
        to,
      ),
    },
    streamSeconds,
    cpuSeconds: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, v.cpuSeconds])),
    cpuMsPerStreamSecond: cpuMs,
    directCpuSeconds: Object.fromEntries(Object.entries(directCpu).map(([k, v]) => [k, v.cpuSeconds])),
    directCpuMsPerStreamSecond: perStreamSecond(directCpu, streamSeconds),
  };
  ctx.log(
    `held ${streams} on ${workers} worker(s): ttfc p50 ${turnstream.ttfcMs.p50}/${direct.ttfcMs.p50} p99 ${turnstream.ttfcMs.p99}/${direct.ttfcMs.p99} ms, gap p99 ${turnstream.gapMs.p99}/${direct.gapMs.p99}, chunk events per turn ${perTurn(turnstream)}/${perTurn(direct)}, not completed ${point.notCompleted}, lag p99 ${point.worker.eventLoopLagP99Ms} ms, rss ${point.worker.peakRssMb} MB, cpu ${SYSTEM_GROUPS.map((g) => cpuMs[g] ?? 0).join('/')} = ${cpuMs.turnstream} ms/stream-s (api/worker/pg/redis)${gcNote(point.worker.gc, streams * words)}`,
  );
  return point;
}

function perTurn(run: TurnRunSummary): number {
  return run.turns ? Math.round((run.chunks / run.turns) * 10) / 10 : 0;
}

function gcNote(gc: GcSummary | null, tokens: number): string {
  if (!gc) return '';
  const perToken = tokens ? Math.round((gc.allocatedMb * 1024 * 1024) / tokens) : 0;
  return `, gc ${gc.scavenges} scavenges ${gc.scavengeMs} ms + ${gc.markCompacts} mark-compacts ${gc.markCompactMs} ms (${gc.pauseShare} of the run), ${gc.promotedMb} MB promoted, ${gc.allocatedMb} MB allocated (${perToken} bytes per token)`;
}
