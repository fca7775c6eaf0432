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
    expect(await gate.close(60_000)).toBe(60_000);
    expect(await gate.close(1_000)).toBeGreaterThan(1_000);
    expect(await gate.remainingMs()).toBeGreaterThan(1_000);
    expect(await other.remainingMs()).toBe(0);
    // Any process with the same key id sees the same gate.
    const again = new ClaudeRateGate(redis, { redisPrefix: prefix, keyId: claudeKeyId('sk-a') });
    expect(await again.remainingMs()).toBeGreaterThan(1_000);
  });

  it('waitOpen resolves once the gate opens, and ends early when its signal aborts', async () => {
    const gate = new ClaudeRateGate(redis, { redisPrefix: prefix, keyId: 'wait' });
    expect(await gate.waitOpen()).toBe(0);
    await gate.close(150);
    expect(await gate.waitOpen()).toBeGreaterThan(0);
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
