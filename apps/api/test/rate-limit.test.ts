import { setTenantLimits } from '@turnstream/db';
import { databaseDigest } from '@turnstream/db/testing';
import type { FastifyInstance } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { harnessFixture, type Tenant } from './helpers.ts';

/** Messages per minute per tenant, counted in Redis across API replicas: 429 + Retry-After beyond it. */
const h = harnessFixture({ config: { tenantMessagesPerMinute: 5 } });
let replica: FastifyInstance;

beforeAll(async () => {
  replica = h.build({});
  await replica.ready();
});

async function conversation(t: Tenant): Promise<string> {
  return (await h.request('POST', '/v1/conversations', { key: t.keys.client, body: {} })).body.id;
}

function post(app: FastifyInstance, t: Tenant, conv: string, content: string) {
  return app.inject({
    method: 'POST',
    url: `/v1/conversations/${conv}/messages`,
    headers: { authorization: `Bearer ${t.keys.client}`, 'content-type': 'application/json' },
    payload: JSON.stringify({ content }),
  });
}

describe('messages per minute per tenant', () => {
  it('the tenant limit holds across replicas: 429 rate_limited with Retry-After, writing nothing', async () => {
    const t = await h.tenant();
    await setTenantLimits(h.tdb.db, t.tenantId, { messagesPerMinute: 3 });
    const conv = await conversation(t);
    expect((await post(h.app, t, conv, 'one')).statusCode).toBe(202);
    expect((await post(replica, t, conv, 'two')).statusCode).toBe(202);
    expect((await post(h.app, t, conv, 'three')).statusCode).toBe(202);

    const before = await databaseDigest(h.tdb);
    const jobsBefore = (await h.allJobs()).length;
    const limited = await post(replica, t, conv, 'four');
    expect(limited.statusCode).toBe(429);
    const retryAfter = Number(limited.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(limited.headers['x-request-id']).toBeTruthy();
    expect(limited.json().error).toMatchObject({
      code: 'rate_limited',
      details: { limit: 3, windowSeconds: 60, retryAfterSeconds: retryAfter },
    });
    expect(await databaseDigest(h.tdb)).toBe(before);
    expect((await h.allJobs()).length).toBe(jobsBefore);
  });

  it("one tenant's limit does not touch another's; reads are not limited", async () => {
    const noisy = await h.tenant();
    const quiet = await h.tenant();
    await setTenantLimits(h.tdb.db, noisy.tenantId, { messagesPerMinute: 1 });
    const noisyConv = await conversation(noisy);
    const quietConv = await conversation(quiet);
    expect((await post(h.app, noisy, noisyConv, 'a')).statusCode).toBe(202);
    expect((await post(h.app, noisy, noisyConv, 'b')).statusCode).toBe(429);
    expect((await post(h.app, quiet, quietConv, 'a')).statusCode).toBe(202);
    const read = await h.request('GET', `/v1/conversations/${noisyConv}/messages`, {
      key: noisy.keys.viewer,
    });
    expect(read.status).toBe(200);
  });

  it('a tenant without its own limit gets the deployment default', async () => {
    const t = await h.tenant();
    const conv = await conversation(t);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await post(h.app, t, conv, `m${i}`)).statusCode);
    expect(statuses).toEqual([202, 202, 202, 202, 202, 429]);
  });

  it('every key of the tenant shares the limit', async () => {
    const t = await h.tenant();
    await setTenantLimits(h.tdb.db, t.tenantId, { messagesPerMinute: 1 });
    const conv = await conversation(t);
    expect((await post(h.app, t, conv, 'a')).statusCode).toBe(202);
    const viaAdmin = await h.request('POST', `/v1/conversations/${conv}/messages`, {
      key: t.keys.admin,
      body: { content: 'b' },
    });
    expect(viaAdmin.status).toBe(429);
  });
});
