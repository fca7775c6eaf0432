import { randomUUID } from 'node:crypto';
import {
  scopedMessageId,
  TURN_JOB_NAME,
  TURN_JOB_OPTIONS,
  TURNS_QUEUE,
  type TurnsClient,
} from '@turnstream/contracts';
import { seedTenant } from '@turnstream/db/testing';
import { waitFor } from '@turnstream/testkit';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, history, postMessage, waitForTurn } from '../support/turns.ts';
import { type SystemTurnsClient, systemTurnsClient } from '../support/turns-client.ts';

// Message ids handed in by other services (TurnsClient, or jobs straight on the turns queue) are
// scoped to their tenant: another tenant's id, or the same id chosen by two tenants, behaves like a
// fresh one. Nothing of the other tenant is revealed, taken or changed.
const sys = systemFixture();
let connection: SystemTurnsClient;
let client: TurnsClient;
let queue: Queue;
beforeAll(async () => {
  connection = systemTurnsClient(sys);
  client = connection.client;
  queue = new Queue(TURNS_QUEUE, { connection: connection.redis, prefix: sys.bullPrefix });
});
afterAll(async () => {
  await queue?.close();
  await connection?.close();
});

async function userRows(tenantId: string) {
  return sys.tdb.sql<{ id: string; conversationId: string; content: string; status: string }[]>`
    select id, conversation_id as "conversationId", content, status from messages
    where tenant_id = ${tenantId} and role = 'user' order by seq`;
}

describe('message ids of directly enqueued messages', () => {
  it('two tenants choosing the same id get a message each; neither learns of the other', async () => {
    const b = await seedTenant(sys.tdb.db, 'tenant-b');
    const convA = await createConversation(sys);
    const id = randomUUID();
    const a = await client.enqueue({
      tenantId: sys.tenantId,
      conversationId: convA,
      messageId: id,
      content: 'A',
    });
    expect(a.messageId).toBe(scopedMessageId(sys.tenantId, id));
    const sentB = await client.enqueue({
      tenantId: b.tenant.id,
      externalConversationId: 'b-conv',
      messageId: id,
      content: 'B',
    });
    expect(sentB.conversationId).not.toBe(convA);
    expect(sentB.messageId).toBe(scopedMessageId(b.tenant.id, id));
    expect(sentB.messageId).not.toBe(a.messageId);
    expect((await client.waitForReply(a.messageId)).status).toBe('completed');
    expect((await client.waitForReply(sentB.messageId)).status).toBe('completed');
    expect((await userRows(b.tenant.id)).map((m) => [m.id, m.content])).toEqual([[sentB.messageId, 'B']]);
    expect((await history(sys, convA)).filter((m) => m.role === 'user').map((m) => m.content)).toEqual(['A']);

    // The same id again, or the id Turnstream returned, is the same message: no second one, no second reply.
    const again = await client.enqueue({
      tenantId: sys.tenantId,
      conversationId: convA,
      messageId: id,
      content: 'A',
    });
    const byStored = await client.enqueue({
      tenantId: sys.tenantId,
      conversationId: convA,
      messageId: a.messageId,
      content: 'A',
    });
    expect(again.messageId).toBe(a.messageId);
    expect(byStored.messageId).toBe(a.messageId);
    expect((await history(sys, convA)).map((m) => m.role)).toEqual(['user', 'assistant']);
  });

  it("another tenant's message id, through the client or straight on the turns queue, is a fresh message", async () => {
    const b = await seedTenant(sys.tdb.db, 'tenant-c');
    const convA = await createConversation(sys);
    const a = await client.enqueue({ tenantId: sys.tenantId, conversationId: convA, content: 'mine' });
    expect((await client.waitForReply(a.messageId)).status).toBe('completed');
    const viaApi = await postMessage(sys, convA, 'mine too');
    expect((await waitForTurn(sys, convA, viaApi)).user.status).toBe('completed');
    const aBefore = await userRows(sys.tenantId);

    // Probing A's id through the client: B gets its own new message, as with any fresh id.
    const probe = await client.enqueue({
      tenantId: b.tenant.id,
      externalConversationId: 'probe',
      messageId: a.messageId,
      content: 'probe',
    });
    expect(probe.messageId).not.toBe(a.messageId);
    expect((await client.waitForReply(probe.messageId)).status).toBe('completed');

    // An id the API gave A, straight on the turns queue with content (the previous job version).
    const [row] = await sys.tdb.sql<{ id: string }[]>`
      select id from conversations where tenant_id = ${b.tenant.id} and external_id = 'probe'`;
    const job = await queue.add(
      TURN_JOB_NAME,
      { v: 1, tenantId: b.tenant.id, conversationId: row!.id, messageId: viaApi, content: 'squat' },
      { ...TURN_JOB_OPTIONS, jobId: `direct-${randomUUID()}` },
    );
    const done = await waitFor(async () => {
      const j = await queue.getJob(job.id!);
      return j?.finishedOn ? j : null;
    });
    expect(done.failedReason).toBeUndefined();
    expect(done.returnvalue).toMatchObject({ outcome: 'completed' });
    const bRows = await userRows(b.tenant.id);
    expect(bRows.map((m) => m.content)).toEqual(['probe', 'squat']);
    expect(bRows.every((m) => m.id !== a.messageId && m.id !== viaApi && m.status === 'completed')).toBe(
      true,
    );
    // A's message and reply are as they were.
    expect(await userRows(sys.tenantId)).toEqual(aBefore);
    expect((await history(sys, convA)).map((m) => m.role)).toEqual([
      'user',
      'assistant',
      'user',
      'assistant',
    ]);
  });
});
