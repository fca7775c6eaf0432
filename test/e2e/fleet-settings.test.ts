import { randomBytes } from 'node:crypto';
import { FLEET_MISMATCH_EXIT_CODE } from '@turnstream/config';
import { createTestDatabase, type TestDatabase } from '@turnstream/db/testing';
import { deleteKeys, freePort, type ManagedProcess, spawnTsx, startApp } from '@turnstream/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_URL } from '../support/system.ts';

// Real API and worker processes on one database: the first sets the fleet's settings, a process that
// disagrees refuses to run with exit code 3 and says which setting differs; once the fleet has stopped,
// new settings are accepted.
const prefix = `tsf${randomBytes(4).toString('hex')}`;
let tdb: TestDatabase;
const procs: ManagedProcess[] = [];

beforeAll(async () => {
  tdb = await createTestDatabase();
});
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  const redis = new Redis(REDIS_URL);
  await deleteKeys(redis, `${prefix}*`);
  await redis.quit();
  await tdb?.drop();
});

function fleetEnv(bullPrefix: string): Record<string, string> {
  return {
    DATABASE_URL: tdb.url,
    REDIS_URL,
    REDIS_PREFIX: prefix,
    BULL_PREFIX: bullPrefix,
    MIGRATE_ON_START: 'false',
  };
}

const workerEnv = {
  ANTHROPIC_API_KEY: 'unused',
  ANTHROPIC_BASE_URL: 'http://127.0.0.1:9',
  WORKER_CONCURRENCY: '2',
};

describe('fleet settings check', () => {
  it('refuses a process whose fleet settings disagree with the running fleet, and accepts them once it stopped', async () => {
    const worker = await startApp('worker', {
      name: 'worker',
      env: { ...fleetEnv(`${prefix}bull`), ...workerEnv },
    });
    procs.push(worker.proc);

    const api = spawnTsx('apps/api/src/main.ts', {
      name: 'api-mismatch',
      env: { ...fleetEnv(`${prefix}other`), PORT: String(await freePort()) },
    });
    procs.push(api);
    expect((await api.exited).code).toBe(FLEET_MISMATCH_EXIT_CODE);
    const refusal = api.lines.find((l) => l.event === 'config.fleet_mismatch');
    expect(refusal?.differences).toEqual([
      { name: 'BULL_PREFIX', here: `${prefix}other`, fleet: `${prefix}bull` },
    ]);
    expect(refusal?.msg).toMatch(/BULL_PREFIX is "\w+other" here but "\w+bull" in the fleet/);

    const matching = await startApp('api', {
      name: 'api',
      env: { ...fleetEnv(`${prefix}bull`), PORT: String(await freePort()) },
    });
    procs.push(matching.proc);

    await matching.proc.stop();
    await worker.proc.stop();
    const renamed = await startApp('worker', {
      name: 'worker-renamed',
      env: { ...fleetEnv(`${prefix}other`), ...workerEnv },
    });
    procs.push(renamed.proc);
  });
});
