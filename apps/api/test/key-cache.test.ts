import { findApiKey, revokeApiKey, rotateApiKey } from '@turnstream/db';
import { waitFor } from '@turnstream/testkit';
import { describe, expect, it } from 'vitest';
import { ApiKeyCache } from '../src/key-cache.ts';
import { keyRevokedChannel } from '../src/key-revocation.ts';
import { revokeKey } from '../src/keys.ts';
import { harnessFixture } from './helpers.ts';

/**
 * Each replica keeps the keys it resolved, so a client's requests do not each read the database, and
 * a revocation still takes effect at once: the revocation notice drops the key, nothing is kept while
 * the notice channel is down, a key with an end (rotation) is never kept. Entries live as long as the
 * sweep interval: here ten minutes, so only the notices (or their absence) can explain what is seen.
 */
const h = harnessFixture({ config: { keyRevocationSweepMs: 600_000 } });

async function keyOf(role: 'client' | 'viewer' = 'client') {
  const t = await h.tenant();
  const key = t.keys[role];
  const identity = await findApiKey(h.tdb.db, key);
  return { tenantId: t.tenantId, key, keyId: identity!.keyId };
}

const status = async (key: string) => (await h.request('GET', '/v1/conversations', { key })).status;

describe('the key cache of a replica', () => {
  it('answers from the cache until a notice published elsewhere drops the key', async () => {
    const { tenantId, key, keyId } = await keyOf();
    expect(await status(key)).toBe(200);
    // Revoked in the database alone: the replica has not been told, and serves the key it holds.
    await revokeApiKey(h.tdb.db, tenantId, keyId);
    expect(await status(key)).toBe(200);
    // The notice, from another process's connection: the next request reads the database.
    await h.connection().publish(keyRevokedChannel(h.redisPrefix), JSON.stringify({ keyIds: [keyId] }));
    await waitFor(async () => (await status(key)) === 401, { message: 'the notice drops the cached key' });
  });

  it('refuses a key revoked through the command at once, on the request right after', async () => {
    const { key, keyId } = await keyOf();
    expect(await status(key)).toBe(200);
    await revokeKey({ db: h.tdb.db, redis: h.redis, prefix: h.redisPrefix }, keyId);
    expect(await status(key)).toBe(401);
  });

  it('drops a rotated key on its notice, so it stops when its grace period ends', async () => {
    const { tenantId, key, keyId } = await keyOf();
    expect(await status(key)).toBe(200);
    await rotateApiKey(h.tdb.db, tenantId, keyId, 1);
    await h.connection().publish(keyRevokedChannel(h.redisPrefix), JSON.stringify({ changed: [keyId] }));
    // Read again, with its end: still valid, never kept, and refused once the grace period is over.
    await waitFor(async () => (await status(key)) === 401, { message: 'the rotated key stops' });
  });

  it('drops every key when the notice channel’s connection drops (a notice may be lost meanwhile)', async () => {
    const { tenantId, key, keyId } = await keyOf();
    expect(await status(key)).toBe(200);
    await revokeApiKey(h.tdb.db, tenantId, keyId);
    const list = (await h.redis.client('LIST')) as string;
    const ids = list
      .split('\n')
      .filter((line) => line.includes(` name=${h.redisPrefix}:key-revocations `) && /\bsub=[1-9]/.test(line))
      .map((line) => /^id=(\d+)/.exec(line)![1]!);
    expect(ids.length).toBeGreaterThan(0);
    for (const id of ids) await h.redis.client('KILL', 'ID', id);
    await waitFor(async () => (await status(key)) === 401, { message: 'the cache is emptied on close' });
  });
});

describe('ApiKeyCache', () => {
  function counted() {
    const calls = { n: 0 };
    const load = (presented: string) => {
      calls.n++;
      return findApiKey(h.tdb.db, presented);
    };
    return { calls, load };
  }

  it('reads a key once while it listens, and every time before it does', async () => {
    const { key, keyId } = await keyOf();
    const cache = new ApiKeyCache(600_000);
    const { calls, load } = counted();
    expect((await cache.resolve(key, load))?.keyId).toBe(keyId);
    expect((await cache.resolve(key, load))?.keyId).toBe(keyId);
    expect(calls.n).toBe(2);
    cache.listen();
    await cache.resolve(key, load);
    await cache.resolve(key, load);
    expect(calls.n).toBe(3);
    cache.deafen();
    await cache.resolve(key, load);
    expect(calls.n).toBe(4);
  });

  it('does not keep a lookup that was in flight when a notice arrived', async () => {
    const { key, keyId } = await keyOf();
    const cache = new ApiKeyCache(600_000);
    cache.listen();
    const { calls, load } = counted();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const first = cache.resolve(key, async (presented) => {
      const found = await load(presented);
      await gate;
      return found;
    });
    await waitFor(() => calls.n === 1);
    cache.forget([keyId]);
    release();
    expect((await first)?.keyId).toBe(keyId);
    await cache.resolve(key, load);
    expect(calls.n).toBe(2);
  });

  it('never keeps a key with an end (a rotated key in its grace period), nor an unknown one', async () => {
    const { tenantId, key, keyId } = await keyOf();
    await rotateApiKey(h.tdb.db, tenantId, keyId, 3600);
    const cache = new ApiKeyCache(600_000);
    cache.listen();
    const { calls, load } = counted();
    expect((await cache.resolve(key, load))?.keyId).toBe(keyId);
    expect((await cache.resolve(key, load))?.keyId).toBe(keyId);
    expect(await cache.resolve('ts_deadbeef_notakey', load)).toBeNull();
    expect(await cache.resolve('ts_deadbeef_notakey', load)).toBeNull();
    expect(calls.n).toBe(4);
    expect(cache.size).toBe(0);
  });

  it('expires an entry after its time', async () => {
    const { key } = await keyOf();
    const cache = new ApiKeyCache(1_000);
    cache.listen();
    const { calls, load } = counted();
    const now = Date.now();
    await cache.resolve(key, load, now);
    await cache.resolve(key, load, now + 999);
    expect(calls.n).toBe(1);
    await cache.resolve(key, load, now + 1_000);
    expect(calls.n).toBe(2);
  });
});
