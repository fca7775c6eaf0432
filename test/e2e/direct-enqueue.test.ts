import { randomUUID } from 'node:crypto';
import { scopedMessageId, TURN_JOB_NAME, TURNS_QUEUE, TurnsClient } from '@turnstream/contracts';
import { insertUserMessage } from '@turnstream/db';
import { waitFor } from '@turnstream/testkit';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_URL } from '../support/system.ts';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, history, postMessage, waitForTurn } from '../support/turns.ts';

// Other services enqueue turns directly (TurnsClient); redelivered jobs never make a second reply.
const sys = systemFixture();
let client: TurnsClient;
let queue: Queue;
const connection = { host: new URL(REDIS_URL).hostname, port: Number(new URL(REDIS_URL).port || 6379) };
beforeAll(async () => {
  client = new TurnsClient({ connection, prefix: sys.bullPrefix });
  queue = new Queue(TURNS_QUEUE, { connection, prefix: sys.bullPrefix });
});
afterAll(async () => {
  await client?.close();
  await queue?.close();
});

describe('direct enqueue', () => {
  it('a job with content and no stored message is answered; enqueuing it twice makes one job and one reply', async () => {
    const conv = await createConversation(sys);
    const messageId = randomUUID();
    const input = {
      tenantId: sys.tenantId,
      conversationId: conv,
      messageId,
      content: 'from another service',
    };
    const first = await client.enqueue(input);
    const second = await client.enqueue(input);
    expect(second).toEqual(first);
    // Stored under the producer's id scoped to the tenant.
    expect(first.messageId).toBe(scopedMessageId(sys.tenantId, messageId));
    const t = await waitForTurn(sys, conv, first.messageId);
    expect(t.user).toMatchObject({ content: 'from another service', status: 'completed' });
    expect(t.reply?.status).toBe('completed');
    expect((await history(sys, conv)).filter((m) => m.replyTo === first.messageId)).toHaveLength(1);
  });

  it('a job on the turns queue with content whose message row already exists (an earlier delivery stored it) is answered once from that row', async () => {
    const conv = await createConversation(sys);
    const producerId = randomUUID();
    const id = scopedMessageId(sys.tenantId, producerId);
    const stored = await insertUserMessage(sys.tdb.db, {
      id,
      tenantId: sys.tenantId,
      conversationId: conv,
      content: 'stored before the job',
    });
    expect(stored).toMatchObject({ ok: true, created: true });
    // The job repeats the content; the worker's insert finds the row and uses it (no conflict, no retry).
    await queue.add(
      TURN_JOB_NAME,
      {
        v: 1,
        tenantId: sys.tenantId,
        conversationId: conv,
        messageId: producerId,
        content: 'stored before the job',
      },
      { jobId: `direct-${producerId}`, attempts: 3 },
    );
    const t = await waitForTurn(sys, conv, id);
    expect(t.user).toMatchObject({ id, content: 'stored before the job', status: 'completed' });
    expect(t.reply?.status).toBe('completed');
    const rows = await sys.tdb.sql<{ role: string }[]>`
      select role from messages where conversation_id = ${conv} order by seq`;
    expect(rows.map((r) => r.role)).toEqual(['user', 'assistant']);
    const attempts = await sys.tdb.sql<{ outcome: string; attempt: number }[]>`
      select outcome, attempt from turn_attempts where message_id = ${id}`;
    expect(attempts).toEqual([{ outcome: 'completed', attempt: 1 }]);
  });

  it('an invalid payload is refused before it reaches the queue', async () => {
    await expect(
      client.enqueue({ tenantId: 'nope', conversationId: 'x', content: '' } as never),
    ).rejects.toThrow();
  });

  it('a redelivered job of a finished message returns the stored reply without calling Claude', async () => {
    const conv = await createConversation(sys);
    const messageId = await postMessage(sys, conv, 'answer me once');
    const done = await waitForTurn(sys, conv, messageId);
    const before = (await sys.simRequests()).length;
    // Another job for the same message (a redelivery, a replayed event, a duplicate from a producer).
    const job = await queue.add(
      TURN_JOB_NAME,
      { v: 1, tenantId: sys.tenantId, conversationId: conv, messageId },
      { jobId: `redelivery-${messageId}`, attempts: 1 },
    );
    const finished = await waitFor(async () => {
      const j = await queue.getJob(job.id!);
      return j?.finishedOn ? j : null;
    });
    expect(finished.returnvalue).toMatchObject({ outcome: 'already_finished', replyId: done.reply!.id });
    expect((await sys.simRequests()).length).toBe(before);
    const replies = (await history(sys, conv)).filter((m) => m.replyTo === messageId);
    expect(replies).toHaveLength(1);
    expect(replies[0]!.content).toBe(done.reply!.content);
  });

  it('a job that fails validation is failed as unrecoverable and writes nothing', async () => {
    const job = await queue.add(TURN_JOB_NAME, { v: 1, tenantId: 'not-a-uuid' }, { attempts: 5 });
    const failed = await waitFor(async () => {
      const j = await queue.getJob(job.id!);
      return j?.finishedOn ? j : null;
    });
    expect(failed.failedReason).toMatch(/^invalid_job: /);
    expect(failed.attemptsMade).toBe(1);
    const [row] = await sys.tdb.sql<{ count: number }[]>`
      select count(*)::int as count from turn_attempts where job_id = ${job.id!}`;
    expect(row!.count).toBe(0);
  });
});
