import { randomBytes } from 'node:crypto';
import { TURN_JOB_OPTIONS, turnJobId } from '@turnstream/contracts';
import { insertUserMessage } from '@turnstream/db';
import { createTestDatabase, seedConversation, seedTenant, type TestDatabase } from '@turnstream/db/testing';
import { silentLogger } from '@turnstream/logger';
import { createTurnStreams, type TurnStreams } from '@turnstream/streams';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransientTurnError } from '../src/errors.ts';
import { Reconciler } from '../src/reconciler.ts';

const redisUrl = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
let tdb: TestDatabase;
let queue: Queue;
let tenantId: string;
let redis: Redis;
let streams: TurnStreams;
const prefix = `tsr${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  tdb = await createTestDatabase();
  tenantId = (await seedTenant(tdb.db)).tenant.id;
  queue = new Queue('turns', {
    connection: { host: redisUrl.hostname, port: Number(redisUrl.port || 6379) },
    prefix,
  });
  redis = new Redis(redisUrl.toString());
  streams = createTurnStreams({ redis, keyPrefix: prefix });
});
afterAll(async () => {
  await queue.obliterate({ force: true });
  await queue.close();
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
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
      streams,
      logger: silentLogger(),
      intervalMs: 0,
      minAgeMs: -1000,
    });
    expect(await reconciler.runOnce()).toBe(1);
    const job = await queue.getJob(turnJobId(lost.message.id));
    expect(job?.data).toMatchObject({ v: 2, tenantId, conversationId: conv.id, messageId: lost.message.id });
    expect(await reconciler.runOnce()).toBe(0);
    expect(await queue.getJobCounts('wait')).toEqual({ wait: 2 });
  });

  /** A pending message whose job a real worker failed for good with `err` while no failed handler ran. */
  async function failedForGood(err: () => Error): Promise<{ conversationId: string; messageId: string }> {
    await queue.obliterate({ force: true });
    const conv = await seedConversation(tdb.db, tenantId);
    const m = await insertUserMessage(tdb.db, { tenantId, conversationId: conv.id, content: 'doomed' });
    if (!m.ok) throw new Error('insert failed');
    await queue.add(
      'turn',
      { v: 1, tenantId, conversationId: conv.id, messageId: m.message.id },
      {
        jobId: turnJobId(m.message.id),
        attempts: 1,
      },
    );
    const { Worker } = await import('bullmq');
    const worker = new Worker(
      'turns',
      async () => {
        throw err();
      },
      { connection: { host: redisUrl.hostname, port: Number(redisUrl.port || 6379) }, prefix },
    );
    const failed = new Promise((resolve) => worker.once('failed', resolve));
    await failed;
    await worker.close();
    return { conversationId: conv.id, messageId: m.message.id };
  }

  async function reconcileFailed(conversationId: string, messageId: string) {
    const reconciler = new Reconciler({
      db: tdb.db,
      queue,
      streams,
      logger: silentLogger(),
      intervalMs: 0,
      minAgeMs: -1000,
    });
    await reconciler.runOnce();
    expect(await (await queue.getJob(turnJobId(messageId)))?.getState()).toBe('failed');
    const rows = await tdb.sql<{ role: string; status: string; error_code: string | null }[]>`
      select role, status, error_code from messages where id = ${messageId} or reply_to = ${messageId} order by seq`;
    const events = (await streams.read(conversationId)).map((e) => e.event);
    return { rows, events };
  }

  it('fails, readably, a pending message whose job failed for good without the turn recording it', async () => {
    // Fail the job the way an unexpected error would, through a real worker.
    const m = await failedForGood(() => new Error('unexpected'));
    const { rows, events } = await reconcileFailed(m.conversationId, m.messageId);
    expect(rows).toEqual([
      { role: 'user', status: 'failed', error_code: null },
      { role: 'error', status: 'failed', error_code: 'internal_error' },
    ]);
    expect(events).toEqual([expect.objectContaining({ type: 'turn.failed', code: 'internal_error' })]);
  });

  it('keeps the code of a transient error left over: transient_exhausted, as the failed handler says', async () => {
    // The failed handler did not run (its worker died, the database was away): only the reason is left.
    const m = await failedForGood(() => new TransientTurnError('overloaded', 10, 'transient'));
    const { rows, events } = await reconcileFailed(m.conversationId, m.messageId);
    expect(rows).toEqual([
      { role: 'user', status: 'failed', error_code: null },
      { role: 'error', status: 'failed', error_code: 'transient_exhausted' },
    ]);
    expect(events).toEqual([expect.objectContaining({ type: 'turn.failed', code: 'transient_exhausted' })]);
  });

  it('takes turns across the fleet: one of many workers scans per interval', async () => {
    const turn = { redis, key: `${prefix}:reconciler-turn` };
    const make = () =>
      new Reconciler({
        db: tdb.db,
        queue,
        streams,
        logger: silentLogger(),
        intervalMs: 60_000,
        minAgeMs: -1000,
        turn,
      });
    const results = await Promise.all(Array.from({ length: 5 }, () => make().runIfMyTurn()));
    expect(results.filter((r) => r !== null)).toHaveLength(1);
    expect(await redis.pttl(turn.key)).toBeGreaterThan(0);
  });
});
