import { createApiKey, createTenant, findApiKey, hashApiKey, revokeApiKey } from '@turnstream/db';
import { SseReader, waitFor } from '@turnstream/testkit';
import type { FastifyInstance } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../src/cli/create-tenant.ts';
import { parseGrace, runKeyCommand } from '../src/cli/keys.ts';
import { addKey, KeyAdminError, listKeys, revokeKey, rotateKey } from '../src/keys.ts';
import { harnessFixture } from './helpers.ts';

/**
 * Keys are managed by commands (add, list, revoke, rotate) and revocation is immediate: a revoked key's
 * open event streams, and those of the stream tokens it issued, end within seconds on every replica.
 */
// A sweep far slower than the test: streams must end through the published revocation.
const h = harnessFixture({ config: { keyRevocationSweepMs: 600_000 } });
let replica: FastifyInstance;
let urlA: string;
let urlB: string;

beforeAll(async () => {
  urlA = await h.listen();
  replica = h.build({});
  urlB = await replica.listen({ port: 0, host: '127.0.0.1' });
});

const deps = () => ({ db: h.tdb.db, redis: h.redis, prefix: h.redisPrefix });

async function tenantWithKey(role: 'client' | 'viewer' | 'admin' = 'client') {
  const tenant = await createTenant(h.tdb.db, { name: `t-${Math.random().toString(36).slice(2, 8)}` });
  const key = await createApiKey(h.tdb.db, { tenantId: tenant.id, role });
  return { tenantId: tenant.id, key };
}

async function conversation(key: string): Promise<string> {
  const res = await h.request('POST', '/v1/conversations', { key, body: {} });
  expect(res.status).toBe(201);
  return res.body.id;
}

function stream(base: string, conv: string, key: string): SseReader {
  return new SseReader(`${base}/v1/conversations/${conv}/events`, {
    headers: { authorization: `Bearer ${key}` },
  });
}

async function streamWithToken(base: string, conv: string, key: string): Promise<SseReader> {
  const res = await h.request('POST', `/v1/conversations/${conv}/stream-tokens`, { key });
  expect(res.status).toBe(201);
  return new SseReader(`${base}${res.body.eventsUrl}`);
}

describe('revocation is immediate on every replica', () => {
  it('revoking a key ends its streams and its stream tokens’ streams on both replicas, with stream.revoked', async () => {
    const { key } = await tenantWithKey();
    const other = await tenantWithKey();
    const conv = await conversation(key.key);
    const otherConv = await conversation(other.key.key);
    const readers = [
      stream(urlA, conv, key.key),
      stream(urlB, conv, key.key),
      await streamWithToken(urlA, conv, key.key),
      await streamWithToken(urlB, conv, key.key),
    ];
    const bystander = stream(urlB, otherConv, other.key.key);
    for (const r of [...readers, bystander]) expect(await r.open()).toBe(200);
    await waitFor(() => h.metrics.sseClientsOpen >= 5);

    await revokeKey(deps(), key.prefix);

    for (const r of readers) {
      const frames = await r.rest();
      expect(frames.at(-1)?.event).toBe('stream.revoked');
    }
    // Reconnecting with the revoked key (or its token) is refused.
    expect((await h.request('GET', `/v1/conversations/${conv}`, { key: key.key })).status).toBe(401);
    // Another key's stream goes on.
    expect(bystander.ended).toBe(false);
    await h.streams.publish(otherConv, null, [{ type: 'turn.queued', messageId: crypto.randomUUID() }]);
    expect((await bystander.take(1))[0]!.event).toBe('turn.queued');
    bystander.close();
  });

  it('a key revoked without a published notice (or whose rotation grace ends) is caught by the sweep', async () => {
    const app = h.build({ config: { keyRevocationSweepMs: 100 } });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const { tenantId, key } = await tenantWithKey();
    const conv = await conversation(key.key);
    const reader = stream(url, conv, key.key);
    expect(await reader.open()).toBe(200);
    await revokeApiKey(h.tdb.db, tenantId, key.id); // the database only: no Redis notice
    const frames = await reader.rest();
    expect(frames.at(-1)?.event).toBe('stream.revoked');
  });
});

