import { TURNS_QUEUE, turnJobId } from '@turnstream/contracts';
import { seedTenant } from '@turnstream/db/testing';
import { waitFor } from '@turnstream/testkit';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addFaults } from '../support/sim-faults.ts';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, postMessage } from '../support/turns.ts';

// Running turns per tenant, on two real workers: tenant A holds its limit of turns and floods 200 more
// messages; tenant B's message starts before any of A's queued ones. A's queued turns then all run, never
// more than the limit at once across the fleet, no wait counted as an attempt, one worker killed midway.
const LIMIT = 3;
const FLOOD = 200;
const PER_CONVERSATION = 5;

const sys = systemFixture({
  workers: 2,
  workerEnv: {
    TENANT_MAX_RUNNING_TURNS: String(LIMIT),
    // The held turns stall on purpose: no idle timeout may end them.
    CLAUDE_IDLE_TIMEOUT_MS: '600000',
    STALLED_INTERVAL_MS: '1000',
    LOCK_DURATION_MS: '5000',
    LEASE_TTL_MS: '5000',
  },
});
let queue: Queue;
let queueRedis: Redis;
beforeAll(async () => {
  queueRedis = new Redis(sys.redisUrl, { maxRetriesPerRequest: null });
  queue = new Queue(TURNS_QUEUE, { connection: queueRedis, prefix: sys.bullPrefix });
}, 60_000);
afterAll(async () => {
  await queue?.close();
  await queueRedis?.quit();
});

interface Attempt {
  tenantId: string;
  messageId: string;
  attempt: number;
  /** µs since epoch (the database's clock). */
  startedAt: number;
  endedAt: number | null;
  outcome: string | null;
}

async function attempts(): Promise<Attempt[]> {
  return sys.tdb.sql<Attempt[]>`
    select tenant_id as "tenantId", message_id as "messageId", attempt,
           (extract(epoch from started_at) * 1e6)::float8 as "startedAt",
           (extract(epoch from ended_at) * 1e6)::float8 as "endedAt", outcome
    from turn_attempts order by started_at, id`;
}

/**
 * Most attempts of `tenantId` running at one moment. A killed worker's attempts are left out: they end
 * when it dies, but are closed (`lost`) only when another worker takes the turn over.
 */
function peakRunning(rows: Attempt[], tenantId: string): number {
  const edges = rows
    .filter((r) => r.tenantId === tenantId && r.endedAt && r.outcome !== 'lost')
    .flatMap((r) => [
      { t: r.startedAt, d: 1 },
      { t: r.endedAt!, d: -1 },
    ])
    .sort((x, y) => x.t - y.t || x.d - y.d);
  let now = 0;
  let peak = 0;
  for (const e of edges) {
    now += e.d;
    peak = Math.max(peak, now);
  }
  return peak;
}

async function asTenant(key: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${sys.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

async function inBatches<T, R>(items: T[], size: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size)
    out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return out;
}

describe('running turns per tenant', () => {
  it("one tenant's flood neither delays another tenant's turn nor exceeds its limit; nothing is lost", async () => {
    const a = sys.tenantId;
    const b = await seedTenant(sys.tdb.db, 'tenant-b');
    // A's first LIMIT turns stream one chunk and then hold their slots until cancelled.
    await addFaults(sys, [{ fault: 'stall', afterChunks: 1, match: { contains: 'HOLD' } }]);
    const held = await inBatches(Array.from({ length: LIMIT }), LIMIT, async () => {
      const conv = await createConversation(sys);
      return { conv, id: await postMessage(sys, conv, 'HOLD this slot') };
    });
    await waitFor(async () => (await attempts()).length === LIMIT, { message: 'held turns started' });

    // A posts 200 messages at once (40 conversations of 5), then B posts one.
    const convs = await inBatches(Array.from({ length: FLOOD / PER_CONVERSATION }), 10, () =>
      createConversation(sys),
    );
    const flood = await inBatches(
      convs.flatMap((conv) => Array.from({ length: PER_CONVERSATION }, (_, i) => ({ conv, i }))),
      25,
      async ({ conv, i }) => ({ conv, id: await postMessage(sys, conv, `flood ${i} [[sim words=3]]`) }),
    );
    const bConv = await asTenant(b.apiKey.key, 'POST', '/v1/conversations', {});
    expect(bConv.status).toBe(201);
    const bMsg = await asTenant(b.apiKey.key, 'POST', `/v1/conversations/${bConv.body.id}/messages`, {
      content: 'tenant b',
    });
    expect(bMsg.status).toBe(202);
    const bDone = await waitFor(
      async () => (await attempts()).find((r) => r.messageId === bMsg.body.messageId && r.outcome),
      { timeoutMs: 60_000, message: "B's turn to end" },
    );
    expect(bDone.outcome).toBe('completed');

    // Order of start: B's turn started before any of A's queued turns (A was at its limit).
    const order = (await attempts())
      .filter((r) => r.startedAt <= bDone.startedAt)
      .map((r) => (r.tenantId === a ? 'A' : 'B'))
      .join('');
    expect(order).toBe(`${'A'.repeat(LIMIT)}B`);

    // Free A's slots; its queued turns run, LIMIT at a time, across both workers. Kill one worker midway.
    for (const h of held) {
      const res = await sys.api('POST', `/v1/conversations/${h.conv}/messages/${h.id}/cancel`);
      expect([200, 202]).toContain(res.status);
    }
    await waitFor(async () => (await attempts()).filter((r) => r.outcome === 'completed').length >= 30, {
      timeoutMs: 60_000,
      message: 'some of the flood to complete',
    });
    await sys.workers[1]!.kill();
    const finished = await waitFor(
      async () => {
        const [row] = await sys.tdb.sql<{ n: number }[]>`
          select count(*)::int as n from messages
          where tenant_id = ${a} and role = 'user' and status = 'completed'
            and id = any(${flood.map((f) => f.id)}::uuid[])`;
        return row!.n === FLOOD ? row : null;
      },
      { timeoutMs: 240_000, intervalMs: 250, message: 'every flood message to complete' },
    );
    expect(finished.n).toBe(FLOOD);

    const [replies] = await sys.tdb.sql<{ n: number }[]>`
      select count(*)::int as n from messages
      where role = 'assistant' and status = 'completed' and reply_to = any(${flood.map((f) => f.id)}::uuid[])`;
    expect(replies!.n).toBe(FLOOD);
    const rows = await attempts();
    expect(peakRunning(rows, a)).toBeLessThanOrEqual(LIMIT);
    // Waiting for a slot is not an attempt: every attempt is the first, every job finished on its first.
    const floodIds = new Set(flood.map((f) => f.id));
    expect(rows.filter((r) => floodIds.has(r.messageId)).every((r) => r.attempt === 1)).toBe(true);
    // A job finishes after its turn's ending commits (and a killed worker's job only once another
    // worker has taken it over and found the turn ended): wait for the queue to catch up.
    const jobs = await waitFor(
      async () => {
        const all = await Promise.all(flood.map((f) => queue.getJob(turnJobId(f.id))));
        return all.every((j) => j?.finishedOn) ? all : null;
      },
      { timeoutMs: 120_000, intervalMs: 250, message: 'every flood job to finish' },
    );
    expect(jobs.every((j) => j!.attemptsMade === 1)).toBe(true);
    // ... though most of them were started, found the tenant at its limit, and put back, several times.
    expect(jobs.filter((j) => (j?.attemptsStarted ?? 0) > 1).length).toBeGreaterThan(FLOOD / 2);
  }, 420_000);
});
