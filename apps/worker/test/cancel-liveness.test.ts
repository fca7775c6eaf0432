// The worker's cancel listener on a private redis-server: a subscriber connection that drops and stops
// reconnecting makes the worker not live (and its Redis not ready). Only that connection is dropped
// (CLIENT KILL of the server's pub/sub clients): killing the server would also send the worker's BullMQ
// connections into their reconnect backoff (up to 20 s a try), and closing the worker then waited on
// them past the hook's timeout in a loaded full-suite run.
import { randomBytes } from 'node:crypto';
import { createClaudeProvider } from '@turnstream/claude';
import { cancelChannel } from '@turnstream/contracts';
import { createTestDatabase, type TestDatabase } from '@turnstream/db/testing';
import { memoryLogger } from '@turnstream/logger/testing';
import { createTurnStreams } from '@turnstream/streams';
import { type RedisServer, startRedisServer, waitFor } from '@turnstream/testkit';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorker, type TurnWorker } from '../src/worker.ts';

const prefix = `tcl${randomBytes(4).toString('hex')}`;
let server: RedisServer;
let tdb: TestDatabase;
let redis: Redis;
const opened: { workers: TurnWorker[]; redis: Redis[] } = { workers: [], redis: [] };

/** A connection to the private server; refused reconnects while it is down are expected. */
function connection(options: RedisOptions = {}): Redis {
  const r = new Redis(server.url, { maxRetriesPerRequest: null, ...options });
  r.on('error', () => {});
  opened.redis.push(r);
  return r;
}

beforeAll(async () => {
  server = await startRedisServer();
  tdb = await createTestDatabase();
  redis = connection();
});

afterAll(async () => {
  for (const w of opened.workers) await w.close({ graceMs: 0 });
  await Promise.all(opened.redis.map((r) => r.quit().catch(() => r.disconnect())));
  await server?.stop();
  await tdb?.drop();
});

async function probe(port: number, path: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.json() };
}

describe('a cancel listener whose connection stops reconnecting', () => {
  it('fails the liveness probe (503 not_live) and the redis readiness check, and logs why', async () => {
    const { logger, lines } = memoryLogger({ name: 'worker-test' });
    const tw = await createWorker({
      db: tdb.db,
      redis,
      // ioredis gives up at the first drop: the listener's connection (a duplicate) ends for good,
      // while the worker's other connections reconnect.
      cancelRedis: connection({ retryStrategy: () => null }),
      streams: createTurnStreams({ redis, keyPrefix: prefix }),
      // Never called: no turn is queued.
      provider: createClaudeProvider({ apiKey: 'unused', baseURL: 'http://127.0.0.1:9' }),
      logger,
      workerId: 'cancel-liveness',
      bullPrefix: `${prefix}bull`,
      reconcileIntervalMs: 0,
      metricsPort: 0,
      config: { redisPrefix: prefix },
    });
    opened.workers.push(tw);
    const port = tw.metricsServer!.port;
    expect(await probe(port, '/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
    // The listener hears the cancel channel.
    expect(await redis.publish(cancelChannel(prefix), '{}')).toBe(1);

    // The listener's connection is the server's only pub/sub client.
    expect(await redis.call('CLIENT', 'KILL', 'TYPE', 'pubsub')).toBe(1);
    await waitFor(() => lines.some((l) => l.event === 'cancel.subscriber_ended'), {
      message: 'the cancel subscriber to end',
    });
    // Nobody hears a cancel any more, and only a restart mends that.
    expect(await redis.publish(cancelChannel(prefix), '{}')).toBe(0);
    expect(await probe(port, '/healthz')).toEqual({
      status: 503,
      body: {
        status: 'not_live',
        reason:
          'cancel subscriber: the cancel subscriber connection ended for good (Redis reconnects stopped)',
      },
    });
    const ready = await probe(port, '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ status: 'not_ready', checks: { postgres: 'ok', redis: 'failed' } });
    expect(lines.find((l) => l.event === 'cancel.subscriber_ended')).toMatchObject({ level: 50 });
  });
});
