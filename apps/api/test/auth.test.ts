import { randomUUID } from 'node:crypto';
import { findApiKey, listMessages } from '@turnstream/db';
import { beforeAll, describe, expect, it } from 'vitest';
import { revokeKey } from '../src/keys.ts';
import { harnessFixture, tenantFixture } from './helpers.ts';

const h = harnessFixture();
const a = tenantFixture(h, 'tenant-a');
const b = tenantFixture(h, 'tenant-b');
let convA: string;
let convB: string;
let msgB: string;

beforeAll(async () => {
  convA = (await h.request('POST', '/v1/conversations', { key: a.keys.client, body: { title: 'a' } })).body
    .id;
  convB = (await h.request('POST', '/v1/conversations', { key: b.keys.client, body: { title: 'b' } })).body
    .id;
  msgB = (
    await h.request('POST', `/v1/conversations/${convB}/messages`, {
      key: b.keys.client,
      body: { content: 'hi from b' },
    })
  ).body.messageId;
});

describe('authentication', () => {
  it('rejects a missing key with 401 unauthorized', async () => {
    const res = await h.request('GET', `/v1/conversations/${convA}`);
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: { code: 'unauthorized', message: expect.stringContaining('Bearer') } });
  });

  it('rejects a malformed Authorization header', async () => {
    for (const authorization of ['Basic abc', 'Bearer', 'Bearer a b', a.keys.client]) {
      const res = await h.request('GET', '/v1/conversations', { headers: { authorization } });
      expect(res.status, authorization).toBe(401);
      expect(res.body.error.code).toBe('unauthorized');
    }
  });

  it('rejects an unknown key', async () => {
    const res = await h.request('GET', '/v1/conversations', { key: 'ts_deadbeef_notakey' });
    expect(res.status).toBe(401);
    expect(res.body.error).toEqual({ code: 'unauthorized', message: 'The API key is unknown or revoked.' });
  });

  it('rejects a revoked key', async () => {
    const t = await h.tenant();
    expect((await h.request('GET', '/v1/conversations', { key: t.keys.client })).status).toBe(200);
    const identity = await findApiKey(h.tdb.db, t.keys.client);
    // Revoked as operators do (`key:revoke`): the notice reaches the replica's key cache too
    // (a revocation in the database alone is seen within the sweep interval: key-cache.test.ts).
    await revokeKey({ db: h.tdb.db, redis: h.redis, prefix: h.redisPrefix }, identity!.keyId);
    const res = await h.request('GET', '/v1/conversations', { key: t.keys.client });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('unauthorized');
  });

  it('authenticates before reading the body (no key + bad JSON is 401)', async () => {
    const res = await h.request('POST', '/v1/conversations', {
      rawBody: '{nope',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(401);
  });

  it('leaves health probes open', async () => {
    expect((await h.request('GET', '/healthz')).status).toBe(200);
    expect((await h.request('GET', '/readyz')).status).toBe(200);
  });
});

describe('roles', () => {
  it('lets a viewer read but not write', async () => {
    const { viewer } = a.keys;
    expect((await h.request('GET', `/v1/conversations/${convA}`, { key: viewer })).status).toBe(200);
    expect((await h.request('GET', `/v1/conversations/${convA}/messages`, { key: viewer })).status).toBe(200);
    expect((await h.request('GET', '/v1/conversations', { key: viewer })).status).toBe(200);

    const attempts = [
      h.request('POST', '/v1/conversations', { key: viewer, body: {} }),
      h.request('POST', `/v1/conversations/${convA}/messages`, { key: viewer, body: { content: 'x' } }),
      h.request('POST', `/v1/conversations/${convA}/messages/${randomUUID()}/cancel`, { key: viewer }),
      h.request('POST', `/v1/conversations/${convA}/reset`, { key: viewer }),
    ];
    for (const res of await Promise.all(attempts)) {
      expect(res.status).toBe(403);
      expect(res.body.error).toMatchObject({
        code: 'forbidden',
        details: { role: 'viewer', required: 'write' },
      });
      expect(res.body.error.message).toContain('viewer');
    }
    expect(await listMessages(h.tdb.db, a.tenantId, convA)).toHaveLength(0);
    expect((await h.request('GET', '/v1/conversations', { key: viewer })).body.conversations).toHaveLength(1);
    expect(await h.allJobs()).toHaveLength(1); // only tenant b's message from beforeAll
  });

  it('lets a client create, post and cancel', async () => {
    const conv = await h.request('POST', '/v1/conversations', { key: a.keys.client, body: {} });
    expect(conv.status).toBe(201);
    const msg = await h.request('POST', `/v1/conversations/${conv.body.id}/messages`, {
      key: a.keys.client,
      body: { content: 'hello' },
    });
    expect(msg.status).toBe(202);
    const cancel = await h.request(
      'POST',
      `/v1/conversations/${conv.body.id}/messages/${msg.body.messageId}/cancel`,
      {
        key: a.keys.client,
      },
    );
    expect(cancel.status).toBe(200);
  });

  it('shows turn attempts to admins only', async () => {
    const admin = await h.request('GET', `/v1/conversations/${convB}/messages/${msgB}`, {
      key: b.keys.admin,
    });
    expect(admin.status).toBe(200);
    expect(admin.body.attempts).toEqual([]);
    const client = await h.request('GET', `/v1/conversations/${convB}/messages/${msgB}`, {
      key: b.keys.client,
    });
    expect(client.status).toBe(200);
    expect(client.body).not.toHaveProperty('attempts');
  });
});

describe('tenant isolation', () => {
  it("answers 404 conversation_not_found for another tenant's conversation on every route", async () => {
    const key = a.keys.admin;
    const requests = [
      h.request('GET', `/v1/conversations/${convB}`, { key }),
      h.request('GET', `/v1/conversations/${convB}/messages`, { key }),
      h.request('GET', `/v1/conversations/${convB}/messages/${msgB}`, { key }),
      h.request('POST', `/v1/conversations/${convB}/messages`, { key, body: { content: 'intrusion' } }),
      h.request('POST', `/v1/conversations/${convB}/messages/${msgB}/cancel`, { key }),
      h.request('POST', `/v1/conversations/${convB}/reset`, { key }),
      h.request('GET', `/v1/conversations/${convB}/events`, { key }),
    ];
    for (const res of await Promise.all(requests)) {
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('conversation_not_found');
    }
    expect((await listMessages(h.tdb.db, b.tenantId, convB)).map((m) => m.content)).toEqual(['hi from b']);
    const b1 = await h.request('GET', `/v1/conversations/${convB}/messages/${msgB}`, { key: b.keys.admin });
    expect(b1.body.message.status).toBe('pending');
  });

  it("does not list another tenant's conversations", async () => {
    const res = await h.request('GET', '/v1/conversations', { key: b.keys.viewer });
    expect(res.body.conversations.map((c: { id: string }) => c.id)).toEqual([convB]);
  });

  it("does not find another tenant's message through one's own conversation", async () => {
    const res = await h.request('GET', `/v1/conversations/${convA}/messages/${msgB}`, { key: a.keys.admin });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('message_not_found');
  });
});
