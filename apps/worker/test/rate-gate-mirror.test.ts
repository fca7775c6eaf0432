import { randomBytes } from 'node:crypto';
import { silentLogger } from '@turnstream/logger';
import { startRedisServer, waitFor } from '@turnstream/testkit';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { ClaudeRateGate } from '../src/rate-gate.ts';

// The gate's local mirror on a real Redis: closes published by other workers reach it, the check then
// reads nothing from Redis, and whenever its subscription is not known to be current it reads Redis.
const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `tsgm${randomBytes(4).toString('hex')}`;
const admin = new Redis(url);
const connections: Redis[] = [];
const gates: ClaudeRateGate[] = [];

/** A worker's gate: its own connection (named, so the test finds its subscriber), mirrored. */
async function mirroredGate(keyId: string, checkMs = 60_000) {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  const redis = new Redis(url, { connectionName: name });
  connections.push(redis);
  const gate = new ClaudeRateGate(redis, { redisPrefix: prefix, keyId });
  gates.push(gate);
  const mirror = await gate.startMirror(silentLogger(), { checkMs });
  return { gate, mirror, redis, name };
}

/** Another worker's gate (no mirror of its own needed to close it). */
function otherWorker(keyId: string): ClaudeRateGate {
  const redis = new Redis(url);
  connections.push(redis);
  return new ClaudeRateGate(redis, { redisPrefix: prefix, keyId });
}

/** The Redis ids of the subscriber connections named `name`. */
async function subscriberIds(name: string): Promise<string[]> {
  const list = String(await admin.client('LIST'));
  return list
    .split('\n')
    .filter((line) => line.includes(` name=${name} `) && / sub=[1-9]/.test(line))
    .map((line) => /(?:^| )id=(\d+)/.exec(line)![1]!);
}

const newKey = () => randomBytes(4).toString('hex');

afterEach(() => {
  vi.restoreAllMocks();
});
afterAll(async () => {
  await Promise.all(gates.map((g) => g.stopMirror()));
  await Promise.all(connections.map((c) => c.quit()));
  const keys = await admin.keys(`${prefix}*`);
  if (keys.length) await admin.del(...keys);
  await admin.quit();
});

describe('the rate gate mirror', () => {
  it("sees another worker's close through its subscription, and then answers without reading Redis", async () => {
    const key = newKey();
    const { gate, mirror, redis } = await mirroredGate(key);
    const pttl = vi.spyOn(redis, 'pttl');
    expect(await gate.remainingMs()).toBe(0);
    expect(pttl).not.toHaveBeenCalled();

    await otherWorker(key).close(30_000);
    // The mirror reads the gate again only every 60 s here: the close can only have come published.
    await waitFor(async () => (mirror.remainingMs() ?? 0) > 0, { message: 'the published close to arrive' });
    const left = await gate.remainingMs();
    expect(left).toBeGreaterThan(25_000);
    expect(left).toBeLessThanOrEqual(30_000);
    expect(pttl).not.toHaveBeenCalled();
  });

  it('a close made before the mirror started is read when it subscribes', async () => {
    const key = newKey();
    await otherWorker(key).close(30_000);
    const { gate, mirror, redis } = await mirroredGate(key);
    expect(mirror.current).toBe(true);
    const pttl = vi.spyOn(redis, 'pttl');
    expect(await gate.remainingMs()).toBeGreaterThan(25_000);
    expect(pttl).not.toHaveBeenCalled();
  });

  it('after its subscriber reconnects, it reads the gate again (a close it could not hear is seen)', async () => {
    const key = newKey();
    const { gate, mirror, name } = await mirroredGate(key);
    // A close the mirror cannot hear (set as a worker that does not publish would): unseen for now.
    await admin.set(gate.key, '1', 'PX', 30_000);
    expect(mirror.remainingMs()).toBe(0);
    const [id] = await subscriberIds(name);
    expect(id).toBeDefined();
    await admin.client('KILL', 'ID', id!);
    // Reconnected, subscribed again, then read the gate: the close is in the mirror.
    await waitFor(async () => (mirror.remainingMs() ?? 0) > 25_000, {
      message: 'the mirror to read the gate after reconnecting',
    });
    expect(await subscriberIds(name)).not.toContain(id);
  });

  it('while the mirror does not answer, the gate reads Redis', async () => {
    const key = newKey();
    const { gate, mirror, redis } = await mirroredGate(key);
    await admin.set(gate.key, '1', 'PX', 30_000);
    const pttl = vi.spyOn(redis, 'pttl');
    expect(await gate.remainingMs()).toBe(0);
    expect(pttl).not.toHaveBeenCalled();
    vi.spyOn(mirror, 'remainingMs').mockReturnValue(null);
    expect(await gate.remainingMs()).toBeGreaterThan(25_000);
    expect(pttl).toHaveBeenCalledTimes(1);
  });

  it('this worker knows its own close at once', async () => {
    const { gate, mirror } = await mirroredGate(newKey());
    await gate.close(10_000);
    expect(mirror.remainingMs()).toBeGreaterThan(9_000);
  });

  it('reads the gate again on every check: a close nobody published counts within one check', async () => {
    const key = newKey();
    const { gate, mirror } = await mirroredGate(key, 100);
    await admin.set(gate.key, '1', 'PX', 30_000);
    await waitFor(async () => (mirror.remainingMs() ?? 0) > 0, { message: 'the next check to read it' });
    expect(mirror.current).toBe(true);
  });

  it('stops answering while its Redis does not answer pings, and answers again once it does', async () => {
    // A private server, frozen (SIGSTOP): connections stay open, nothing answers, nothing is closed.
    const server = await startRedisServer();
    try {
      const redis = new Redis(server.url);
      connections.push(redis);
      const gate = new ClaudeRateGate(redis, { redisPrefix: prefix, keyId: newKey() });
      gates.push(gate);
      const mirror = await gate.startMirror(silentLogger(), { checkMs: 100 });
      expect(mirror.current).toBe(true);
      server.proc.signal('SIGSTOP');
      try {
        await waitFor(async () => !mirror.current, { message: 'the quiet subscriber to be distrusted' });
        expect(mirror.remainingMs()).toBeNull();
      } finally {
        server.proc.signal('SIGCONT');
      }
      await waitFor(async () => mirror.current, { message: 'the answering subscriber to be trusted again' });
      expect(await gate.remainingMs()).toBe(0);
      await gate.stopMirror();
    } finally {
      await server.stop();
    }
  });
});
