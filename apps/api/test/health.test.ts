import { createDb } from '@turnstream/db';
import { memoryLogger } from '@turnstream/logger/testing';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { harnessFixture, tenantFixture } from './helpers.ts';

const h = harnessFixture();
const t = tenantFixture(h);

describe('health', () => {
  it('GET /healthz answers while the process is up', async () => {
    const res = await h.request('GET', '/healthz');
    expect(res).toMatchObject({ status: 200, body: { status: 'ok' } });
  });

  it('GET /readyz checks Postgres and Redis', async () => {
    const res = await h.request('GET', '/readyz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ready', checks: { postgres: 'ok', redis: 'ok' } });
  });

  it('GET /readyz answers 503 not_ready naming what failed', async () => {
    const deadRedis = new Redis(REDIS_URL_UNREACHABLE, {
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      lazyConnect: true,
    });
    deadRedis.on('error', () => {});
    const app = h.build({ redis: deadRedis });
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({
      error: {
        code: 'not_ready',
        message: 'Not ready: redis unavailable.',
        details: { checks: { postgres: 'ok', redis: 'failed' } },
      },
    });
    deadRedis.disconnect();

    const closedDb = createDb({ url: h.tdb.url, max: 1 });
    await closedDb.close();
    const app2 = h.build({ db: closedDb.db });
    const res2 = await app2.inject({ method: 'GET', url: '/readyz' });
    expect(res2.statusCode).toBe(503);
    expect(res2.json().error.message).toBe('Not ready: postgres unavailable.');
  });
});

const REDIS_URL_UNREACHABLE = 'redis://127.0.0.1:1';

describe('errors and logs', () => {
  it('answers unexpected failures with 500 internal, leaking nothing, and logs them', async () => {
    const { logger, lines } = memoryLogger({ name: 'api-test', level: 'debug' });
    const closedDb = createDb({ url: h.tdb.url, max: 1 });
    await closedDb.close();
    const app = h.build({ db: closedDb.db, logger });
    const res = await app.inject({
      method: 'GET',
      url: '/v1/conversations',
      headers: { authorization: `Bearer ${t.keys.viewer}` },
    });
    expect(res.statusCode).toBe(500);
    const body = res.json();
    expect(body).toEqual({
      error: {
        code: 'internal',
        message: 'Internal error. It has been logged; retrying may help.',
        details: { requestId: res.headers['x-request-id'] },
      },
    });
    expect(res.body).not.toMatch(/postgres|CONNECTION|select|stack/i);
    expect(lines.some((l) => l.event === 'http.request_failed')).toBe(true);
  });

  it('logs each request once with its route and status, never the key or the content', async () => {
    const { logger, lines, raw } = memoryLogger({ name: 'api-test', level: 'debug' });
    const app = h.build({ logger });
    const conv = await app.inject({
      method: 'POST',
      url: '/v1/conversations',
      headers: { authorization: `Bearer ${t.keys.client}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ system: 'SYSTEM-PROMPT-SECRET', title: 'TITLE-XYZ' }),
    });
    const id = conv.json().id;
    await app.inject({
      method: 'POST',
      url: `/v1/conversations/${id}/messages`,
      headers: { authorization: `Bearer ${t.keys.client}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ content: 'MESSAGE-CONTENT-SECRET' }),
    });
    await app.inject({
      method: 'GET',
      url: `/v1/conversations/${id}/messages`,
      headers: { authorization: `Bearer ${t.keys.client}` },
    });
    const all = raw.join('\n');
    expect(all).not.toContain(t.keys.client);
    expect(all).not.toContain('MESSAGE-CONTENT-SECRET');
    expect(all).not.toContain('SYSTEM-PROMPT-SECRET');
    const completed = lines.filter((l) => l.event === 'http.request_completed');
    expect(completed.map((l) => [l.method, l.route, l.statusCode])).toEqual([
      ['POST', '/v1/conversations', 201],
      ['POST', '/v1/conversations/:id/messages', 202],
      ['GET', '/v1/conversations/:id/messages', 200],
    ]);
    expect(lines.some((l) => l.event === 'message.accept_completed')).toBe(true);
    expect(h.metrics.requests.get('POST /v1/conversations/:id/messages 202')).toBeGreaterThanOrEqual(1);
    expect(h.metrics.messagesAccepted).toBeGreaterThanOrEqual(1);
  });
});
