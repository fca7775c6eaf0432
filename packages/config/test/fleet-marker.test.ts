import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  FLEET_DEFAULTS,
  type FleetMembership,
  FleetMismatchError,
  type FleetSettings,
  fleetMarkerKeys,
  fleetMarkerValue,
  joinFleet,
} from '../src/index.ts';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const quiet = { warn: () => {}, error: () => {} };
const joined: FleetMembership[] = [];

afterEach(async () => {
  await Promise.all(joined.splice(0).map((m) => m.leave().catch(() => undefined)));
});
afterAll(async () => {
  await redis.quit();
});

async function join(identity: string, settings: FleetSettings, ttlMs = 30_000): Promise<FleetMembership> {
  const m = await joinFleet({
    redis,
    identity: async () => identity,
    settings,
    member: randomUUID(),
    logger: quiet,
    ttlMs,
  });
  joined.push(m);
  return m;
}

describe('fleet marker', () => {
  it('lets processes with the same settings join and refuses one that differs, naming each difference', async () => {
    const fleet = `test-${randomUUID()}`;
    await join(fleet, FLEET_DEFAULTS);
    await join(fleet, { ...FLEET_DEFAULTS });
    const odd = { ...FLEET_DEFAULTS, BULL_PREFIX: 'other', REDIS_SHARDED_PUBSUB: true };
    const err = await join(fleet, odd).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FleetMismatchError);
    const mismatch = err as FleetMismatchError;
    expect(mismatch.members).toBe(2);
    expect(mismatch.differences).toEqual([
      { name: 'BULL_PREFIX', here: 'other', fleet: 'bull' },
      { name: 'REDIS_SHARDED_PUBSUB', here: true, fleet: false },
    ]);
    expect(mismatch.message).toContain('BULL_PREFIX is "other" here but "bull" in the fleet');
  });

  it('keys the marker by the deployment, not by any setting: a different REDIS_PREFIX is caught', async () => {
    const fleet = `test-${randomUUID()}`;
    await join(fleet, FLEET_DEFAULTS);
    await expect(join(fleet, { ...FLEET_DEFAULTS, REDIS_PREFIX: 'elsewhere' })).rejects.toThrow(
      /REDIS_PREFIX/,
    );
    // Another deployment (another database) on the same Redis has its own marker.
    await join(`test-${randomUUID()}`, { ...FLEET_DEFAULTS, REDIS_PREFIX: 'elsewhere' });
  });

  it('accepts new settings once every member has left, and the last one out removes the marker', async () => {
    const fleet = `test-${randomUUID()}`;
    const a = await join(fleet, FLEET_DEFAULTS);
    const b = await join(fleet, FLEET_DEFAULTS);
    await a.leave();
    await expect(join(fleet, { ...FLEET_DEFAULTS, TURNS_QUEUE_NAME: 'q2' })).rejects.toThrow(
      /TURNS_QUEUE_NAME/,
    );
    await b.leave();
    const keys = fleetMarkerKeys(fleet);
    expect(await redis.exists(keys.settings, keys.members)).toBe(0);
    await join(fleet, { ...FLEET_DEFAULTS, TURNS_QUEUE_NAME: 'q2' });
  });

  it('forgets a member that stopped renewing (a killed process) after its time-to-live', async () => {
    const fleet = `test-${randomUUID()}`;
    const keys = fleetMarkerKeys(fleet);
    // What a member killed a time-to-live ago leaves behind: the marker, and its entry, expired.
    await redis.set(keys.settings, fleetMarkerValue(FLEET_DEFAULTS), 'PX', 30_000);
    await redis.zadd(keys.members, Date.now() - 1, 'dead');
    await redis.pexpire(keys.members, 30_000);
    await join(fleet, { ...FLEET_DEFAULTS, BULL_PREFIX: 'after-crash' });
    expect(JSON.parse((await redis.get(keys.settings))!)).toMatchObject({ BULL_PREFIX: 'after-crash' });
  });

  it('renews a live member so it keeps counting past its time-to-live', async () => {
    const fleet = `test-${randomUUID()}`;
    const keys = fleetMarkerKeys(fleet);
    await join(fleet, FLEET_DEFAULTS, 300);
    const expiry = async () => Number((await redis.zrange(keys.members, '0', '0', 'WITHSCORES'))[1]);
    const first = await expiry();
    await expect.poll(expiry).toBeGreaterThan(first);
    await expect(join(fleet, { ...FLEET_DEFAULTS, BULL_PREFIX: 'x' })).rejects.toThrow(FleetMismatchError);
  });

  it('waits for Redis instead of failing when it cannot be reached', async () => {
    const warnings: unknown[] = [];
    const down = new Redis('redis://127.0.0.1:1', { maxRetriesPerRequest: 0, lazyConnect: true });
    down.on('error', () => {});
    const abort = new AbortController();
    const attempt = joinFleet({
      signal: abort.signal,
      redis: down,
      identity: async () => 'unreachable',
      settings: FLEET_DEFAULTS,
      member: 'm',
      logger: { warn: (o) => warnings.push(o), error: () => {} },
      retryMs: 20,
    });
    await expect.poll(() => warnings.length).toBeGreaterThanOrEqual(2);
    expect(warnings[0]).toMatchObject({ event: 'fleet.check_waiting' });
    abort.abort(new Error('stopping'));
    await expect(attempt).rejects.toThrow('stopping');
    down.disconnect();
  });
});
