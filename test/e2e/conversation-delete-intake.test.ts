import { randomUUID } from 'node:crypto';
import { sweepExpiredConversations } from '@turnstream/api';
import {
  TURN_JOB_NAME,
  TURNS_INTAKE_QUEUE,
  TURNS_QUEUE,
  TurnRejectedError,
  type TurnsClient,
} from '@turnstream/contracts';
import { seedTenant } from '@turnstream/db/testing';
import { silentLogger } from '@turnstream/logger';
import { conversationKeys } from '@turnstream/streams';
import { sampleValue } from '@turnstream/telemetry/testing';
import { waitFor } from '@turnstream/testkit';
import { WEBHOOK_FANOUT_QUEUE } from '@turnstream/webhooks';
import { type Job, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation } from '../support/turns.ts';
import { type SystemTurnsClient, systemTurnsClient } from '../support/turns-client.ts';
import { workerMetrics } from '../support/worker-metrics.ts';

// Deleting a conversation also removes its messages still on the intake queue (handed in by
// TurnsClient or a plain producer, not stored yet), and an intake a worker holds meanwhile does not
// bring it back. No worker runs until a test starts one, so the intake queue is not consumed.
const sys = systemFixture({ workers: 0, apiEnv: { RETENTION_SWEEP_MS: '0' } });
let connection: SystemTurnsClient;
let redis: Redis;
let client: TurnsClient;
let intake: Queue;
let turns: Queue;
let webhookQueue: Queue;
beforeAll(async () => {
  connection = systemTurnsClient(sys, { enqueueTimeoutMs: 120_000 });
  ({ redis, client } = connection);
  intake = new Queue(TURNS_INTAKE_QUEUE, { connection: redis, prefix: sys.bullPrefix });
  turns = new Queue(TURNS_QUEUE, { connection: redis, prefix: sys.bullPrefix });
  webhookQueue = new Queue(WEBHOOK_FANOUT_QUEUE, { connection: redis, prefix: sys.bullPrefix });
});
afterEach(async () => {
  // Each test starts with nothing consuming the intake queue.
  await Promise.all(sys.workers.map((w) => w.stop()));
  sys.workers.length = 0;
});
afterAll(async () => {
  await intake?.close();
  await turns?.close();
  await webhookQueue?.close();
  await connection?.close();
});

/** A plain producer's intake job (the documented JSON), with BullMQ options. */
function plainJob(data: Record<string, unknown>, opts: { delay?: number; priority?: number } = {}) {
  return intake.add(
    TURN_JOB_NAME,
    { v: 2, tenantId: sys.tenantId, messageId: randomUUID(), ...data },
    { jobId: `plain-${randomUUID()}`, ...opts },
  );
}

async function pendingIntakeJobs(): Promise<Job[]> {
  return intake.getJobs(['waiting', 'delayed', 'prioritized', 'active']);
}

/** What is left of a tenant's conversation (by its id and by its external id) anywhere. */
async function traces(tenantId: string, conversationId: string, externalId: string) {
  const [row] = await sys.tdb.sql<{ conversations: number; messages: number }[]>`
    select
      (select count(*)::int from conversations
        where id = ${conversationId} or (tenant_id = ${tenantId} and external_id = ${externalId})) as conversations,
      (select count(*)::int from messages m join conversations c on c.id = m.conversation_id
        where c.id = ${conversationId} or (c.tenant_id = ${tenantId} and c.external_id = ${externalId})) as messages`;
  const log = await sys.redis.exists(conversationKeys(sys.redisPrefix, conversationId).log);
  return { ...row!, log };
}

const NOTHING = { conversations: 0, messages: 0, log: 0 };

