import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { startRedisServer } from '../src/index.ts';

async function roundTrip(url: string, fn: (r: Redis) => Promise<unknown>): Promise<unknown> {
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

describe('startRedisServer', () => {
  it('with appendOnly, keeps its data across a crash restart on the same port', async () => {
    const server = await startRedisServer({ appendOnly: true });
    try {
      await roundTrip(server.url, (r) => r.set('k', 'v'));
      const port = server.port;
      await server.restart('kill');
      expect(server.port).toBe(port);
      expect(server.restarts).toBe(1);
      expect(await roundTrip(server.url, (r) => r.get('k'))).toBe('v');
    } finally {
      await server.stop();
    }
    expect(existsSync(server.dir)).toBe(false);
  });

  it('without appendOnly, a restart loses the data', async () => {
    const server = await startRedisServer();
    try {
      await roundTrip(server.url, (r) => r.set('k', 'v'));
      await server.restart('shutdown');
      expect(await roundTrip(server.url, (r) => r.get('k'))).toBeNull();
    } finally {
      await server.stop();
    }
  });
});
