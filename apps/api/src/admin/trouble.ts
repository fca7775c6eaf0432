import { turnJobId } from '@turnstream/contracts';
import { listFailureLoops, listOpenTurns, listTenants } from '@turnstream/db';
import { Gauge, type Registry } from 'prom-client';
import type { AdminContext } from './context.ts';

/** Job states in which a turn job will still run: a message with one of these is not stuck. */
export const LIVE_JOB_STATES = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

export interface TroubleSettings {
  /** A pending message older than this with no live job is stuck. */
  stuckAfterMs: number;
  /** Window in which failed attempts count towards a failure loop. */
  failureWindowMs: number;
  /** Failed attempts within the window that make a failure loop. */
  failureLoopMin: number;
}

export const DEFAULT_TROUBLE_SETTINGS: TroubleSettings = {
  stuckAfterMs: 5 * 60_000,
  failureWindowMs: 60 * 60_000,
  failureLoopMin: 3,
};

export async function jobState(ctx: AdminContext, messageId: string): Promise<string> {
  const job = await ctx.queue.getJob(turnJobId(messageId));
  return job ? await job.getState() : 'missing';
}

/**
 * Conversations in trouble, for one tenant or all: failure loops (several failed attempts in the
 * window), messages pending past the threshold with no live job (stuck), turns waiting on a rate limit.
 */
export async function troubleReport(ctx: AdminContext, opts: { tenantId?: string; now?: number }) {
  const s = ctx.config.trouble;
  const now = opts.now ?? Date.now();
  const tenantFilter = opts.tenantId ? { tenantId: opts.tenantId } : {};
  const tenants = new Map((await listTenants(ctx.db)).map((t) => [t.id, t.name]));
  const loops = await listFailureLoops(ctx.db, {
    since: new Date(now - s.failureWindowMs),
    minFailures: s.failureLoopMin,
    ...tenantFilter,
  });
  const open = await listOpenTurns(ctx.db, { ...tenantFilter, limit: 500 });
  const stuck = [];
  const rateLimited = [];
  for (const turn of open) {
    const pendingForMs = now - turn.createdAt.getTime();
    if (turn.lastOutcome === 'rate_limited') {
      rateLimited.push({ ...turn, tenantName: tenants.get(turn.tenantId) ?? null, pendingForMs });
      continue;
    }
    if (pendingForMs < s.stuckAfterMs) continue;
    const state = await jobState(ctx, turn.messageId);
    if (!LIVE_JOB_STATES.has(state)) {
      stuck.push({ ...turn, tenantName: tenants.get(turn.tenantId) ?? null, pendingForMs, jobState: state });
    }
  }
  return {
    generatedAt: new Date(now).toISOString(),
    tenantId: opts.tenantId ?? null,
    settings: s,
    queue: {
      name: ctx.queue.name,
      rateLimitTtlMs: Math.max(0, await ctx.queue.getRateLimitTtl()),
      counts: await ctx.queue.getJobCounts(
        'waiting',
        'active',
        'delayed',
        'prioritized',
        'failed',
        'completed',
      ),
    },
    failureLoops: loops.map((l) => ({ ...l, tenantName: tenants.get(l.tenantId) ?? null })),
    stuck,
    rateLimited,
  };
}

export type TroubleReport = Awaited<ReturnType<typeof troubleReport>>;

/** How long one trouble count is reused across scrapes (several Prometheus servers, several replicas). */
const TROUBLE_CACHE_MS = 10_000;

/**
 * `turnstream_trouble_conversations{kind}`: the trouble list's sizes at scrape time (failure_loop,
 * stuck, rate_limited), fleet-wide (every API replica reports the same: aggregate with max).
 */
export function registerTroubleGauge(registry: Registry, ctx: AdminContext): void {
  let cached: { at: number; value: Promise<Record<string, number> | null> } | null = null;
  const counts = () => {
    if (!cached || Date.now() - cached.at > TROUBLE_CACHE_MS) {
      cached = {
        at: Date.now(),
        value: troubleReport(ctx, {})
          .then((r) => ({
            failure_loop: r.failureLoops.length,
            stuck: r.stuck.length,
            rate_limited: r.rateLimited.length,
          }))
          .catch(() => null),
      };
    }
    return cached.value;
  };
  new Gauge({
    name: 'turnstream_trouble_conversations',
    help: 'Entries of the inspector trouble list by kind: failure_loop (conversations), stuck and rate_limited (messages).',
    labelNames: ['kind'],
    registers: [registry],
    async collect() {
      const c = await counts();
      if (!c) return;
      for (const [kind, n] of Object.entries(c)) this.set({ kind }, n);
    },
  });
}
