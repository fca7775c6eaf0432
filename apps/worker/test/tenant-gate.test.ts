import { randomBytes, randomUUID } from 'node:crypto';
import { setTenantLimits } from '@turnstream/db';
import { createTestDatabase, seedTenant, type TestDatabase } from '@turnstream/db/testing';
import { silentLogger } from '@turnstream/logger';
import { waitFor } from '@turnstream/testkit';
import { type Job, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunningTurnLimits, type TenantGateDeps, withTenantSlot } from '../src/tenant-gate.ts';
import { TenantSlots } from '../src/tenant-slots.ts';

// The gate on a real queue: a job over its tenant's limit is put back (delayed, no attempt counted) and is
// woken when a slot frees. Its own wait here is ten minutes: only the wake-up lets the test finish.
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `tsg${randomBytes(4).toString('hex')}`;
let tdb: TestDatabase;
let redis: Redis;
let queue: Queue;
let worker: Worker;
let gate: TenantGateDeps;
/** Turns the test lets finish, by job name. */
const gates = new Map<string, () => void>();
const started: string[] = [];

function hold(name: string): Promise<string> {
  started.push(name);
  return new Promise((resolve) => gates.set(name, () => resolve(name)));
}

async function state(job: Job): Promise<string> {
  return (await queue.getJob(job.id!))!.getState();
}

const until = <T>(check: () => Promise<T>, message: string) => waitFor(check, { timeoutMs: 30_000, message });

beforeAll(async () => {
  tdb = await createTestDatabase();
  redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  queue = new Queue('turns', { connection: redis, prefix });
  gate = {
    slots: new TenantSlots({ redis, prefix, ttlMs: 10_000 }),
    limits: new RunningTurnLimits(tdb.db, 1),
    queue,
    logger: silentLogger(),
    waitMs: 600_000,
  };
  worker = new Worker(
    'turns',
    (job, token) =>
      withTenantSlot(gate, job, token, job.data.tenantId, () => hold(job.name), {
        // A job marked `endsInstead` ends at once rather than wait for a slot (as a cancelled turn does).
        insteadOfWaiting: async () => (job.data.endsInstead ? 'ended instead of waiting' : null),
      }),
    { connection: redis.duplicate({ maxRetriesPerRequest: null }), prefix, concurrency: 10 },
  );
  await worker.waitUntilReady();
});
afterAll(async () => {
  for (const release of gates.values()) release();
  await worker?.close();
  await queue?.obliterate({ force: true });
  await queue?.close();
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
  await tdb?.drop();
});

describe('the per-tenant gate', () => {
  it('puts a job over the limit back without an attempt and wakes it when the slot frees', async () => {
    const tenantId = randomUUID();
    const first = await queue.add('first', { tenantId }, { attempts: 1 });
    await until(async () => gates.has('first'), 'the first job to hold the slot');
    const second = await queue.add('second', { tenantId }, { attempts: 1 });
    await until(async () => (await state(second)) === 'delayed', 'the second job to wait');
    expect(gates.has('second')).toBe(false);
    // Another tenant is not held back by this one's limit.
    await queue.add('other', { tenantId: randomUUID() }, { attempts: 1 });
    await until(async () => gates.has('other'), "another tenant's job to start");
    expect((await queue.getJob(second.id!))!.attemptsMade).toBe(0);

    gates.get('first')!();
    await until(async () => (await state(first)) === 'completed', 'the first job to complete');
    await until(async () => gates.has('second'), 'the second job to be woken');
    gates.get('second')!();
    await until(async () => (await state(second)) === 'completed', 'the second job to complete');
    const done = (await queue.getJob(second.id!))!;
    // One attempt (the one that ran), though it was started twice; `attempts: 1` would have failed it.
    expect(done.attemptsMade).toBe(1);
    expect(done.attemptsStarted).toBeGreaterThan(1);
    expect(done.returnvalue).toBe('second');
    gates.get('other')!();
    expect(started).toEqual(['first', 'other', 'second']);
  });

  it('a job that ends instead of waiting is neither put back nor listed as waiting', async () => {
    const tenantId = randomUUID();
    await queue.add('holder', { tenantId }, { attempts: 1 });
    await until(async () => gates.has('holder'), 'the holder to take the slot');
    const ends = await queue.add('ends', { tenantId, endsInstead: true }, { attempts: 1 });
    await until(async () => (await state(ends)) === 'completed', 'the job to end instead of waiting');
    const done = (await queue.getJob(ends.id!))!;
    expect(done.returnvalue).toBe('ended instead of waiting');
    expect(done.attemptsStarted).toBe(1);
    expect(started).not.toContain('ends');
    expect(await gate.slots.oldestWaiting(tenantId)).toBeNull();
    gates.get('holder')!();
  });

  it("a tenant's own limit (tenant:limits) replaces the default", async () => {
    const { tenant } = await seedTenant(tdb.db);
    await setTenantLimits(tdb.db, tenant.id, { maxRunningTurns: 2 });
    const limits = new RunningTurnLimits(tdb.db, 1);
    expect(await limits.of(tenant.id)).toBe(2);
    expect(await limits.of(randomUUID())).toBe(1);
    const names = ['x1', 'x2', 'x3'];
    const jobs = await Promise.all(names.map((n) => queue.add(n, { tenantId: tenant.id })));
    // The three start together: which two win the slots is a race, so the test follows whichever do.
    const running = await until(async () => {
      const r = names.filter((n) => gates.has(n));
      return r.length >= 2 ? r : null;
    }, 'two jobs of the tenant to run');
    expect(running).toHaveLength(2);
    const waiting = jobs[names.findIndex((n) => !running.includes(n))]!;
    await until(async () => (await state(waiting)) === 'delayed', 'the third to wait');
    expect(gates.has(waiting.name)).toBe(false);
    gates.get(running[0]!)!();
    await until(async () => gates.has(waiting.name), 'the third to be woken');
    gates.get(running[1]!)!();
    gates.get(waiting.name)!();
    await until(
      async () => (await Promise.all(jobs.map(state))).every((s) => s === 'completed'),
      'all three to complete',
    );
  });
});
