import { randomBytes } from 'node:crypto';
import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { type MetricsServer, registerQueueDepth, startMetricsServer } from '@turnstream/telemetry';
import { waitFor } from '@turnstream/testkit';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { valueAt } from './support/prometheus-text.ts';
import { one, render } from './support/render.ts';

/**
 * The chart's KEDA trigger against the metric the workers really export: the selector the chart renders
 * is looked up, the way KEDA's metrics-api scaler does, in a real /metrics response over a real queue.
 */
const suffix = randomBytes(4).toString('hex');
const queueName = `turns-keda-${suffix}`;
const prefix = `bull-keda-${suffix}`;
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

let redis: Redis;
let queue: Queue;
let worker: Worker;
let server: MetricsServer;

beforeAll(async () => {
  redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  queue = new Queue(queueName, { connection: redis.duplicate(), prefix });
  // No processor: jobs move to active only when the test takes them.
  worker = new Worker(queueName, null, { connection: redis.duplicate(), prefix });
  const registry = new Registry();
  registerQueueDepth(registry, [queue]);
  server = await startMetricsServer({ registry, port: 0, checks: {} });
});

afterAll(async () => {
  await server?.close();
  await worker?.close();
  await queue?.obliterate({ force: true });
  await queue?.close();
  await redis?.quit();
});

async function scaledObjectValueLocation(): Promise<string> {
  const so = one<IScaledObject>(
    await render({ fleet: { turnsQueueName: queueName } }),
    'ScaledObject',
    '-worker',
  );
  return so.spec.triggers[0]!.metadata.valueLocation!;
}

describe('KEDA trigger against the exported metric', () => {
  it('reads running + waiting + due turns, and leaves out jobs waiting out a delay', async () => {
    for (let i = 0; i < 4; i++) await queue.add('turn', { i });
    const token = 'keda-test';
    const active = await worker.getNextJob(token);
    expect(active).toBeDefined();
    await queue.add('turn', { due: true }, { delay: 1 });
    // Messages queued behind a running turn of their conversation, and retries backing off.
    await queue.add('turn', { behind: 1 }, { delay: 60_000 });
    await queue.add('turn', { behind: 2 }, { delay: 60_000 });
    await waitFor(async () => (await queue.getDelayedCount(Date.now() + 1)) === 1, {
      message: 'the 1 ms delay to end',
    });

    const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    const demand = valueAt(text, await scaledObjectValueLocation());
    expect(demand).toBe(1 + 3 + 1);
  });
});
