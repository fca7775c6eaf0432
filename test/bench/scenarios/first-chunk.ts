import type { BenchContext } from '../lib/context.ts';
import { minus } from '../lib/stats.ts';
import type { TurnRunSummary } from '../lib/turns.ts';
import { directLoop, turnstreamLoop, warmUp } from './turn-runs.ts';

export interface FirstChunkPoint {
  concurrency: number;
  /** Completed exchanges each measured turn followed (absent or 0: the first message of a conversation). */
  history?: number;
  turnstream: TurnRunSummary;
  direct: TurnRunSummary;
  /** Turnstream's time to first chunk minus the direct SDK's, at p50 and p99 (ms). */
  overheadMs: { p50: number | null; p99: number | null };
}

/**
 * Scenario 1: time to first chunk with a zero-delay simulator (40-word replies), closed loops of
 * 1, 10 and 50 concurrent conversations, one worker, against the SDK streaming straight from the
 * simulator. With a history, every turn is a follow-up in a conversation holding that many completed
 * exchanges, and the direct SDK sends the same exchanges before its message.
 */
export async function firstChunk(ctx: BenchContext): Promise<FirstChunkPoint[]> {
  const { stack, profile } = ctx;
  await stack.setWorkers(1, 100);
  const history = profile.firstChunk.history ?? 0;
  await warmUp(ctx, 5, history);
  const points: FirstChunkPoint[] = [];
  for (const concurrency of profile.firstChunk.concurrency) {
    const opts = { concurrency, durationMs: profile.firstChunk.durationMs, words: 40, delayMs: 0, history };
    const direct = (await directLoop(ctx, opts)).run;
    const appended = history ? await stack.transcriptsOfLength(2 * history + 2) : 0;
    const turnstream = (await turnstreamLoop(ctx, opts)).run;
    if (history) await checkFollowUps(ctx, history, turnstream.completed, appended);
    const point: FirstChunkPoint = {
      concurrency,
      ...(history ? { history } : {}),
      turnstream,
      direct,
      overheadMs: {
        p50: minus(turnstream.ttfcMs.p50, direct.ttfcMs.p50),
        p99: minus(turnstream.ttfcMs.p99, direct.ttfcMs.p99),
      },
    };
    ctx.log(
      `first chunk @${concurrency}${history ? ` after ${history} exchanges` : ''}: turnstream p50 ${turnstream.ttfcMs.p50} p99 ${turnstream.ttfcMs.p99} ms, direct p50 ${direct.ttfcMs.p50} p99 ${direct.ttfcMs.p99} ms`,
    );
    points.push(point);
  }
  return points;
}

/**
 * Every completed follow-up extended its seeded transcript (one exchange more than the history): the
 * turns ran as follow-ups, not as first messages or rebuilds from the visible history.
 */
async function checkFollowUps(ctx: BenchContext, history: number, completed: number, before: number) {
  const appended = (await ctx.stack.transcriptsOfLength(2 * history + 2)) - before;
  if (appended < completed) {
    throw new Error(`follow-ups: ${completed} turns completed, only ${appended} appended to their history`);
  }
}
