import type { BenchContext } from '../lib/context.ts';
import { CpuMeter, type GroupUsage, type ProcessGroup } from '../lib/proc.ts';
import { simContent, type TurnRunSummary } from '../lib/turns.ts';

/** Closed-loop Turnstream turns: `concurrency` clients, fresh conversation per turn, for `durationMs`. */
export async function turnstreamLoop(
  ctx: BenchContext,
  opts: { concurrency: number; durationMs: number; words: number; delayMs: number; groups?: ProcessGroup[] },
): Promise<{ run: TurnRunSummary & { exhausted: boolean }; cpu: Record<string, GroupUsage> }> {
  // Enough conversations for a generous rate (more than the direct path reaches here).
  const n = Math.ceil(opts.concurrency + (opts.durationMs / 1000) * 600);
  const conversationIds = await ctx.stack.seedConversations(n);
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

/** The same closed loop straight from the SDK. */
export async function directLoop(
  ctx: BenchContext,
  opts: { concurrency: number; durationMs: number; words: number; delayMs: number },
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
  });
  const cpu = await meter.end();
  return { run, cpu };
}

/** Warm both paths up (JIT, pools, connections); nothing is recorded. */
export async function warmUp(ctx: BenchContext, concurrency = 5): Promise<void> {
  const opts = { concurrency, durationMs: ctx.profile.warmupMs, words: 40, delayMs: 0 };
  await turnstreamLoop(ctx, opts);
  await directLoop(ctx, opts);
}
