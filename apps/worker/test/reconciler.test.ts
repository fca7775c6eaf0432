import { randomBytes } from 'node:crypto';
import { TURN_JOB_OPTIONS, turnJobId } from '@turnstream/contracts';
import { insertUserMessage } from '@turnstream/db';
import { createTestDatabase, seedConversation, seedTenant, type TestDatabase } from '@turnstream/db/testing';
import { silentLogger } from '@turnstream/logger';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Reconciler } from '../src/reconciler.ts';

const redisUrl = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
let tdb: TestDatabase;
let queue: Queue;
let tenantId: string;

beforeAll(async () => {
  tdb = await createTestDatabase();
  tenantId = (await seedTenant(tdb.db)).tenant.id;
  queue = new Queue('turns', {
    connection: { host: redisUrl.hostname, port: Number(redisUrl.port || 6379) },
    prefix: `tsr${randomBytes(4).toString('hex')}`,
  });
});
afterAll(async () => {
  await queue.obliterate({ force: true });
  await queue.close();
  await tdb.drop();
});

describe('reconciler', () => {
  it('re-enqueues a pending message whose job is missing, once, and leaves existing jobs alone', async () => {
    const conv = await seedConversation(tdb.db, tenantId);
    const lost = await insertUserMessage(tdb.db, { tenantId, conversationId: conv.id, content: 'lost' });
    const queued = await insertUserMessage(tdb.db, { tenantId, conversationId: conv.id, content: 'queued' });
    if (!lost.ok || !queued.ok) throw new Error('insert failed');
    await queue.add(
      'turn',
      { v: 1, tenantId, conversationId: conv.id, messageId: queued.message.id },
      {
        ...TURN_JOB_OPTIONS,
        jobId: turnJobId(queued.message.id),
      },
    );
    const reconciler = new Reconciler({
      db: tdb.db,
      queue,
      logger: silentLogger(),
      intervalMs: 0,
      minAgeMs: -1000,
    });
    expect(await reconciler.runOnce()).toBe(1);
    const job = await queue.getJob(turnJobId(lost.message.id));
    expect(job?.data).toMatchObject({ v: 1, tenantId, conversationId: conv.id, messageId: lost.message.id });
    expect(await reconciler.runOnce()).toBe(0);
    expect(await queue.getJobCounts('wait')).toEqual({ wait: 2 });
  });
});
