import { TurnsClient } from '@turnstream/contracts';
import { Redis } from 'ioredis';
import type { TestSystem } from './system.ts';

/** A {@link TurnsClient} of the system (its prefixes) on a Redis connection of its own. */
export interface SystemTurnsClient {
  client: TurnsClient;
  /** The client's connection: also for the test's own queues. */
  redis: Redis;
  /** Close the client, then its connection. */
  close(): Promise<void>;
}

export function systemTurnsClient(
  sys: TestSystem,
  opts: { enqueueTimeoutMs?: number } = {},
): SystemTurnsClient {
  const redis = new Redis(sys.redisUrl, { maxRetriesPerRequest: null });
  const client = new TurnsClient({
    connection: redis,
    prefix: sys.bullPrefix,
    keyPrefix: sys.redisPrefix,
    ...opts,
  });
  return {
    client,
    redis,
    close: async () => {
      await client.close();
      redis.disconnect();
    },
  };
}
