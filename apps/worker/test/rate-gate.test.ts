import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { ClaudeRateGate, claudeKeyId } from '../src/rate-gate.ts';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const prefix = `tsg${randomBytes(4).toString('hex')}`;
afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

describe('Claude rate gate', () => {
  it('is open until closed; a shorter wait never shortens a longer one; gates of other keys are separate', async () => {
    const gate = new ClaudeRateGate(redis, { redisPrefix: prefix, keyId: claudeKeyId('sk-a') });
    const other = new ClaudeRateGate(redis, { redisPrefix: prefix, keyId: claudeKeyId('sk-b') });
    expect(await gate.remainingMs()).toBe(0);
    expect((await gate.close(60_000)).closedMs).toBe(60_000);
    expect((await gate.close(1_000)).closedMs).toBeGreaterThan(1_000);
    expect(await gate.remainingMs()).toBeGreaterThan(1_000);
    expect(await other.remainingMs()).toBe(0);
    // Any process with the same key id sees the same gate.
    const again = new ClaudeRateGate(redis, { redisPrefix: prefix, keyId: claudeKeyId('sk-a') });
    expect(await again.remainingMs()).toBeGreaterThan(1_000);
  });

  it("stamps its close and its check with the Redis server's clock, in the order they ran", async () => {
    const gate = new ClaudeRateGate(redis, { redisPrefix: prefix, keyId: 'clock' });
    const [sec] = await redis.time();
    const open = await gate.check();
    expect(open.remainingMs).toBe(0);
    expect(open.atUs).toBeGreaterThanOrEqual(Number(sec) * 1_000_000);
    const closed = await gate.close(60_000);
    expect(closed.closedMs).toBe(60_000);
    expect(closed.atUs).toBeGreaterThan(open.atUs);
    // A close that leaves a longer wait in place still reports when it ran.
    const kept = await gate.close(1_000);
    expect(kept.closedMs).toBeGreaterThan(1_000);
    expect(kept.atUs).toBeGreaterThan(closed.atUs);
    const after = await gate.check();
    expect(after.remainingMs).toBeGreaterThan(1_000);
    expect(after.atUs).toBeGreaterThan(kept.atUs);
  });

  it('keeps the key workers before the clock stamps used, so a rolling deploy shares one gate', async () => {
    const keyId = claudeKeyId('sk-rolling');
    const gate = new ClaudeRateGate(redis, { redisPrefix: prefix, keyId });
    const key = `${prefix}:claude:rate-gate:${keyId}`;
    await gate.close(60_000);
    expect(await redis.pttl(key)).toBeGreaterThan(1_000);
    // An older worker's close (a plain PX on the same key) is what this gate's check sees.
    const other = new ClaudeRateGate(redis, { redisPrefix: prefix, keyId: claudeKeyId('sk-older') });
    await redis.set(`${prefix}:claude:rate-gate:${claudeKeyId('sk-older')}`, '1', 'PX', 60_000);
    expect((await other.check()).remainingMs).toBeGreaterThan(1_000);
  });

  it('waitOpen resolves once the gate opens, with the check that found it open, and ends early when its signal aborts', async () => {
    const gate = new ClaudeRateGate(redis, { redisPrefix: prefix, keyId: 'wait' });
    expect(await gate.waitOpen()).toMatchObject({ waitedMs: 0 });
    const closed = await gate.close(150);
    const opened = await gate.waitOpen();
    expect(opened.waitedMs).toBeGreaterThan(0);
    // The check that let it go ran once the gate had expired.
    expect(opened.atUs).toBeGreaterThanOrEqual(closed.atUs + 150_000);
    expect(await gate.remainingMs()).toBe(0);
    await gate.close(60_000);
    const controller = new AbortController();
    const waiting = gate.waitOpen(controller.signal);
    controller.abort('cancelled');
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('names the key by a hash that does not contain it', () => {
    const id = claudeKeyId('sk-ant-secret-value', 'https://api.anthropic.com');
    expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(id).not.toBe(claudeKeyId('sk-ant-secret-value', 'http://127.0.0.1:4100'));
  });
});
