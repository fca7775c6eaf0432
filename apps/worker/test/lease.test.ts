import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { ConversationLeases, LeaseLostError } from '../src/lease.ts';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const prefix = `tsl${randomBytes(4).toString('hex')}`;
afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

describe('conversation lease', () => {
  it('is exclusive, hands out increasing fences, and can be taken after release', async () => {
    const leases = new ConversationLeases({ redis, prefix, ttlMs: 5000 });
    const conv = randomUUID();
    const a = await leases.acquire(conv, 'w1');
    expect(a?.fence).toBe(1);
    expect(await leases.acquire(conv, 'w2')).toBeNull();
    await a!.release();
    const b = await leases.acquire(conv, 'w2');
    expect(b?.fence).toBe(2);
    expect(await leases.holder(conv)).toBe('w2:2');
    await b!.release();
    expect(await leases.holder(conv)).toBeNull();
  });

  it('only one of many concurrent acquirers wins', async () => {
    const leases = new ConversationLeases({ redis, prefix, ttlMs: 5000 });
    const conv = randomUUID();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => leases.acquire(conv, `w${i}`)));
    const winners = results.filter((r) => r !== null);
    expect(winners).toHaveLength(1);
    await winners[0]!.release();
  });

  it('never goes below the floor (the highest fence Postgres has seen)', async () => {
    const leases = new ConversationLeases({ redis, prefix, ttlMs: 5000 });
    const conv = randomUUID();
    const a = await leases.acquire(conv, 'w1', 41);
    expect(a?.fence).toBe(42);
    await a!.release();
  });

  it('signals loss when another holder took the lease after expiry, and release leaves the new holder alone', async () => {
    const leases = new ConversationLeases({ redis, prefix, ttlMs: 300 });
    const conv = randomUUID();
    const a = await leases.acquire(conv, 'w1');
    // Simulate a pause past the TTL: the key expires and someone else takes the lease.
    await redis.del(leases.keys(conv).lease);
    const b = await leases.acquire(conv, 'w2');
    expect(b!.fence).toBeGreaterThan(a!.fence);
    const reason = await new Promise<unknown>((resolve) =>
      a!.signal.addEventListener('abort', () => resolve(a!.signal.reason), { once: true }),
    );
    expect(reason).toBeInstanceOf(LeaseLostError);
    await a!.release();
    expect(await leases.holder(conv)).toBe(`w2:${b!.fence}`);
    await b!.release();
  });

  it('reports at release whether a job waited on the conversation, until the mark is cleared', async () => {
    const leases = new ConversationLeases({ redis, prefix, ttlMs: 5000 });
    const conv = randomUUID();
    // Nobody waited: the turn that ends has no job to look for.
    const a = await leases.acquire(conv, 'w1');
    expect(await a!.release()).toBeNull();
    // A refused acquirer (its job is about to wait) marks the conversation.
    const b = await leases.acquire(conv, 'w1');
    expect(await leases.acquire(conv, 'w2')).toBeNull();
    const mark = await b!.release();
    expect(mark).not.toBeNull();
    // The mark stays until cleared (more jobs may wait), and a newer mark survives clearing an older one.
    const c = await leases.acquire(conv, 'w2');
    expect(await c!.release()).toBe(mark);
    const newer = await leases.markWaiting(conv);
    await leases.clearWaiting(conv, mark!);
    const d = await leases.acquire(conv, 'w3');
    expect(await d!.release()).toBe(newer);
    await leases.clearWaiting(conv, newer);
    const e = await leases.acquire(conv, 'w3');
    expect(await e!.release()).toBeNull();
  });

  it('reads a flag of the conversation with the lease, and leaves it as it is', async () => {
    const leases = new ConversationLeases({ redis, prefix, ttlMs: 5000 });
    const conv = randomUUID();
    const flag = `${prefix}:{conv:${conv}}:cancel:${randomUUID()}`;
    const a = await leases.acquire(conv, 'w1', 0, { flag });
    expect(a?.flagged).toBe(false);
    await a!.release();
    await redis.set(flag, '1');
    const b = await leases.acquire(conv, 'w1', 0, { flag });
    expect(b?.flagged).toBe(true);
    expect(await leases.acquire(conv, 'w2', 0, { flag })).toBeNull();
    await b!.release();
    expect(await redis.get(flag)).toBe('1');
    const c = await leases.acquire(conv, 'w3');
    expect(c?.flagged).toBe(false);
    await c!.release();
  });

  it('renews while held, so a long turn keeps it past the TTL', async () => {
    const leases = new ConversationLeases({ redis, prefix, ttlMs: 300 });
    const conv = randomUUID();
    const a = await leases.acquire(conv, 'w1');
    // Wait for three renewals' worth of time by watching the key's TTL get refreshed.
    let refreshed = 0;
    let last = await redis.pttl(leases.keys(conv).lease);
    while (refreshed < 3) {
      const now = await redis.pttl(leases.keys(conv).lease);
      expect(now).toBeGreaterThan(0);
      if (now > last) refreshed++;
      last = now;
      await new Promise((r) => setImmediate(r));
    }
    expect(a!.signal.aborted).toBe(false);
    await a!.release();
  });
});
