import { duplicateRedis, type RedisClient } from '@turnstream/config';
import { listExpiredConversations, pruneConversationTombstones, recordAdminAction } from '@turnstream/db';
import type { Logger } from '@turnstream/logger';
import { Queue, Worker } from 'bullmq';
import { type PurgeDeps, purgeConversation } from './conversation-deletion.ts';

/** The BullMQ queue of the API's scheduled maintenance (one job per interval for the whole fleet). */
export const MAINTENANCE_QUEUE = 'maintenance';
/** Job scheduler id (and job name) of the retention sweep. */
export const RETENTION_SWEEP = 'retention-sweep';

/** Audit rows of the sweeper name this actor (no API key did it). */
export const SYSTEM_ACTOR = {
  actorKeyId: '00000000-0000-0000-0000-000000000000',
  actorKeyPrefix: 'retention',
  actorRole: 'system',
  actorTenantId: '00000000-0000-0000-0000-000000000000',
} as const;

/**
 * How long a deleted conversation's tombstone is kept: far longer than an intake job taken before the
 * deletion can still be retried or taken over (seconds to minutes).
 */
export const TOMBSTONE_KEEP_MS = 7 * 24 * 3_600_000;

export interface SweepOptions {
  /** Retention of tenants without their own (`RETENTION_DAYS`); null: kept forever. */
  defaultDays: number | null;
  /** Conversations deleted per batch. Default 100. */
  batch?: number;
  now?: Date;
}

/**
 * Delete every conversation past its tenant's retention period (idle ones only: a conversation with a
 * pending or streaming turn waits for the next sweep) the way `DELETE /v1/conversations/:id` purges one
 * (its messages still on the intake queue included), each recorded in the audit trail; then forget
 * tombstones older than {@link TOMBSTONE_KEEP_MS}. Returns how many were deleted.
 */
export async function sweepExpiredConversations(
  deps: PurgeDeps & { logger: Logger },
  opts: SweepOptions,
): Promise<number> {
  const batch = opts.batch ?? 100;
  let deleted = 0;
  for (;;) {
    const expired = await listExpiredConversations(deps.db, {
      defaultDays: opts.defaultDays,
      limit: batch,
      ...(opts.now ? { now: opts.now } : {}),
    });
    for (const conversation of expired) {
      const outcome = await purgeConversation(deps, conversation, 'retention');
      if (!outcome.deleted) continue;
      deleted += 1;
      await recordAdminAction(deps.db, {
        ...SYSTEM_ACTOR,
        action: 'conversation.delete',
        tenantId: conversation.tenantId,
        conversationId: conversation.id,
        detail: { via: 'retention', ...outcome },
      });
    }
    if (expired.length < batch) break;
  }
  const now = opts.now?.getTime() ?? Date.now();
  const tombstonesPruned = await pruneConversationTombstones(deps.db, new Date(now - TOMBSTONE_KEEP_MS));
  deps.logger.info({ event: 'retention.sweep_completed', deleted, tombstonesPruned }, 'retention sweep done');
  return deleted;
}

export interface RetentionSweeperOptions extends SweepOptions {
  deps: PurgeDeps & { logger: Logger };
  /** Duplicated for the queue and the worker (closed by `close()`). */
  connection: RedisClient;
  bullPrefix: string;
  /** Interval between sweeps, in ms. */
  everyMs: number;
  queueName?: string;
}

/**
 * Schedule the sweep with a BullMQ job scheduler (one job per interval whatever the number of API
 * replicas; upserting it again from each replica changes nothing) and consume it here.
 */
export async function startRetentionSweeper(
  opts: RetentionSweeperOptions,
): Promise<{ close(): Promise<void> }> {
  const name = opts.queueName ?? MAINTENANCE_QUEUE;
  // BullMQ leaves connections it was given open: these two are ours.
  const queueConnection = duplicateRedis(opts.connection, { maxRetriesPerRequest: null });
  const workerConnection = duplicateRedis(opts.connection, { maxRetriesPerRequest: null });
  const queue = new Queue(name, { connection: queueConnection, prefix: opts.bullPrefix });
  // Connection errors are reported by the API's main connection; BullMQ and ioredis reconnect.
  for (const connection of [queueConnection, workerConnection]) connection.on('error', () => {});
  queue.on('error', () => {});
  await queue.upsertJobScheduler(
    RETENTION_SWEEP,
    { every: opts.everyMs },
    { name: RETENTION_SWEEP, opts: { removeOnComplete: 100, removeOnFail: 100 } },
  );
  const worker = new Worker(
    name,
    async (job) => {
      if (job.name !== RETENTION_SWEEP) return 0;
      return sweepExpiredConversations(opts.deps, opts);
    },
    { connection: workerConnection, prefix: opts.bullPrefix, concurrency: 1 },
  );
  worker.on('failed', (_job, err) =>
    opts.deps.logger.warn({ event: 'retention.sweep_failed', err: err.message }, 'retention sweep failed'),
  );
  worker.on('error', () => {}); // connection errors: BullMQ reconnects; the main connection reports them
  return {
    async close() {
      await worker.close();
      await queue.close();
      await Promise.allSettled([queueConnection.quit(), workerConnection.quit()]);
    },
  };
}
