import type { BenchContext } from '../lib/context.ts';
import { minus } from '../lib/stats.ts';
import type { TurnRunSummary } from '../lib/turns.ts';
import { directLoop, turnstreamLoop, warmUp } from './turn-runs.ts';

export interface FirstChunkPoint {
  concurrency: number;
  turnstream: TurnRunSummary;
  direct: TurnRunSummary;
  /** Turnstream's time to first chunk minus the direct SDK's, at p50 and p99 (ms). */
  overheadMs: { p50: number | null; p99: number | null };
}

/**
 * Scenario 1: time to first chunk with a zero-delay simulator (40-word replies), closed loops of
 * 1, 10 and 50 concurrent conversations, one worker, against the SDK streaming straight from the
 * simulator.
 */
export async function firstChunk(ctx: BenchContext): Promise<FirstChunkPoint[]> {
  const { stack, profile } = ctx;
  await stack.setWorkers(1, 100);
  await warmUp(ctx);
  const points: FirstChunkPoint[] = [];
  for (const concurrency of profile.firstChunk.concurrency) {
    const opts = { concurrency, durationMs: profile.firstChunk.durationMs, words: 40, delayMs: 0 };
    const direct = (await directLoop(ctx, opts)).run;
    const turnstream = (await turnstreamLoop(ctx, opts)).run;
    const point = {
      concurrency,
      turnstream,
      direct,
      overheadMs: {
        p50: minus(turnstream.ttfcMs.p50, direct.ttfcMs.p50),
        p99: minus(turnstream.ttfcMs.p99, direct.ttfcMs.p99),
      },
    };
    ctx.log(
      `first chunk @${concurrency}: turnstream p50 ${turnstream.ttfcMs.p50} p99 ${turnstream.ttfcMs.p99} ms, direct p50 ${direct.ttfcMs.p50} p99 ${direct.ttfcMs.p99} ms`,
    );
    points.push(point);
  }
  return points;
}
