import { randomUUID } from 'node:crypto';
import { TURN_JOB_NAME, TURNS_QUEUE, turnJobId } from '@turnstream/contracts';
import { waitFor } from '@turnstream/testkit';
import { ClaudeRateGate, claudeKeyId } from '@turnstream/worker';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addFaults } from '../support/sim-faults.ts';
import { REDIS_URL } from '../support/system.ts';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, postMessage, waitForTurn } from '../support/turns.ts';

// The tenant slot is taken alongside a job's reads (before it knows whether the turn runs): every way
// out that does not run the turn gives it back at once (a slot kept until it expires would hold the
// tenant below its limit), and a job refused a slot that then waits for another reason is not left
// listed as waiting for one. Real API, worker, simulator, Postgres and Redis.
const LIMIT = 2;
const sys = systemFixture({
  workers: 1,
  workerEnv: {
    TENANT_MAX_RUNNING_TURNS: String(LIMIT),
    // The held turns stall on purpose: no idle timeout may end them.
    CLAUDE_IDLE_TIMEOUT_MS: '600000',
  },
});
let queue: Queue;
const connection = { host: new URL(REDIS_URL).hostname, port: Number(new URL(REDIS_URL).port || 6379) };
beforeAll(async () => {
  queue = new Queue(TURNS_QUEUE, { connection, prefix: sys.bullPrefix });
  await addFaults(sys, [{ fault: 'stall', afterChunks: 1, match: { contains: 'HOLD' } }]);
});
afterAll(async () => {
  await queue?.close();
});

function slotKeys(tenantId: string) {
  const tag = `${sys.redisPrefix}:{tenant:${tenantId}}`;
  return { running: `${tag}:running-turns`, waiting: `${tag}:waiting-turns` };
}
/** Jobs holding one of the tenant's slots (expired holds included: none expire within a test). */
const holders = (tenantId = sys.tenantId) => sys.redis.zrange(slotKeys(tenantId).running, 0, -1);
const waiters = (tenantId = sys.tenantId) => sys.redis.zrange(slotKeys(tenantId).waiting, 0, -1);

/** Wait until nothing of the tenant's is listed as holding or waiting for a slot, except `holding`. */
async function slotsSettle(holding: string[] = []): Promise<void> {
  const want = [...holding].sort();
  await waitFor(
    async () => {
      const [h, w] = await Promise.all([holders(), waiters()]);
      return JSON.stringify(h.sort()) === JSON.stringify(want) && w.length === 0;
    },
    { timeoutMs: 10_000, message: `slots held by exactly [${want.join(', ')}] and none listed as waiting` },
  );
}

async function jobState(jobId: string): Promise<string> {
  return (await (await queue.getJob(jobId))?.getState()) ?? 'missing';
}

/** A turn that streams one chunk and then holds its slot until cancelled. */
async function heldTurn(): Promise<{ conv: string; id: string }> {
  const conv = await createConversation(sys);
  const id = await postMessage(sys, conv, 'HOLD this slot');
  await waitFor(async () => (await holders()).includes(turnJobId(id)), { message: 'the held turn to run' });
  await waitFor(
    async () => {
      const [row] = await sys.tdb.sql<{ n: number }[]>`
        select count(*)::int as n from turn_attempts where message_id = ${id}`;
      return row!.n === 1;
    },
    { message: 'the held turn to start its attempt' },
  );
  return { conv, id };
}

async function cancel(turn: { conv: string; id: string }): Promise<void> {
  const res = await sys.api('POST', `/v1/conversations/${turn.conv}/messages/${turn.id}/cancel`);
  expect([200, 202]).toContain(res.status);
  await waitForTurn(sys, turn.conv, turn.id);
}

async function finished(jobId: string) {
  return waitFor(
    async () => {
      const j = await queue.getJob(jobId);
      return j?.finishedOn ? j : null;
    },
    { message: `job ${jobId} to finish` },
  );
}

