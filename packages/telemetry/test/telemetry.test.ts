import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetricsRegistry, queueDepth, registerQueueDepth, startMetricsServer } from '../src/index.ts';
import { parsePrometheusText, sampleValue } from '../src/testing.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `tstel${randomBytes(4).toString('hex')}`;
let queue: Queue;
let redis: Redis;

beforeAll(async () => {
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  queue = new Queue('turns', { connection: redis, prefix });
});
afterAll(async () => {
  await queue.obliterate({ force: true });
  await queue.close();
  await redis.quit();
});

describe('queue depth', () => {
  it('splits delayed jobs into due and scheduled and reports demand', async () => {
    await queue.add('turn', {}, { jobId: 'w1' });
    await queue.add('turn', {}, { jobId: 'w2' });
    await queue.add('turn', {}, { jobId: 'later', delay: 60_000 });
    const depth = await queueDepth(queue);
    expect(depth).toMatchObject({ waiting: 2, delayed_due: 0, delayed_scheduled: 1, active: 0 });
    // Seen from a minute and a bit later, the delayed job is due.
    expect(await queueDepth(queue, Date.now() + 61_000)).toMatchObject({
      delayed_due: 1,
      delayed_scheduled: 0,
    });

    const registry = createMetricsRegistry({ service: 'test' });
    registerQueueDepth(registry, [queue]);
    const samples = parsePrometheusText(await registry.metrics());
    expect(sampleValue(samples, 'turnstream_queue_jobs', { queue: 'turns', state: 'waiting' })).toBe(2);
    expect(
      sampleValue(samples, 'turnstream_queue_jobs', { queue: 'turns', state: 'delayed_scheduled' }),
    ).toBe(1);
    expect(sampleValue(samples, 'turnstream_queue_demand_turns', { queue: 'turns' })).toBe(2);
    expect(samples.some((s) => s.name === 'nodejs_eventloop_lag_seconds')).toBe(true);
    expect(samples.some((s) => s.name === 'process_cpu_seconds_total')).toBe(true);
  });
});

describe('queue depth per scrape', () => {
  it('reads each queue once per scrape, and a scrape right after a change reports the change', async () => {
    const own = new Queue('depth', { connection: redis, prefix });
    const other = new Queue('depth-other', { connection: redis, prefix });
    try {
      const registry = createMetricsRegistry({ service: 'test' });
      registerQueueDepth(registry, [own, other]);
      const reads = { own: 0, other: 0 };
      for (const [name, q] of [
        ['own', own],
        ['other', other],
      ] as const) {
        const getJobCounts = q.getJobCounts.bind(q);
        q.getJobCounts = (...types) => {
          reads[name]++;
          return getJobCounts(...types);
        };
      }
      const scrape = async () => {
        const samples = parsePrometheusText(await registry.metrics());
        return {
          waiting: sampleValue(samples, 'turnstream_queue_jobs', { queue: 'depth', state: 'waiting' }),
          demand: sampleValue(samples, 'turnstream_queue_demand_turns', { queue: 'depth' }),
        };
      };
      await own.add('turn', {}, { jobId: 'a' });
      expect(await scrape()).toEqual({ waiting: 1, demand: 1 });
      expect(reads).toEqual({ own: 1, other: 1 });
      // At once, with no pause: the previous scrape's read is not served again.
      await own.add('turn', {}, { jobId: 'b' });
      expect(await scrape()).toEqual({ waiting: 2, demand: 2 });
      expect(reads).toEqual({ own: 2, other: 2 });
    } finally {
      await own.obliterate({ force: true });
      await other.obliterate({ force: true });
      await Promise.all([own.close(), other.close()]);
    }
  });
});

describe('metrics server', () => {
  it('serves /healthz, /readyz naming failed checks, and /metrics', async () => {
    const registry = createMetricsRegistry({ service: 'test' });
    let redisUp = true;
    let stopping = false;
    let dead: string | null = null;
    const server = await startMetricsServer({
      registry,
      port: 0,
      checks: {
        redis: async () => {
          if (!redisUp) throw new Error('down');
        },
      },
      stopping: () => stopping,
      liveness: () => dead,
    });
    const base = `http://127.0.0.1:${server.port}`;
    try {
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const ready = await fetch(`${base}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready', checks: { redis: 'ok' } });
      redisUp = false;
      const notReady = await fetch(`${base}/readyz`);
      expect(notReady.status).toBe(503);
      expect(await notReady.json()).toEqual({ status: 'not_ready', checks: { redis: 'failed' } });
      redisUp = true;
      stopping = true;
      expect((await fetch(`${base}/readyz`)).status).toBe(503);
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      redisUp = false;
      const metrics = await fetch(`${base}/metrics`);
      expect(metrics.headers.get('content-type')).toContain('text/plain');
      const samples = parsePrometheusText(await metrics.text());
      expect(sampleValue(samples, 'turnstream_ready', { check: 'redis' })).toBe(0);
      expect(sampleValue(samples, 'turnstream_ready', { check: 'process' })).toBe(0);
      expect(samples.some((s) => s.name === 'process_cpu_seconds_total')).toBe(true);
      expect((await fetch(`${base}/nope`)).status).toBe(404);
      // Only a restart would help: the liveness probe fails, naming why.
      dead = 'event subscriber: connection ended';
      const notLive = await fetch(`${base}/healthz`);
      expect(notLive.status).toBe(503);
      expect(await notLive.json()).toEqual({
        status: 'not_live',
        reason: 'event subscriber: connection ended',
      });
    } finally {
      await server.close();
    }
  });
});
