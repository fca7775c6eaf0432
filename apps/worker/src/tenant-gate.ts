import { type Db, getTenant } from '@turnstream/db';
import type { Logger } from '@turnstream/logger';
import { DelayedError, type Job, type Queue } from 'bullmq';
import type { TenantSlots } from './tenant-slots.ts';

/**
 * The per-tenant gate at the start of a turn: a turn runs only while its tenant holds one of its
 * running-turn slots (fleet-wide, see TenantSlots). Over the limit the job waits in the queue —
 * delayed, which is not an attempt — and is woken as soon as one of its tenant's turns ends, so one
 * tenant posting hundreds of messages fills at most its share of the workers and other tenants'
 * turns still start at once.
 */

/** How long one worker trusts a tenant's limit before reading it again. */
const LIMIT_CACHE_MS = 10_000;
/** Longest wait of a job whose tenant is at its limit (it is woken sooner when a slot frees). */
const MAX_WAIT_MS = 5_000;

/** Each tenant's running-turn limit: its own (`pnpm tenant:limits`) or the deployment default. */
export class RunningTurnLimits {
  private readonly cache = new Map<string, { limit: number; until: number }>();

  constructor(
    private readonly db: Db,
    private readonly defaultLimit: number,
  ) {}

  async of(tenantId: string, now = Date.now()): Promise<number> {
    const cached = this.cache.get(tenantId);
    if (cached && cached.until > now) return cached.limit;
    const limit = (await getTenant(this.db, tenantId))?.maxRunningTurns ?? this.defaultLimit;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(tenantId, { limit, until: now + LIMIT_CACHE_MS });
    return limit;
  }
}

export interface TenantGateDeps {
  slots: TenantSlots;
  limits: RunningTurnLimits;
  queue: Queue;
  logger: Logger;
  /** First wait of a job whose tenant is at its limit (doubles per wait, at most 5 s). */
  waitMs: number;
}

/**
 * Run `turn` holding one of the tenant's slots; without a free slot, put the job back to wait (not an
 * attempt) and throw BullMQ's DelayedError — unless `insteadOfWaiting` ends the job another way (its
 * result, or null to wait). The slot is freed when `turn` settles, and the tenant's oldest waiting job
 * is woken.
 */
export async function withTenantSlot<T>(
  deps: TenantGateDeps,
  job: Job,
  token: string | undefined,
  tenantId: string,
  turn: () => Promise<T>,
  opts: { insteadOfWaiting?: () => Promise<T | null> } = {},
): Promise<T> {
  const limit = await deps.limits.of(tenantId);
  const slot = await deps.slots.acquire(tenantId, String(job.id), limit);
  if (!slot) {
    const instead = await opts.insteadOfWaiting?.();
    if (instead != null) {
      await deps.slots.forget(tenantId, String(job.id));
      return instead;
    }
    deps.logger.debug(
      { event: 'turn.tenant_waiting', jobId: job.id, tenantId, limit },
      'tenant at its limit',
    );
    return waitForSlot(job, token, deps.waitMs);
  }
  try {
    return await turn();
  } finally {
    const next = await slot.release().catch(() => null);
    if (next) await wakeWaiting(deps, tenantId, next);
  }
}

async function waitForSlot(job: Job, token: string | undefined, baseMs: number): Promise<never> {
  const waits = Math.max(0, job.attemptsStarted - job.attemptsMade - 1);
  const ms = Math.max(baseMs, Math.min(MAX_WAIT_MS, baseMs * 2 ** Math.min(waits, 10)));
  await job.moveToDelayed(Date.now() + ms + Math.floor(Math.random() * ms * 0.25), token);
  throw new DelayedError();
}

/** Promote the tenant's oldest waiting job; entries whose job is gone are dropped. */
async function wakeWaiting(deps: TenantGateDeps, tenantId: string, first: string): Promise<void> {
  let jobId: string | null = first;
  for (let tries = 0; jobId && tries < 5; tries++) {
    const waiting = await deps.queue.getJob(jobId).catch(() => undefined);
    const state = waiting ? await waiting.getState().catch(() => 'unknown') : 'missing';
    if (state === 'delayed') {
      await waiting!.promote().catch(() => undefined);
      return;
    }
    if (state === 'waiting' || state === 'active' || state === 'prioritized') return;
    await deps.slots.forget(tenantId, jobId);
    jobId = (await deps.slots.oldestWaiting(tenantId)) ?? null;
  }
}
