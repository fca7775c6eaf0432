import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { scopedMessageId, TURNS_INTAKE_QUEUE } from '@turnstream/contracts';
import { databaseDigest, seedTenant } from '@turnstream/db/testing';
import { waitFor } from '@turnstream/testkit';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simReplyTo } from '../support/stream-events.ts';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, history, waitForTurn } from '../support/turns.ts';

// Issue 11: a producer in "another language" (plain bullmq + the documented JSON), both job versions,
// and hostile jobs on the intake queue.
const run = promisify(execFile);
const producer = fileURLToPath(new URL('./fixtures/plain-bullmq-producer.mjs', import.meta.url));

const sys = systemFixture();
let intake: Queue;
beforeAll(async () => {
  intake = new Queue(TURNS_INTAKE_QUEUE, {
    connection: { url: sys.redisUrl, maxRetriesPerRequest: null },
    prefix: sys.bullPrefix,
  });
});
afterAll(async () => {
  await intake?.close();
});

async function produce(job: Record<string, unknown>, queueName?: string) {
  const { stdout } = await run(
    process.execPath,
    [producer, JSON.stringify(job), ...(queueName ? [queueName] : [])],
    {
      env: {
        PATH: process.env.PATH,
        REDIS_URL: sys.redisUrl,
        BULL_PREFIX: sys.bullPrefix,
        REDIS_PREFIX: sys.redisPrefix,
      },
    },
  );
  return stdout
    .trim()
    .split('\n')
    .map(
      (l) =>
        JSON.parse(l) as { stored?: { conversationId: string }; event?: { type: string; content?: string } },
    );
}

async function finished(jobId: string) {
  return waitFor(async () => {
    const j = await intake.getJob(jobId);
    return j?.finishedOn ? j : null;
  });
}

