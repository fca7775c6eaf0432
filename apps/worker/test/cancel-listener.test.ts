// The worker's cancel listener across a Redis restart (a private redis-server): it logs the refused
// reconnects as structured lines (not ioredis' "Unhandled error event" on stderr) and hears cancels
// again once Redis is back.
import { randomBytes } from 'node:crypto';
import { cancelChannel } from '@turnstream/contracts';
import { memoryLogger } from '@turnstream/logger/testing';
import { type RedisServer, startRedisServer, waitFor } from '@turnstream/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CancelListener } from '../src/cancel-listener.ts';
import { RunningTurns } from '../src/turn-context.ts';

const prefix = `tcs${randomBytes(4).toString('hex')}`;
let server: RedisServer;
let redis: Redis;

beforeAll(async () => {
  server = await startRedisServer();
  redis = new Redis(server.url, { maxRetriesPerRequest: null });
  redis.on('error', () => {}); // the test's own connection is refused while the server is down
});

afterAll(async () => {
  await redis?.quit().catch(() => redis.disconnect());
  await server?.stop();
});

describe('the cancel listener across a Redis restart', () => {
  it('logs the refused reconnects and hears cancels again once Redis is back', async () => {
    const { logger, lines } = memoryLogger({ name: 'worker-test' });
    const listener = new CancelListener({ redis, prefix, running: new RunningTurns(), logger });
    try {
      await listener.start();
      expect(await redis.publish(cancelChannel(prefix), '{}')).toBe(1);
      await server.restart('kill', async () => {
        await waitFor(() => lines.some((l) => l.event === 'cancel.subscriber_failed'), {
          message: 'a refused reconnect to be logged',
        });
      });
      expect(lines.find((l) => l.event === 'cancel.subscriber_failed')).toMatchObject({
        level: 40,
        err: expect.stringContaining('ECONNREFUSED'),
      });
      await waitFor(async () => (await redis.publish(cancelChannel(prefix), '{}')) === 1, {
        message: 'the listener subscribed again',
      });
      expect(listener.failure).toBeNull();
    } finally {
      await listener.stop();
    }
  });
});