describe('key commands', () => {
  it('adds a client key by default, viewer or admin on request, only to an existing tenant', async () => {
    const { tenantId } = await tenantWithKey();
    const client = await addKey(h.tdb.db, { tenantId });
    expect(client.role).toBe('client');
    expect((await addKey(h.tdb.db, { tenantId, role: 'viewer' })).role).toBe('viewer');
    expect((await addKey(h.tdb.db, { tenantId, role: 'admin', name: 'ops' })).role).toBe('admin');
    expect(await findApiKey(h.tdb.db, client.key)).toMatchObject({ tenantId, role: 'client' });
    await expect(addKey(h.tdb.db, { tenantId: crypto.randomUUID() })).rejects.toThrow(KeyAdminError);
  });

  it('lists prefix, role, created, last used and status; never the secret or its hash', async () => {
    const { tenantId, key } = await tenantWithKey('admin');
    const unused = await addKey(h.tdb.db, { tenantId, role: 'viewer', name: 'dashboards' });
    expect((await h.request('GET', '/v1/conversations', { key: key.key })).status).toBe(200);
    const listed = await waitFor(async () => {
      const keys = await listKeys(deps(), tenantId);
      return keys.find((k) => k.id === key.id)?.lastUsedAt ? keys : null;
    });
    expect(listed.map((k) => [k.prefix, k.role, k.status])).toEqual([
      [key.prefix, 'admin', 'active'],
      [unused.prefix, 'viewer', 'active'],
    ]);
    expect(listed[0]!.createdAt).toBeInstanceOf(Date);
    expect(listed[1]!.lastUsedAt).toBeNull();
    const text = JSON.stringify(listed);
    for (const secret of [key.key, unused.key, hashApiKey(key.key), hashApiKey(unused.key)]) {
      expect(text).not.toContain(secret);
    }
  });

  it('revokes by prefix or id: the key stops at once; revoking twice says so', async () => {
    const { key } = await tenantWithKey();
    expect((await h.request('GET', '/v1/conversations', { key: key.key })).status).toBe(200);
    await revokeKey(deps(), key.id);
    expect((await h.request('GET', '/v1/conversations', { key: key.key })).status).toBe(401);
    await expect(revokeKey(deps(), key.prefix)).rejects.toThrow(/already revoked/);
    await expect(revokeKey(deps(), 'ts_nope')).rejects.toThrow(KeyAdminError);
  });

  it('rotates: a new key with the same role; the old one works for the grace period, then stops', async () => {
    const { tenantId, key } = await tenantWithKey('viewer');
    const rotated = await rotateKey(deps(), key.prefix, 2);
    expect(rotated.created.role).toBe('viewer');
    expect(rotated.created.tenantId).toBe(tenantId);
    expect((await h.request('GET', '/v1/conversations', { key: rotated.created.key })).status).toBe(200);
    expect((await h.request('GET', '/v1/conversations', { key: key.key })).status).toBe(200);
    expect((await listKeys(deps(), tenantId)).find((k) => k.id === key.id)!.status).toBe('expiring');
    await waitFor(
      async () => (await h.request('GET', '/v1/conversations', { key: key.key })).status === 401,
      { message: 'the old key stops after its grace period' },
    );
    expect((await listKeys(deps(), tenantId)).find((k) => k.id === key.id)!.status).toBe('revoked');
    expect((await h.request('GET', '/v1/conversations', { key: rotated.created.key })).status).toBe(200);
    await expect(rotateKey(deps(), key.id, 60)).rejects.toThrow(/revoked/);
  });

  it('rotating twice never extends the first grace period', async () => {
    const { key } = await tenantWithKey();
    const first = await rotateKey(deps(), key.id, 60);
    const second = await rotateKey(deps(), key.id, 3600);
    expect(second.oldKeyExpiresAt.getTime()).toBe(first.oldKeyExpiresAt.getTime());
  });
});

