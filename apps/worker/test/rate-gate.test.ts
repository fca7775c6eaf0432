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

  it('counts its generation up only when a close moves the closing time; the check reads both', async () => {
    const gate = new ClaudeRateGate(redis, { redisPrefix: prefix, keyId: 'generation' });
    expect(await gate.check()).toMatchObject({ remainingMs: 0, generation: 0 });
    expect(await gate.close(60_000)).toEqual({ closedMs: 60_000, generation: 1 });
    // A shorter wait leaves the gate as it was: same closing time, same generation.
    const kept = await gate.close(1_000);
    expect(kept.closedMs).toBeGreaterThan(1_000);
    expect(kept.generation).toBe(1);
    const before = Date.now();
    const state = await gate.check();
    expect(state.remainingMs).toBeGreaterThan(1_000);
    expect(state.generation).toBe(1);
    expect(state.at).toBeGreaterThanOrEqual(before);
    expect(await gate.close(120_000)).toEqual({ closedMs: 120_000, generation: 2 });
    expect((await gate.check()).generation).toBe(2);
    // The counter outlives the gate (no TTL): it never goes back while a gate can close.
    expect(await redis.pttl(gate.generationKey)).toBe(-1);
  });

  it('a close after the gate expired moves it again, from the generation it had', async () => {
    const gate = new ClaudeRateGate(redis, { redisPrefix: prefix, keyId: 'expired' });
    expect((await gate.close(50)).generation).toBe(1);
    const opened = await gate.waitOpen();
    expect(opened.waitedMs).toBeGreaterThan(0);
    expect(opened.generation).toBe(1);
    expect(await gate.close(50)).toEqual({ closedMs: 50, generation: 2 });
  });

  it('waitOpen resolves once the gate opens, with the check that found it open, and ends early when its signal aborts', async () => {
    const gate = new ClaudeRateGate(redis, { redisPrefix: prefix, keyId: 'wait' });
    expect(await gate.waitOpen()).toMatchObject({ waitedMs: 0, generation: 0 });
    const beforeClose = Date.now();
    const { generation } = await gate.close(150);
    const opened = await gate.waitOpen();
    expect(opened.waitedMs).toBeGreaterThan(0);
    // The check that let it go ran once the gate had expired, and saw the close's generation.
    expect(opened.generation).toBe(generation);
    expect(opened.checkedAt).toBeGreaterThanOrEqual(beforeClose + 150);
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
