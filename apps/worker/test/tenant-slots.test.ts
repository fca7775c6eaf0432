import { randomBytes, randomUUID } from 'node:crypto';
import { waitFor } from '@turnstream/testkit';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { TenantSlots } from '../src/tenant-slots.ts';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const prefix = `tss${randomBytes(4).toString('hex')}`;
afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

describe('running-turn slots per tenant', () => {
  it('holds at most `limit` per tenant, fleet-wide; others are listed as waiting, oldest first', async () => {
    const slots = new TenantSlots({ redis, prefix, ttlMs: 10_000 });
    const other = new TenantSlots({ redis, prefix, ttlMs: 10_000 }); // another worker
    const tenant = randomUUID();
    const a = await slots.acquire(tenant, 'job-a', 2);
    const b = await other.acquire(tenant, 'job-b', 2);
    expect(a).not.toBeNull();
    expect(b).not.toBeNull();
    expect(await slots.acquire(tenant, 'job-c', 2)).toBeNull();
    expect(await other.acquire(tenant, 'job-d', 2)).toBeNull();
    expect(await slots.running(tenant)).toBe(2);
    // Another tenant is not affected.
    const elsewhere = await slots.acquire(randomUUID(), 'job-x', 2);
    expect(elsewhere).not.toBeNull();
    // Freeing a slot names the oldest waiting job, which then gets it.
    expect(await a!.release()).toBe('job-c');
    const c = await slots.acquire(tenant, 'job-c', 2);
    expect(c).not.toBeNull();
    expect(await b!.release()).toBe('job-d');
    await c!.release();
    await elsewhere!.release();
  });

  it('taking a slot again with the same job is a renewal, not a second slot', async () => {
    const slots = new TenantSlots({ redis, prefix, ttlMs: 10_000 });
    const tenant = randomUUID();
    const first = await slots.acquire(tenant, 'job-a', 1);
    const again = await slots.acquire(tenant, 'job-a', 1);
    expect(first).not.toBeNull();
    expect(again).not.toBeNull();
    expect(await slots.running(tenant)).toBe(1);
    await first!.release();
    expect(await slots.running(tenant)).toBe(0);
    await again!.release();
  });

  it("a dead worker's slot expires (no leak); a live one is renewed past its ttl", async () => {
    const slots = new TenantSlots({ redis, prefix, ttlMs: 300 });
    const tenant = randomUUID();
    // What a worker that died mid-turn leaves behind: a hold nobody renews.
    await redis.zadd(slots.keys(tenant).running, Date.now() + 300, 'dead-job');
    expect(await slots.acquire(tenant, 'job-b', 1)).toBeNull();
    const b = await waitFor(() => slots.acquire(tenant, 'job-b', 1));
    expect(await slots.running(tenant)).toBe(1);
    // A live hold keeps being pushed forward by its renewals.
    const first = Number(await redis.zscore(slots.keys(tenant).running, 'job-b'));
    await waitFor(async () => Number(await redis.zscore(slots.keys(tenant).running, 'job-b')) > first + 200);
    expect(await slots.acquire(tenant, 'job-c', 1)).toBeNull();
    await b.release();
  });

  it('releasing twice frees once', async () => {
    const slots = new TenantSlots({ redis, prefix, ttlMs: 10_000 });
    const tenant = randomUUID();
    const a = await slots.acquire(tenant, 'job-a', 1);
    await a!.release();
    const b = await slots.acquire(tenant, 'job-b', 1);
    expect(await a!.release()).toBeNull();
    expect(await slots.running(tenant)).toBe(1);
    await b!.release();
  });
});
