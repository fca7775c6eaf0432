import { randomBytes } from 'node:crypto';
import type { TurnEvent } from '@turnstream/contracts';
import { createWebhookEndpoint, insertUserMessage } from '@turnstream/db';
import { createTestDatabase, seedConversation, seedTenant, type TestDatabase } from '@turnstream/db/testing';
import { silentLogger } from '@turnstream/logger';
import { createTurnStreams } from '@turnstream/streams';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WEBHOOK_FANOUT_QUEUE } from '../src/jobs.ts';
import { KnownOutcomeTargets, type NoticingStreams, withWebhookNotices } from '../src/notify.ts';

// Notices against real Postgres, Redis and a BullMQ queue: an outcome with a target (an endpoint of the
// tenant that takes its type, or the message's callbackUrl) queues its fan-out; one nobody takes does not.
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `tsn${randomBytes(4).toString('hex')}`;
let tdb: TestDatabase;
let redis: Redis;
let queue: Queue;

beforeAll(async () => {
  tdb = await createTestDatabase();
  redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  queue = new Queue(WEBHOOK_FANOUT_QUEUE, { connection: redis, prefix: `${prefix}bull` });
});

afterAll(async () => {
  await queue?.obliterate({ force: true }).catch(() => undefined);
  await queue?.close();
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis?.disconnect();
  await tdb?.drop();
});

/** A tenant's new conversation and user message (with `callbackUrl` when given). */
async function message(tenantId: string, callbackUrl?: string) {
  const conversation = await seedConversation(tdb.db, tenantId);
  const res = await insertUserMessage(tdb.db, {
    tenantId,
    conversationId: conversation.id,
    content: 'q',
    ...(callbackUrl ? { callbackUrl } : {}),
  });
  if (!res.ok) throw new Error(res.reason);
  return res.message;
}

/** Publish the outcome `type` of the message, let its notice settle, and return its fan-out job, if any. */
async function outcome(streams: NoticingStreams, m: { id: string; conversationId: string }, type: string) {
  const event = (
    type === 'turn.completed'
      ? { type, messageId: m.id, replyId: m.id, content: 'a', stopReason: 'end_turn' }
      : { type: 'turn.cancelled', messageId: m.id, replyId: null }
  ) as TurnEvent;
  const res = await streams.publish(m.conversationId, null, [event]);
  expect(res.ok).toBe(true);
  await streams.noticesSettled();
  return queue.getJob(`fanout-${m.id}-${event.type}`);
}

/** A webhook endpoint of the tenant that takes one event type. */
function endpointTaking(tenantId: string, eventType: string) {
  return createWebhookEndpoint(tdb.db, {
    tenantId,
    url: 'https://hooks.example.com/in',
    eventTypes: [eventType],
    secret: 'whsec_dGVzdA==',
  });
}

describe('webhook notices', () => {
  let streams: NoticingStreams;
  beforeAll(() => {
    streams = withWebhookNotices(createTurnStreams({ redis, keyPrefix: prefix }), queue, silentLogger(), {
      db: tdb.db,
    });
  });

  it('queues no fan-out for an outcome nobody takes', async () => {
    const { tenant } = await seedTenant(tdb.db, 'no-endpoints');
    const m = await message(tenant.id);
    expect(await outcome(streams, m, 'turn.completed')).toBeUndefined();
  });

  it('queues the fan-out of an outcome an endpoint of the tenant takes, not of another type', async () => {
    const { tenant } = await seedTenant(tdb.db, 'with-endpoint');
    await endpointTaking(tenant.id, 'turn.completed');
    const done = await message(tenant.id);
    expect((await outcome(streams, done, 'turn.completed'))?.data).toMatchObject({
      messageId: done.id,
      type: 'turn.completed',
    });
    const cancelled = await message(tenant.id);
    expect(await outcome(streams, cancelled, 'turn.cancelled')).toBeUndefined();
  });

  it("queues the fan-out of a message with a callbackUrl although the tenant's endpoints do not take it", async () => {
    const { tenant } = await seedTenant(tdb.db, 'callback');
    await endpointTaking(tenant.id, 'conversation.deleted');
    const m = await message(tenant.id, 'https://hooks.example.com/mine');
    expect(await outcome(streams, m, 'turn.cancelled')).toBeDefined();
  });

  it("takes what the publisher knows of an outcome's targets instead of reading them", async () => {
    const known = new KnownOutcomeTargets();
    const told = withWebhookNotices(createTurnStreams({ redis, keyPrefix: prefix }), queue, silentLogger(), {
      db: tdb.db,
      known,
    });
    const { tenant } = await seedTenant(tdb.db, 'told');
    // Without an endpoint the database says nobody takes it; told it has a target, the notice queues.
    const wantedAfterAll = await message(tenant.id);
    known.tell(wantedAfterAll.id, 'turn.completed', true);
    expect(await outcome(told, wantedAfterAll, 'turn.completed')).toBeDefined();
    await endpointTaking(tenant.id, 'turn.completed');
    // With one the database says it is taken; told it has none, the notice queues nothing.
    const toldNone = await message(tenant.id);
    known.tell(toldNone.id, 'turn.completed', false);
    expect(await outcome(told, toldNone, 'turn.completed')).toBeUndefined();
    // What was told of one outcome is not taken for another type of the same message.
    const untold = await message(tenant.id);
    known.tell(untold.id, 'turn.cancelled', false);
    expect(await outcome(told, untold, 'turn.completed')).toBeDefined();
  });

  it('hands a batch without an outcome the publish itself: no notice, no promise of its own', async () => {
    const inner = createTurnStreams({ redis, keyPrefix: prefix });
    let last: ReturnType<typeof inner.publish> | undefined;
    const spied = {
      ...inner,
      publish: (...args: Parameters<typeof inner.publish>) => (last = inner.publish(...args)),
    };
    const plain = withWebhookNotices(spied, queue, silentLogger());
    const { tenant } = await seedTenant(tdb.db, 'chunks');
    const m = await message(tenant.id);
    const published = plain.publish(m.conversationId, null, [{ type: 'chunk', messageId: m.id, text: 'a' }]);
    expect(published).toBe(last);
    expect((await published).ok).toBe(true);
    await plain.noticesSettled();
    // An outcome still goes through the notice.
    const ended = await outcome(plain, m, 'turn.completed');
    expect(ended).toBeDefined();
  });

  it('queues every outcome without a database to check', async () => {
    const plain = withWebhookNotices(createTurnStreams({ redis, keyPrefix: prefix }), queue, silentLogger());
    const { tenant } = await seedTenant(tdb.db, 'unchecked');
    const m = await message(tenant.id);
    expect(await outcome(plain, m, 'turn.completed')).toBeDefined();
  });
});