describe('the tenant slot taken alongside the reads', () => {
  it('is held while the reads are still running, and freed when the turn ends', async () => {
    const conv = await createConversation(sys);
    // Hold the worker's reads (they read the conversation's session; the API's insert does not).
    const locker = await sys.tdb.sql.reserve();
    let messageId: string | undefined;
    try {
      await locker`begin`;
      await locker`lock table sessions in access exclusive mode`;
      messageId = await postMessage(sys, conv, 'slot first');
      const jobId = turnJobId(messageId);
      // The slot is taken while the reads wait for the lock.
      await waitFor(async () => (await holders()).includes(jobId), {
        message: 'the slot to be taken before the reads return',
      });
      const [row] = await sys.tdb.sql<{ status: string }[]>`
        select status from messages where id = ${messageId}`;
      expect(row!.status).toBe('pending');
    } finally {
      await locker`rollback`.catch(() => undefined);
      locker.release();
    }
    const t = await waitForTurn(sys, conv, messageId!);
    expect(t.reply?.status).toBe('completed');
    await waitFor(async () => (await holders()).length === 0, { message: 'the slot to be freed' });
  });

  it('a job for a conversation that does not exist fails and gives the slot back', async () => {
    const job = await queue.add(
      TURN_JOB_NAME,
      { v: 1, tenantId: sys.tenantId, conversationId: randomUUID(), messageId: randomUUID() },
      { jobId: `missing-${randomUUID()}`, attempts: 1 },
    );
    const done = await finished(job.id!);
    expect(done.failedReason).toMatch(/^conversation_not_found/);
    await slotsSettle();
  });

  it('a job whose message is already answered returns the reply and gives the slot back', async () => {
    const conv = await createConversation(sys);
    const messageId = await postMessage(sys, conv, 'answer once');
    await waitForTurn(sys, conv, messageId);
    const job = await queue.add(
      TURN_JOB_NAME,
      { v: 1, tenantId: sys.tenantId, conversationId: conv, messageId },
      { jobId: `again-${messageId}`, attempts: 1 },
    );
    const done = await finished(job.id!);
    expect(done.returnvalue).toMatchObject({ outcome: 'already_finished' });
    await slotsSettle();
  });

  it('a job that waits behind an earlier message of its conversation gives the slot back, and runs after it', async () => {
    const held = await heldTurn();
    const next = await postMessage(sys, held.conv, 'after the held one');
    const nextJob = turnJobId(next);
    await waitFor(async () => (await jobState(nextJob)) === 'delayed', { message: 'the next job to wait' });
    // Only the held turn holds a slot (LIMIT is 2: the waiting job had one, and gave it back).
    await slotsSettle([turnJobId(held.id)]);
    await cancel(held);
    const t = await waitForTurn(sys, held.conv, next);
    expect(t.reply?.status).toBe('completed');
    await waitFor(async () => (await holders()).length === 0, { message: 'the slots to be freed' });
  });

  it('a job refused a slot that waits behind an earlier message is not left listed as waiting for a slot', async () => {
    const first = await heldTurn();
    const second = await heldTurn();
    expect((await holders()).sort()).toEqual([turnJobId(first.id), turnJobId(second.id)].sort());
    // The tenant is at its limit: this job is refused a slot, and also waits behind `first`.
    const behind = await postMessage(sys, first.conv, 'behind the first');
    const behindJob = turnJobId(behind);
    await waitFor(async () => (await jobState(behindJob)) === 'delayed', { message: 'the job to wait' });
    await slotsSettle([turnJobId(first.id), turnJobId(second.id)]);
    await cancel(second);
    await cancel(first);
    const t = await waitForTurn(sys, first.conv, behind);
    expect(t.reply?.status).toBe('completed');
    await waitFor(async () => (await holders()).length === 0, { message: 'the slots to be freed' });
  });

  it('a job that meets the closed rate gate gives the slot back, and runs once the gate opens', async () => {
    const gate = new ClaudeRateGate(sys.redis, {
      redisPrefix: sys.redisPrefix,
      keyId: claudeKeyId('sim-key', sys.simUrl),
    });
    await gate.close(1_500);
    const conv = await createConversation(sys);
    const messageId = await postMessage(sys, conv, 'after the gate');
    const jobId = turnJobId(messageId);
    await waitFor(async () => (await jobState(jobId)) === 'delayed', {
      message: 'the job to wait for the gate',
    });
    await slotsSettle();
    const t = await waitForTurn(sys, conv, messageId);
    expect(t.reply?.status).toBe('completed');
  });
});