describe('producers outside the project', () => {
  it('plain bullmq with the documented v2 JSON on the intake queue gets its reply', async () => {
    const messageId = randomUUID();
    const content = 'Hello from a service written in another language';
    const lines = await produce({
      v: 2,
      tenantId: sys.tenantId,
      externalConversationId: `plain-${messageId}`,
      messageId,
      content,
      mode: 'stream',
    });
    const conversationId = lines[0]!.stored!.conversationId;
    const events = lines.slice(1).map((l) => l.event!.type);
    expect(events[0]).toBe('turn.queued');
    expect(events.at(-1)).toBe('turn.completed');
    const expected = await simReplyTo(sys, content);
    expect(lines.at(-1)!.event!.content).toBe(expected);
    const msgs = await history(sys, conversationId);
    expect(msgs.map((m) => [m.role, m.content])).toEqual([
      ['user', content],
      ['assistant', expected],
    ]);
  });

  it('a previous-version (v1) job straight on the turns queue, as older producers wrote it, is answered', async () => {
    const conversationId = await createConversation(sys);
    const messageId = randomUUID();
    const lines = await produce(
      { v: 1, tenantId: sys.tenantId, conversationId, messageId, content: 'an old producer' },
      'turns',
    );
    expect(lines.map((l) => l.event!.type)).toContain('turn.queued');
    expect(lines.at(-1)!.event).toMatchObject({
      type: 'turn.completed',
      content: await simReplyTo(sys, 'an old producer'),
    });
  });

  it('hostile intake jobs fail for good with a reason naming the field, and write nothing', async () => {
    const other = await seedTenant(sys.tdb.db, 'intruder');
    const victim = await createConversation(sys);
    const ok = { v: 2, tenantId: sys.tenantId, conversationId: victim, content: 'x' };
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ ...ok, tenantId: 42 }, /^invalid_job: tenantId: /],
      [{ ...ok, conversationId: ['x'] }, /^invalid_job: conversationId: /],
      [{ ...ok, content: 'x'.repeat(100_001) }, /^invalid_job: content: /],
      [{ ...ok, content: 'a\u0000b' }, /^invalid_job: content: /],
      [{ ...ok, mode: 'shout' }, /^invalid_job: mode: /],
      [{ ...ok, metadata: { k: 42 } }, /^invalid_job: metadata\.k: /],
      [
        { ...ok, metadata: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v'])) },
        /^invalid_job: metadata: /,
      ],
      [{ ...ok, v: 99 }, /^invalid_job: v: /],
      [{ ...ok, callbackUrl: 'ftp://example.com/x' }, /^invalid_job: callbackUrl: /],
      [{ ...ok, callbackUrl: 'http://127.0.0.1:9/x' }, /^callback_url_not_registered: /],
      [{ ...ok, content: undefined }, /^invalid_job: content: required/],
      [{ ...ok, tenantId: other.tenant.id }, /^conversation_not_found: /],
      [
        { ...ok, tenantId: randomUUID(), conversationId: undefined, externalConversationId: 'e' },
        /^tenant_not_found: /,
      ],
    ];
    // The earlier tests' turns have published their outcome; let their last writes land first.
    await waitFor(async () => {
      const [row] = await sys.tdb.sql<{ busy: number }[]>`
        select (select count(*)::int from turn_attempts where ended_at is null)
             + (select count(*)::int from messages where status in ('pending', 'streaming')) as busy`;
      return row!.busy === 0;
    });
    const before = await databaseDigest(sys.tdb);
    for (const [data, reason] of cases) {
      const messageId = randomUUID();
      await intake.add('turn', { ...data, messageId }, { jobId: `turn-${messageId}`, attempts: 5 });
      const job = await finished(`turn-${messageId}`);
      expect(job.failedReason, JSON.stringify(data).slice(0, 80)).toMatch(reason);
      expect(job.attemptsMade).toBe(1);
    }
    expect(await databaseDigest(sys.tdb)).toEqual(before);
    // A message id the tenant already used in another conversation is refused.
    const theirs = await createConversation(sys);
    const used = randomUUID();
    await intake.add('turn', { ...ok, conversationId: theirs, messageId: used }, { jobId: `turn-${used}` });
    expect((await finished(`turn-${used}`)).returnvalue).toMatchObject({
      messageId: scopedMessageId(sys.tenantId, used),
    });
    const otherConv = await createConversation(sys);
    const reuse = await intake.add(
      'turn',
      { ...ok, conversationId: otherConv, messageId: used },
      { jobId: `reuse-${used}`, attempts: 5 },
    );
    expect((await finished(reuse.id!)).failedReason).toMatch(/^id_conflict: /);
    expect((await history(sys, otherConv)).length).toBe(0);

    // The same id with a new external conversation id: refused before the conversation is created.
    // (The turn of `used` runs meanwhile: let it end before the database is compared.)
    await waitForTurn(sys, theirs, scopedMessageId(sys.tenantId, used));
    const beforeExternal = await databaseDigest(sys.tdb);
    const external = await intake.add(
      'turn',
      {
        v: 2,
        tenantId: sys.tenantId,
        externalConversationId: `again-${used}`,
        messageId: used,
        content: 'x',
      },
      { jobId: `external-${used}`, attempts: 5 },
    );
    expect((await finished(external.id!)).failedReason).toMatch(/^id_conflict: /);
    expect(await databaseDigest(sys.tdb)).toEqual(beforeExternal);

    // Another tenant using the same id gets a message of its own (ids are scoped to the tenant).
    const elsewhere = await intake.add(
      'turn',
      {
        v: 2,
        tenantId: other.tenant.id,
        externalConversationId: `own-${used}`,
        messageId: used,
        content: 'x',
      },
      { jobId: `elsewhere-${used}`, attempts: 5 },
    );
    const taken = await finished(elsewhere.id!);
    expect(taken.failedReason).toBeUndefined();
    expect(taken.returnvalue).toMatchObject({
      messageId: scopedMessageId(other.tenant.id, used),
      created: true,
    });
  });
});
