import type { BenchContext } from '../lib/context.ts';
import { historyMessages } from '../lib/history.ts';
import { CpuMeter, type GroupUsage, type ProcessGroup } from '../lib/proc.ts';
import { HISTORY_WORDS } from '../lib/stack.ts';
import { simContent, type TurnRunSummary } from '../lib/turns.ts';

/** What a closed loop runs: its size, the simulator's reply, and the history each turn follows. */
export interface LoopOptions {
  concurrency: number;
  durationMs: number;
  words: number;
  delayMs: number;
  /** Completed exchanges before each measured turn (0: the first message of a fresh conversation). */
  history?: number;
}

/**
 * Closed-loop Turnstream turns: `concurrency` clients, a conversation of its own per turn (fresh, or
 * holding `history` completed exchanges, seeded before and not measured), for `durationMs`.
 */
export async function turnstreamLoop(
  ctx: BenchContext,
  opts: LoopOptions & { groups?: ProcessGroup[] },
): Promise<{ run: TurnRunSummary & { exhausted: boolean }; cpu: Record<string, GroupUsage> }> {
  // Enough conversations for a generous rate (more than the direct path reaches here).
  const n = Math.ceil(opts.concurrency + (opts.durationMs / 1000) * 600);
  const conversationIds = await ctx.stack.seedConversations(n, opts.history ?? 0);
  const contents = conversationIds.map((_, i) => simContent(i, opts.words, opts.delayMs));
  const meter = new CpuMeter(
    opts.groups ?? ctx.stack.groups([{ name: 'client', pids: () => [ctx.client.pid] }]),
  );
  await meter.begin();
  const run = await ctx.client.call<TurnRunSummary & { exhausted: boolean }>('loop', {
    conversationIds,
    contents,
    concurrency: opts.concurrency,
    durationMs: opts.durationMs,
    turnTimeoutMs: 60_000,
  });
  const cpu = await meter.end();
  return { run, cpu };
}

/** The same closed loop straight from the SDK (each request carrying the same history, if any). */
export async function directLoop(
  ctx: BenchContext,
  opts: LoopOptions,
): Promise<{ run: TurnRunSummary; cpu: Record<string, GroupUsage> }> {
  const contents = Array.from({ length: 1000 }, (_, i) => simContent(i, opts.words, opts.delayMs));
  const meter = new CpuMeter([
    { name: 'client', pids: () => [ctx.direct.pid] },
    { name: 'sim', pids: () => [ctx.stack.sim.pid] },
  ]);
  await meter.begin();
  const run = await ctx.direct.call<TurnRunSummary>('loop', {
    contents,
    concurrency: opts.concurrency,
    durationMs: opts.durationMs,
    history: historyMessages(opts.history ?? 0, HISTORY_WORDS),
  });
  const cpu = await meter.end();
  return { run, cpu };
}

/** Warm both paths up (JIT, pools, connections); nothing is recorded. */
export async function warmUp(ctx: BenchContext, concurrency = 5, history = 0): Promise<void> {
  const opts = { concurrency, durationMs: ctx.profile.warmupMs, words: 40, delayMs: 0, history };
  await turnstreamLoop(ctx, opts);
  await directLoop(ctx, opts);
}