describe('the key:* and tenant:limits commands', () => {
  const run = (command: string, ...argv: string[]) => runKeyCommand(command, argv, deps());

  it('create, list, rotate and revoke, printing what an operator needs (the secret only on creation)', async () => {
    const { tenantId } = await tenantWithKey();
    const created = (await run('create', '--tenant', tenantId)) as {
      apiKey: string;
      prefix: string;
      role: string;
    };
    expect(created.role).toBe('client');
    expect((await h.request('GET', '/v1/conversations', { key: created.apiKey })).status).toBe(200);
    const admin = (await run('create', '--', '--tenant', tenantId, '--role', 'admin', '--name', 'ops')) as {
      role: string;
    };
    expect(admin.role).toBe('admin');

    const listed = (await run('list', '--tenant', tenantId)) as {
      keys: Array<{ prefix: string; role: string }>;
    };
    expect(listed.keys.map((k) => k.role)).toEqual(['client', 'client', 'admin']);
    expect(JSON.stringify(listed)).not.toContain(created.apiKey);

    const rotated = (await run('rotate', '--key', created.prefix, '--grace', '0')) as {
      apiKey: string;
      replaces: { prefix: string };
    };
    expect(rotated.replaces.prefix).toBe(created.prefix);
    expect((await h.request('GET', '/v1/conversations', { key: created.apiKey })).status).toBe(401);
    expect((await h.request('GET', '/v1/conversations', { key: rotated.apiKey })).status).toBe(200);

    await run('revoke', '--key', rotated.apiKey.slice(0, 12));
    expect((await h.request('GET', '/v1/conversations', { key: rotated.apiKey })).status).toBe(401);
  });

  it('sets and resets per-tenant limits', async () => {
    const { tenantId } = await tenantWithKey();
    expect(
      await run('limits', '--tenant', tenantId, '--messages-per-minute', '30', '--running-turns', '2'),
    ).toMatchObject({
      messagesPerMinute: 30,
      maxRunningTurns: 2,
    });
    expect(await run('limits', '--tenant', tenantId, '--running-turns', 'default')).toMatchObject({
      messagesPerMinute: 30,
      maxRunningTurns: null,
    });
    await expect(run('limits', '--tenant', crypto.randomUUID())).rejects.toThrow(KeyAdminError);
  });

  it('refuses bad usage with the usage line', async () => {
    await expect(run('create')).rejects.toThrow(/--tenant is required[\s\S]*usage: key:create/);
    await expect(run('create', '--tenant', 'acme')).rejects.toThrow(/a UUID/);
    await expect(run('create', '--tenant', crypto.randomUUID(), '--role', 'root')).rejects.toThrow(
      /--role must be/,
    );
    await expect(run('rotate', '--key', 'x', '--grace', 'soon')).rejects.toThrow(/--grace/);
    await expect(run('limits', '--tenant', crypto.randomUUID(), '--running-turns', '0')).rejects.toThrow(
      UsageError,
    );
    await expect(run('explode')).rejects.toThrow(/unknown command/);
    await expect(run('list', '--tenant', crypto.randomUUID(), '--colour', 'red')).rejects.toThrow(UsageError);
  });

  it('parses grace durations', () => {
    expect(parseGrace('24h')).toBe(86_400);
    expect(parseGrace('90m')).toBe(5_400);
    expect(parseGrace('30s')).toBe(30);
    expect(parseGrace('45')).toBe(45);
    expect(parseGrace('0')).toBe(0);
    expect(() => parseGrace('31d')).toThrow(/30 days/);
    expect(() => parseGrace('-1h')).toThrow(UsageError);
  });
});
