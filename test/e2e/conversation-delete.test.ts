import { sweepExpiredConversations } from '@turnstream/api';
import { TURNS_INTAKE_QUEUE, TURNS_QUEUE, turnJobId } from '@turnstream/contracts';
import { silentLogger } from '@turnstream/logger';
import { conversationKeys } from '@turnstream/streams';
import { waitFor } from '@turnstream/testkit';
import { WEBHOOK_FANOUT_QUEUE } from '@turnstream/webhooks';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_URL } from '../support/system.ts';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, history, postMessage, waitForTurn } from '../support/turns.ts';

// Issue 11: DELETE /v1/conversations/:id and the retention sweeper, through the real API, worker and queue.
const sys = systemFixture({ apiEnv: { RETENTION_SWEEP_MS: '0' } });
let bullRedis: Redis;
let queue: Queue;
let intakeQueue: Queue;
let webhookQueue: Queue;
beforeAll(async () => {
  bullRedis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  queue = new Queue(TURNS_QUEUE, { connection: bullRedis, prefix: sys.bullPrefix });
  intakeQueue = new Queue(TURNS_INTAKE_QUEUE, { connection: bullRedis, prefix: sys.bullPrefix });
  webhookQueue = new Queue(WEBHOOK_FANOUT_QUEUE, { connection: bullRedis, prefix: sys.bullPrefix });
});
afterAll(async () => {
  await queue?.close();
  await intakeQueue?.close();
  await webhookQueue?.close();
  bullRedis?.disconnect();
});

/** Rows of every table a conversation owns. */
async function rowsOf(conversationId: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of ['conversations', 'messages', 'sessions', 'assistant_transcripts', 'turn_attempts']) {
    const column = table === 'conversations' ? 'id' : 'conversation_id';
    const [row] = await sys.tdb.sql<{ n: number }[]>`
      select count(*)::int as n from ${sys.tdb.sql(table)} where ${sys.tdb.sql(column)} = ${conversationId}`;
    counts[table] = row!.n;
  }
  return counts;
}

const EMPTY = { conversations: 0, messages: 0, sessions: 0, assistant_transcripts: 0, turn_attempts: 0 };

describe('DELETE /v1/conversations/:id', () => {
  it('cancels the running turn first, then removes rows, queued jobs and the event log', async () => {
    const conv = await createConversation(sys);
    const done = await postMessage(sys, conv, 'a first question');
    await waitForTurn(sys, conv, done);
    expect((await rowsOf(conv)).assistant_transcripts).toBeGreaterThan(0);

    // A long turn, running, and one queued behind it.
    const running = await postMessage(sys, conv, '[[sim words=400 delay=30]] a long answer');
    const queued = await postMessage(sys, conv, 'waits for the long one');
    await waitFor(async () => (await queue.getJob(turnJobId(running)))?.isActive(), {
      message: 'the long turn to run',
    });
    const log = conversationKeys(sys.redisPrefix, conv).log;
    expect(await sys.redis.exists(log)).toBe(1);

    const res = await sys.api('DELETE', `/v1/conversations/${conv}`);
    expect(res.status).toBe(204);

    // The running turn had ended (cancelled by its worker, its job completed) before the answer, so its
    // job went with the others; nothing is left.
    expect(await queue.getJob(turnJobId(running))).toBeUndefined();
    expect(await queue.getJob(turnJobId(queued))).toBeUndefined();
    expect(await queue.getJob(turnJobId(done))).toBeUndefined();
    expect(await rowsOf(conv)).toEqual(EMPTY);
    expect(await sys.redis.exists(log)).toBe(0);
    expect((await sys.api('GET', `/v1/conversations/${conv}`)).status).toBe(404);
    expect((await sys.api('GET', `/v1/conversations/${conv}/messages`)).body.error.code).toBe(
      'conversation_not_found',
    );

    // Audited, with the key that did it.
    const [audit] = await sys.tdb.sql<
      { action: string; actor_role: string; detail: { cancelled: number } }[]
    >`
      select action, actor_role, detail from admin_actions where conversation_id = ${conv}`;
    expect(audit).toMatchObject({ action: 'conversation.delete', detail: { cancelled: 2 } });

    // The worker keeps serving other conversations.
    const other = await createConversation(sys);
    const after = await postMessage(sys, other, 'still there?');
    expect((await waitForTurn(sys, other, after)).user.status).toBe('completed');
  });

  it("another tenant's conversation is a 404 and stays", async () => {
    const conv = await createConversation(sys);
    const before = await rowsOf(conv);
    const { tenantId } = await sys.tdb.sql<{ tenantId: string }[]>`
      insert into tenants (name) values ('other') returning id as "tenantId"`.then((r) => r[0]!);
    const { createApiKey } = await import('@turnstream/db');
    const other = await createApiKey(sys.tdb.db, { tenantId, role: 'admin' });
    const res = await fetch(`${sys.apiUrl}/v1/conversations/${conv}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${other.key}` },
    });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('conversation_not_found');
    expect(await rowsOf(conv)).toEqual(before);
  });
});

describe('retention sweeper', () => {
  it("deletes conversations idle past their tenant's retention, and keeps the others", async () => {
    const old = await createConversation(sys);
    const fresh = await createConversation(sys);
    const m = await postMessage(sys, old, 'old news');
    await waitForTurn(sys, old, m);
    await sys.tdb.sql`update conversations set updated_at = now() - interval '40 days' where id = ${old}`;
    await sys.tdb.sql`update tenants set retention_days = 30 where id = ${sys.tenantId}`;
    const deps = {
      db: sys.tdb.db,
      redis: sys.redis,
      queue,
      intakeQueue,
      webhookQueue,
      redisPrefix: sys.redisPrefix,
      logger: silentLogger(),
    };
    // No default and the tenant's own 30 days: only the 40-day-old conversation goes.
    expect(await sweepExpiredConversations(deps, { defaultDays: null })).toBe(1);
    expect(await rowsOf(old)).toEqual(EMPTY);
    expect((await rowsOf(fresh)).conversations).toBe(1);
    expect(await history(sys, fresh)).toEqual([]);
    const [audit] = await sys.tdb.sql<{ actor_role: string }[]>`
      select actor_role from admin_actions where conversation_id = ${old}`;
    expect(audit?.actor_role).toBe('system');

    // Back to the deployment default: none (kept forever).
    await sys.tdb.sql`update tenants set retention_days = null where id = ${sys.tenantId}`;
    await sys.tdb.sql`update conversations set updated_at = now() - interval '400 days' where id = ${fresh}`;
    expect(await sweepExpiredConversations(deps, { defaultDays: null })).toBe(0);
    expect(await sweepExpiredConversations(deps, { defaultDays: 365 })).toBe(1);
    expect((await rowsOf(fresh)).conversations).toBe(0);
  });

  it('runs on its own from the BullMQ job scheduler of an API replica', async () => {
    const conv = await createConversation(sys);
    await sys.tdb.sql`update conversations set updated_at = now() - interval '3 days' where id = ${conv}`;
    await sys.tdb.sql`update tenants set retention_days = 2 where id = ${sys.tenantId}`;
    try {
      await sys.startApi({ RETENTION_SWEEP_MS: '200' });
      await waitFor(async () => ((await rowsOf(conv)).conversations === 0 ? true : null), {
        message: 'the scheduled sweep to delete the expired conversation',
      });
    } finally {
      await sys.tdb.sql`update tenants set retention_days = null where id = ${sys.tenantId}`;
    }
  });
});
