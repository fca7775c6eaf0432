import { randomBytes } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from '@turnstream/db/testing';
import { deleteKeys, freePort, type ManagedProcess, spawnTsx } from '@turnstream/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readmeCurlSession, runBash } from '../support/readme.ts';
import { REDIS_URL } from '../support/system.ts';

// The README's "run it" command (scripts/dev.ts behind `npm start`) and its curl session, literally.
const prefix = `tsq${randomBytes(4).toString('hex')}`;
let tdb: TestDatabase;
let dev: ManagedProcess;

beforeAll(async () => {
  tdb = await createTestDatabase();
  dev = spawnTsx('scripts/dev.ts', {
    name: 'dev',
    env: {
      DATABASE_URL: tdb.url,
      REDIS_URL,
      REDIS_PREFIX: prefix,
      BULL_PREFIX: `${prefix}bull`,
      PORT: String(await freePort()),
      SIM_PORT: String(await freePort()),
      SIM_TOKEN_DELAY_MS: '2',
      ANTHROPIC_API_KEY: '',
      LOG_LEVEL: 'info',
    },
  });
});
afterAll(async () => {
  await dev?.stop();
  const redis = new Redis(REDIS_URL);
  await deleteKeys(redis, `${prefix}*`);
  await redis.quit();
  await tdb?.drop();
});

describe('quick start', () => {
  it('npm start prints the API and a key, and the README curl session works against it', async () => {
    const banner = await dev.waitForLog(
      (l) => typeof l.msg === 'string' && l.msg.includes('export TS='),
      90_000,
    );
    const [, ts, key] = /export TS=(\S+) KEY=(\S+)/.exec(String(banner.msg))!;
    expect(ts).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const out = await runBash(readmeCurlSession(), { TS: ts!, KEY: key! });
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout.match(/event: turn\.completed/g)).toHaveLength(2);
    expect(out.stdout).toMatch(/event: chunk/);
    expect(out.stdout).toMatch(/"assistantSessionId":"asst_[^"]+","version":2/);
    expect(out.stdout).toMatch(/"role":"assistant","content":"[^"]+","status":"completed"/);
  });
});
