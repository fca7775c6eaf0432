import { randomUUID } from 'node:crypto';
import { TURN_JOB_NAME, TURN_JOB_OPTIONS, TURNS_QUEUE, turnJobId } from '@turnstream/contracts';
import { createApiKey, createTenant, insertUserMessage } from '@turnstream/db';
import { databaseDigest } from '@turnstream/db/testing';
import { waitFor } from '@turnstream/testkit';
import { Queue } from 'bullmq';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_URL } from '../support/system.ts';
import { systemFixture } from '../support/system-fixture.ts';

/**
 * Services may enqueue turns directly, so the worker must survive whatever lands on the queue: seeded
 * hostile payloads (any JSON; well-formed jobs naming another tenant's conversation or message, or
 * ones that do not exist; unstorable text) all fail for good, change nothing in the database, and the
 * worker goes on serving real turns.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_129);
const CASES = Math.round(300 * Number(process.env.FUZZ_SCALE ?? 1));

const sys = systemFixture({ workers: 1 });
let queue: Queue;
const ids: Record<string, string> = {};
beforeAll(async () => {
  queue = new Queue(TURNS_QUEUE, { connection: { url: REDIS_URL }, prefix: sys.bullPrefix });
  // Tenant A (the system's) with a finished turn and a pending message; tenant B with a conversation.
  ids.tenantA = sys.tenantId;
  ids.convA = (await sys.api('POST', '/v1/conversations', {})).body.id;
  ids.doneA = (
    await sys.api('POST', `/v1/conversations/${ids.convA}/messages`, { content: 'hello' })
  ).body.messageId;
  await waitFor(async () => (await messageStatus(ids.convA!, ids.doneA!)) === 'completed', {
    timeoutMs: 60_000,
    message: 'the seed turn completes',
  });
  const b = await createTenant(sys.tdb.db, { name: 'tenant-b' });
  await createApiKey(sys.tdb.db, { tenantId: b.id });
  ids.tenantB = b.id;
  ids.convB = (
    await sys.tdb.sql<{ id: string }[]>`
      insert into conversations (tenant_id, model) values (${b.id}, 'claude-sonnet-4-6') returning id`
  )[0]!.id;
}, 120_000);
afterAll(async () => {
  await queue?.close();
});

async function messageStatus(conv: string, messageId: string): Promise<string | undefined> {
  const res = await sys.api('GET', `/v1/conversations/${conv}/messages`);
  return (res.body.messages as Array<{ id: string; status: string }>).find((m) => m.id === messageId)?.status;
}

/** Job payloads no correct producer sends. Well-formed ones never pair a tenant with its own conversation. */
function hostilePayloads(): fc.Arbitrary<unknown> {
  const text = fc.oneof(
    fc.string({ maxLength: 20 }),
    fc.constantFrom('\u0000', 'a\ud800', '\udc00', '', ' ', 'x'.repeat(100_001), 'ok'),
  );
  const uuid = fc.oneof(
    fc.uuid(),
    fc.constantFrom(ids.tenantA!, ids.tenantB!, ids.convA!, ids.convB!, ids.doneA!),
  );
  const shaped = fc
    .record(
      {
        v: fc.oneof(fc.constant(1), fc.constantFrom(0, 2, '1', null)),
        tenantId: fc.oneof(uuid, text),
        conversationId: fc.oneof(uuid, text),
        messageId: fc.oneof(uuid, text),
        content: fc.oneof(text, fc.constant(undefined)),
        mode: fc.constantFrom('stream', 'batch', 'live', undefined),
        acceptedAt: fc.oneof(fc.integer(), fc.double(), fc.constant(undefined)),
      },
      { requiredKeys: [] },
    )
    // A tenant's own conversation with a fresh message is a real turn, not a hostile one.
    .filter(
      (p) =>
        !(
          (p.tenantId === ids.tenantA && p.conversationId === ids.convA) ||
          (p.tenantId === ids.tenantB && p.conversationId === ids.convB)
        ),
    );
  return fc.oneof({ weight: 3, arbitrary: shaped }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) });
}

describe('hostile jobs on the queue', () => {
  it(`${CASES} seeded hostile payloads fail for good, change nothing, and the worker keeps serving`, async () => {
    const payloads = fc.sample(hostilePayloads(), { numRuns: CASES, seed: SEED });
    const before = await databaseDigest(sys.tdb);
    const jobs = await queue.addBulk(
      payloads.map((data) => ({
        name: TURN_JOB_NAME,
        data,
        opts: { ...TURN_JOB_OPTIONS, jobId: `hostile-${randomUUID()}` },
      })),
    );
    await waitFor(
      async () => {
        const states = await Promise.all(jobs.map((j) => queue.getJobState(j.id!)));
        return states.every((s) => s === 'failed' || s === 'completed');
      },
      { timeoutMs: 120_000, intervalMs: 250, message: 'every hostile job has finished' },
    );
    const states = await Promise.all(jobs.map((j) => queue.getJobState(j.id!)));
    expect(states.filter((s) => s !== 'failed')).toEqual([]);
    expect(sys.workers[0]!.child.exitCode).toBeNull();
    expect(await databaseDigest(sys.tdb)).toBe(before);

    // The worker still answers a real message.
    const fresh = (
      await sys.api('POST', `/v1/conversations/${ids.convA}/messages`, { content: 'still there?' })
    ).body.messageId;
    await waitFor(async () => (await messageStatus(ids.convA!, fresh)) === 'completed', {
      timeoutMs: 60_000,
      message: 'a real turn after the hostile ones completes',
    });
  }, 240_000);

  it("a well-formed job naming another conversation never fails the tenant's pending message", async () => {
    // A pending message of A whose own job is not queued yet (as after a failed enqueue).
    const inserted = await insertUserMessage(sys.tdb.db, {
      tenantId: ids.tenantA!,
      conversationId: ids.convA!,
      content: 'wait for me',
    });
    if (!inserted.ok) throw new Error('insert failed');
    const pending = inserted.message.id;
    const forged = await queue.add(
      TURN_JOB_NAME,
      { v: 1, tenantId: ids.tenantA, conversationId: ids.convB, messageId: pending, mode: 'stream' },
      { ...TURN_JOB_OPTIONS, jobId: `forged-${randomUUID()}` },
    );
    await waitFor(async () => (await queue.getJobState(forged.id!)) === 'failed', { timeoutMs: 60_000 });
    // Its real job, queued after the forged one failed, answers it.
    const real = await queue.add(
      TURN_JOB_NAME,
      { v: 1, tenantId: ids.tenantA, conversationId: ids.convA, messageId: pending, mode: 'stream' },
      { ...TURN_JOB_OPTIONS, jobId: turnJobId(pending) },
    );
    await waitFor(async () => (await queue.getJobState(real.id!)) === 'completed', { timeoutMs: 60_000 });
    expect(await messageStatus(ids.convA!, pending)).toBe('completed');
    // Nothing was published into tenant B's conversation.
    expect(await sys.redis.xrange(`${sys.redisPrefix}:{conv:${ids.convB}}:log`, '-', '+')).toEqual([]);
  }, 120_000);
});