describe('DELETE /v1/conversations/:id and the intake queue', () => {
  it("removes the conversation's messages waiting on the intake queue; consuming it afterwards brings nothing back", async () => {
    const externalId = `crm-${randomUUID()}`;
    const doomed = await createConversation(sys, { externalId });
    const kept = await createConversation(sys);
    const other = await seedTenant(sys.tdb.db, 'other-tenant');

    // Handed in while no worker consumes the intake queue: by id and by external id through the
    // client, delayed and prioritized by a plain producer; and two that must stay.
    const byId = client.enqueue({ tenantId: sys.tenantId, conversationId: doomed, content: 'by id' });
    const byExternal = client.enqueue({
      tenantId: sys.tenantId,
      externalConversationId: externalId,
      content: 'by external id',
    });
    const doomedResults = Promise.allSettled([byId, byExternal]);
    const control = client.enqueue({ tenantId: sys.tenantId, conversationId: kept, content: 'control' });
    await plainJob({ externalConversationId: externalId, content: 'delayed' }, { delay: 300 });
    await plainJob({ conversationId: doomed, content: 'prioritized' }, { priority: 5 });
    // Another tenant's conversation with the same external id is not this one.
    const othersJob = await plainJob({
      tenantId: other.tenant.id,
      externalConversationId: externalId,
      content: 'same external id, other tenant',
    });
    await waitFor(async () => ((await pendingIntakeJobs()).length === 6 ? true : null), {
      message: 'the six intake jobs to be queued',
    });

    expect((await sys.api('DELETE', `/v1/conversations/${doomed}`)).status).toBe(204);

    // Only the two messages of other conversations are left on the intake queue.
    const left = (await pendingIntakeJobs()).map((j) => j.data.content).sort();
    expect(left).toEqual(['control', 'same external id, other tenant']);
    const [audit] = await sys.tdb.sql<{ detail: { intakeJobsRemoved: number } }[]>`
      select detail from admin_actions where conversation_id = ${doomed}`;
    expect(audit?.detail.intakeJobsRemoved).toBe(4);
    // The client learns at once that its messages were removed unstored.
    for (const result of await doomedResults) {
      expect(result.status).toBe('rejected');
      const err = (result as PromiseRejectedResult).reason;
      expect(err).toBeInstanceOf(TurnRejectedError);
      expect((err as TurnRejectedError).code).toBe('removed');
    }

    // Now consume: the rest is taken in and answered; nothing of the deleted conversation comes back.
    const metrics = await workerMetrics();
    await sys.startWorker(metrics.env);
    const sent = await control;
    expect((await client.waitForReply(sent.messageId, { timeoutMs: 30_000 })).status).toBe('completed');
    await waitFor(async () => ((await othersJob.getState()) === 'completed' ? true : null), {
      message: "the other tenant's message to be taken in",
    });
    await waitFor(async () => ((await pendingIntakeJobs()).length === 0 ? true : null), {
      message: 'the intake queue to drain',
    });
    expect(await traces(sys.tenantId, doomed, externalId)).toEqual(NOTHING);
    const [others] = await sys.tdb.sql<{ n: number }[]>`
      select count(*)::int as n from conversations
      where tenant_id = ${other.tenant.id} and external_id = ${externalId}`;
    expect(others?.n).toBe(1);

    // The worker's queue-depth gauges cover the intake queue too.
    const samples = await metrics.scrape();
    const completed = await intake.getCompletedCount();
    expect(completed).toBeGreaterThanOrEqual(2);
    expect(
      sampleValue(samples, 'turnstream_queue_jobs', {
        queue: TURNS_INTAKE_QUEUE,
        state: 'completed',
      }),
    ).toBe(completed);
  });

  it('an intake job a worker holds during the deletion does not create the conversation again; a later one does', async () => {
    const externalId = `crm-${randomUUID()}`;
    const doomed = await createConversation(sys, { externalId });
    const held = client.enqueue({
      tenantId: sys.tenantId,
      externalConversationId: externalId,
      content: 'taken before the deletion',
    });
    const heldResult = held.catch((err: unknown) => err);

    // Take the job as a worker does (active, locked), then delete: the deletion cannot remove it.
    const takerConnection = redis.duplicate({ maxRetriesPerRequest: null });
    const taker = new Worker(TURNS_INTAKE_QUEUE, null, {
      connection: takerConnection,
      prefix: sys.bullPrefix,
    });
    const token = randomUUID();
    try {
      const job = await waitFor(async () => (await taker.getNextJob(token)) ?? null, {
        message: 'the intake job to be taken',
      });
      expect(job.data.externalConversationId).toBe(externalId);
      expect((await sys.api('DELETE', `/v1/conversations/${doomed}`)).status).toBe(204);
      expect(await job.getState()).toBe('active');
      // The holder goes away before storing anything; the job is taken over, as after a stall.
      await job.moveToWait(token);
    } finally {
      await taker.close();
      takerConnection.disconnect();
    }

    await sys.startWorker();
    const err = await heldResult;
    expect(err).toBeInstanceOf(TurnRejectedError);
    expect((err as TurnRejectedError).code).toBe('conversation_deleted');
    expect(await traces(sys.tenantId, doomed, externalId)).toEqual(NOTHING);

    // A message handed in after the deletion starts a new conversation under the same external id.
    const fresh = await client.enqueue({
      tenantId: sys.tenantId,
      externalConversationId: externalId,
      content: 'after the deletion',
    });
    expect(fresh.conversationId).not.toBe(doomed);
    expect((await client.waitForReply(fresh.messageId, { timeoutMs: 30_000 })).status).toBe('completed');
  });

  it("the retention sweeper removes an expired conversation's intake jobs too", async () => {
    const externalId = `crm-${randomUUID()}`;
    const expired = await createConversation(sys, { externalId });
    await sys.tdb.sql`update conversations set updated_at = now() - interval '40 days' where id = ${expired}`;
    const waiting = await plainJob({ externalConversationId: externalId, content: 'waits for intake' });
    const deps = {
      db: sys.tdb.db,
      redis: sys.redis,
      queue: turns,
      intakeQueue: intake,
      webhookQueue,
      redisPrefix: sys.redisPrefix,
      logger: silentLogger(),
    };
    expect(await sweepExpiredConversations(deps, { defaultDays: 30 })).toBe(1);
    expect(await intake.getJob(waiting.id!)).toBeUndefined();
    expect(await traces(sys.tenantId, expired, externalId)).toEqual(NOTHING);
    // Announced like a deletion through the API, naming the sweep.
    const announced = await webhookQueue.getJob(`fanout-conversation-${expired}-deleted`);
    expect(announced?.data).toMatchObject({ type: 'conversation.deleted', externalId, via: 'retention' });
  });
});
