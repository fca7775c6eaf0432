import {
  TURN_JOB_NAME,
  TURN_JOB_OPTIONS,
  TURNS_INTAKE_QUEUE,
  TURNS_QUEUE,
  turnJobId,
} from '@turnstream/contracts';
import { abandonTurn, findApiKey, getMessage, getReply, revokeApiKey } from '@turnstream/db';
import { parsePrometheusText, sampleValue } from '@turnstream/telemetry/testing';
import { waitFor } from '@turnstream/testkit';
import { UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Harness, REDIS_URL, type Tenant } from './helpers.ts';

const h = new Harness();
let operator: Tenant;
let other: Tenant;

beforeAll(async () => {
  await h.start();
  operator = await h.tenant('operators', { operator: true });
  other = await h.tenant('customer');
});
afterAll(() => h.close());

async function inject(
  method: string,
  url: string,
  opts: {
    key?: string;
    cookie?: string;
    body?: string;
    type?: string;
    accept?: string;
    origin?: string;
  } = {},
) {
  const headers: Record<string, string> = {};
  if (opts.key) headers.authorization = `Bearer ${opts.key}`;
  if (opts.cookie) headers.cookie = opts.cookie;
  if (opts.type) headers['content-type'] = opts.type;
  if (opts.accept) headers.accept = opts.accept;
  if (opts.origin) headers.origin = opts.origin;
  return h.app.inject({
    method: method as 'GET',
    url,
    headers,
    ...(opts.body !== undefined ? { payload: opts.body } : {}),
  });
}

async function postMessage(key: string, content = 'hello there') {
  const conv = await h.request('POST', '/v1/conversations', { key, body: {} });
  const msg = await h.request('POST', `/v1/conversations/${conv.body.id}/messages`, {
    key,
    body: { content },
  });
  expect(msg.status).toBe(202);
  return { conversationId: conv.body.id as string, messageId: msg.body.messageId as string };
}

async function signIn(key: string): Promise<string> {
  const res = await inject('POST', '/admin/login', {
    body: `key=${encodeURIComponent(key)}&next=%2Fadmin%2Fqueues`,
    type: 'application/x-www-form-urlencoded',
  });
  expect(res.statusCode).toBe(303);
  const cookie = String(res.headers['set-cookie']);
  return cookie.split(';')[0]!;
}

const PAGES = [
  '/admin/trouble',
  '/admin/usage',
  '/admin/audit',
  '/admin/queues',
  '/admin/api/trouble',
  '/admin/api/usage',
  '/admin/queues/api/queues',
];

describe('admin access', () => {
  it('refuses anonymous callers: page loads go to the sign-in page, the rest is 401', async () => {
    for (const url of PAGES) {
      const json = await inject('GET', url);
      expect(json.statusCode, url).toBe(401);
      expect(json.json().error.code).toBe('unauthorized');
      const page = await inject('GET', url, { accept: 'text/html' });
      expect(page.statusCode, url).toBe(303);
      expect(page.headers.location).toBe(`/admin/login?next=${encodeURIComponent(url)}`);
    }
    const login = await inject('GET', '/admin/login');
    expect(login.statusCode).toBe(200);
    expect(login.body).toContain('name="key"');
  });

  it('refuses client keys (Bearer and sign-in)', async () => {
    for (const url of PAGES) {
      const res = await inject('GET', url, { key: operator.keys.client });
      expect(res.statusCode, url).toBe(403);
      expect(res.json().error.code).toBe('forbidden');
    }
    const res = await inject('POST', '/admin/login', {
      body: JSON.stringify({ key: operator.keys.client }),
      type: 'application/json',
    });
    expect(res.statusCode).toBe(403);
    expect(res.headers['set-cookie']).toBeUndefined();
    const bad = await inject('POST', '/admin/login', {
      body: JSON.stringify({ key: 'ts_nope' }),
      type: 'application/json',
    });
    expect(bad.statusCode).toBe(401);
  });

  it('signs in with a session cookie (HttpOnly, SameSite=Strict) that any replica accepts, until sign-out', async () => {
    const res = await inject('POST', '/admin/login', {
      body: `key=${encodeURIComponent(operator.keys.viewer)}&next=%2Fadmin%2Fqueues`,
      type: 'application/x-www-form-urlencoded',
    });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/admin/queues');
    const setCookie = String(res.headers['set-cookie']);
    expect(setCookie).toMatch(/^ts_admin=tsa_[\w-]+; Path=\/admin; HttpOnly; SameSite=Strict; Max-Age=\d+/);
    const cookie = setCookie.split(';')[0]!;
    const replica = h.build({});
    await replica.ready();
    const page = await replica.inject({ method: 'GET', url: '/admin/trouble', headers: { cookie } });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Conversations in trouble');
    const board = await replica.inject({ method: 'GET', url: '/admin/queues', headers: { cookie } });
    expect(board.statusCode).toBe(200);
    expect(board.headers['content-type']).toContain('text/html');

    await inject('POST', '/admin/logout', { cookie });
    const after = await replica.inject({ method: 'GET', url: '/admin/api/trouble', headers: { cookie } });
    expect(after.statusCode).toBe(401);
    // An open redirect is not followed.
    const evil = await inject('POST', '/admin/login', {
      body: `key=${encodeURIComponent(operator.keys.viewer)}&next=${encodeURIComponent('//evil.example/x')}`,
      type: 'application/x-www-form-urlencoded',
    });
    expect(evil.headers.location).toBe('/admin/trouble');
  });

  it('ends a session when its key is revoked', async () => {
    const extra = await h.tenant('temp', { operator: true });
    const cookie = await signIn(extra.keys.admin);
    expect((await inject('GET', '/admin/api/trouble', { cookie })).statusCode).toBe(200);
    const identity = await findApiKey(h.tdb.db, extra.keys.admin);
    await revokeApiKey(h.tdb.db, extra.tenantId, identity!.keyId);
    expect((await inject('GET', '/admin/api/trouble', { cookie })).statusCode).toBe(401);
  });

  it('refuses a cookie-authenticated write from another site', async () => {
    const cookie = await signIn(operator.keys.admin);
    const { conversationId } = await postMessage(operator.keys.client);
    const res = await inject('POST', `/admin/api/conversations/${conversationId}/reset`, {
      cookie,
      origin: 'https://evil.example',
    });
    expect(res.statusCode).toBe(403);
    const ok = await inject('POST', `/admin/api/conversations/${conversationId}/reset`, {
      cookie,
      origin: 'http://localhost',
    });
    expect(ok.statusCode).toBe(200);
  });

  it('keeps a tenant admin to its own tenant and off the fleet-wide board', async () => {
    const mine = await postMessage(other.keys.client);
    const theirs = await postMessage(operator.keys.client);
    expect((await inject('GET', '/admin/queues/api/queues', { key: other.keys.admin })).statusCode).toBe(403);
    expect(
      (await inject('GET', `/admin/api/conversations/${mine.conversationId}`, { key: other.keys.admin }))
        .statusCode,
    ).toBe(200);
    const foreign = await inject('GET', `/admin/api/conversations/${theirs.conversationId}`, {
      key: other.keys.admin,
    });
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json().error.code).toBe('conversation_not_found');
    const reset = await inject('POST', `/admin/api/conversations/${theirs.conversationId}/reset`, {
      key: other.keys.admin,
    });
    expect(reset.statusCode).toBe(404);
    // The operator sees both.
    expect(
      (await inject('GET', `/admin/api/conversations/${mine.conversationId}`, { key: operator.keys.viewer }))
        .statusCode,
    ).toBe(200);
  });
});

describe('API metrics', () => {
  it('serves Prometheus text at /metrics to operator keys only', async () => {
    await postMessage(operator.keys.client);
    const res = await inject('GET', '/metrics', { key: operator.keys.viewer });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    const samples = parsePrometheusText(res.body);
    expect(sampleValue(samples, 'turnstream_messages_accepted_total')).toBeGreaterThanOrEqual(1);
    expect(sampleValue(samples, 'turnstream_queue_jobs', { queue: 'turns', state: 'waiting' })).toBe(
      await h.queue.getWaitingCount(),
    );
    expect(
      sampleValue(samples, 'turnstream_http_requests_total', {
        method: 'POST',
        route: '/v1/conversations/:id/messages',
        status: '202',
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(samples.some((x) => x.name === 'turnstream_sse_clients')).toBe(true);
    expect(samples.some((x) => x.name === 'nodejs_eventloop_lag_seconds')).toBe(true);
    expect((await inject('GET', '/metrics', { key: other.keys.admin })).statusCode).toBe(403);
  });
});

describe('queue dashboard', () => {
  it('lets a viewer read but not retry, remove, clean or empty (403, nothing changes)', async () => {
    const { messageId } = await postMessage(operator.keys.client);
    const jobId = turnJobId(messageId);
    const key = operator.keys.viewer;
    const list = await inject('GET', '/admin/queues/api/queues?activeQueue=turns&status=waiting&page=1', {
      key,
    });
    expect(list.statusCode).toBe(200);
    const writes: [string, string][] = [
      ['PUT', `/admin/queues/api/queues/turns/${jobId}/retry`],
      ['PUT', `/admin/queues/api/queues/turns/${jobId}/clean`],
      ['PUT', '/admin/queues/api/queues/turns/clean/wait'],
      ['PUT', '/admin/queues/api/queues/turns/retry/failed'],
      ['PUT', '/admin/queues/api/queues/turns/empty'],
      ['PUT', '/admin/queues/api/queues/turns/pause'],
      ['PUT', '/admin/queues/api/queues/turns/obliterate'],
      ['POST', '/admin/queues/api/queues/turns/add'],
    ];
    const cookie = await signIn(key);
    for (const [method, url] of writes) {
      for (const auth of [{ key }, { cookie }]) {
        const res = await inject(method, url, { ...auth, body: '{}', type: 'application/json' });
        expect(res.statusCode, `${method} ${url}`).toBe(403);
        expect(res.json().error.code).toBe('forbidden');
      }
    }
    expect(await (await h.queue.getJob(jobId))?.getState()).toBe('waiting');
    expect((await getMessage(h.tdb.db, operator.tenantId, messageId))?.status).toBe('pending');
  });

  it('redacts message content from job data', async () => {
    const secret = 'my card number is 4111-1111';
    const { conversationId } = await postMessage(operator.keys.client);
    // A job enqueued directly by another service carries the content.
    await h.queue.add(
      TURN_JOB_NAME,
      {
        v: 1,
        tenantId: operator.tenantId,
        conversationId,
        messageId: '7f1c2d3e-0000-4000-8000-000000000001',
        content: secret,
        mode: 'stream',
        apiKey: 'sk-live-xyz',
      },
      { ...TURN_JOB_OPTIONS, jobId: 'turn-7f1c2d3e-0000-4000-8000-000000000001' },
    );
    const res = await inject(
      'GET',
      '/admin/queues/api/queues?activeQueue=turns&status=waiting&page=1&jobsPerPage=50',
      { key: operator.keys.admin },
    );
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('7f1c2d3e-0000-4000-8000-000000000001');
    expect(res.body).toContain(`[redacted: ${secret.length} chars]`);
    expect(res.body).not.toContain(secret);
    expect(res.body).not.toContain('sk-live-xyz');
    await (await h.queue.getJob('turn-7f1c2d3e-0000-4000-8000-000000000001'))?.remove();
  });

  it('shows the intake queue next to the turns queue, redacted, and reports its depth in the gauges', async () => {
    const secret = 'handed in, not stored yet';
    const jobId = `turn-${operator.tenantId}-7f1c2d3e-0000-4000-8000-0000000000aa`;
    await h.intakeQueue.add(
      TURN_JOB_NAME,
      {
        v: 2,
        tenantId: operator.tenantId,
        externalConversationId: 'ticket-1',
        messageId: '7f1c2d3e-0000-4000-8000-0000000000aa',
        content: secret,
      },
      { jobId },
    );
    try {
      const res = await inject(
        'GET',
        `/admin/queues/api/queues?activeQueue=${TURNS_INTAKE_QUEUE}&status=waiting&page=1&jobsPerPage=50`,
        { key: operator.keys.viewer },
      );
      expect(res.statusCode).toBe(200);
      const names = (res.json() as { queues: { name: string }[] }).queues.map((q) => q.name);
      expect(names).toEqual(expect.arrayContaining([TURNS_QUEUE, TURNS_INTAKE_QUEUE]));
      expect(res.body).toContain(jobId);
      expect(res.body).not.toContain(secret);

      const samples = parsePrometheusText(
        (await inject('GET', '/metrics', { key: operator.keys.viewer })).body,
      );
      const waiting = await h.intakeQueue.getWaitingCount();
      expect(waiting).toBeGreaterThanOrEqual(1);
      expect(
        sampleValue(samples, 'turnstream_queue_jobs', { queue: TURNS_INTAKE_QUEUE, state: 'waiting' }),
      ).toBe(waiting);
      expect(sampleValue(samples, 'turnstream_queue_demand_turns', { queue: TURNS_INTAKE_QUEUE })).toBe(
        waiting,
      );
    } finally {
      await h.intakeQueue.remove(jobId);
    }
  });

  it('removing a waiting job fails its message readably instead of leaving it for the reconciler', async () => {
    const { messageId } = await postMessage(operator.keys.client);
    const res = await inject('PUT', `/admin/queues/api/queues/turns/${turnJobId(messageId)}/clean`, {
      key: operator.keys.admin,
    });
    expect(res.statusCode).toBe(204);
    expect(await h.queue.getJob(turnJobId(messageId))).toBeUndefined();
    const message = await getMessage(h.tdb.db, operator.tenantId, messageId);
    expect(message?.status).toBe('failed');
    const reply = await getReply(h.tdb.db, messageId);
    expect(reply?.role).toBe('error');
    expect(reply?.errorCode).toBe('removed_by_operator');
  });

  it('emptying the queue fails every removed message readably', async () => {
    const a = await postMessage(operator.keys.client, 'first');
    const b = await postMessage(operator.keys.client, 'second');
    const res = await inject('PUT', '/admin/queues/api/queues/turns/empty', { key: operator.keys.admin });
    expect(res.statusCode).toBeLessThan(300);
    for (const m of [a, b]) {
      expect((await getMessage(h.tdb.db, operator.tenantId, m.messageId))?.status).toBe('failed');
    }
  });

  it('retrying a failed turn job asks again as a new message', async () => {
    const { conversationId, messageId } = await postMessage(operator.keys.client, 'please answer');
    // The turn fails for good, as a worker leaves it: message failed, job failed.
    await abandonTurn(h.tdb.db, {
      tenantId: operator.tenantId,
      conversationId,
      messageId,
      errorCode: 'fatal',
      content: 'failed',
    });
    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const worker = new Worker(
      TURNS_QUEUE,
      async () => {
        throw new UnrecoverableError('fatal: test');
      },
      { connection, prefix: h.bullPrefix },
    );
    await waitFor(async () => (await h.queue.getJob(turnJobId(messageId)))?.isFailed());
    await worker.close();
    await connection.quit();
    const res = await inject('PUT', `/admin/queues/api/queues/turns/${turnJobId(messageId)}/retry`, {
      key: operator.keys.admin,
    });
    expect(res.statusCode).toBe(200);
    const history = await h.request('GET', `/v1/conversations/${conversationId}/messages`, {
      key: operator.keys.client,
    });
    const users = history.body.messages.filter((m: { role: string }) => m.role === 'user');
    expect(users).toHaveLength(2);
    expect(users[1].content).toBe('please answer');
    expect(users[1].status).toBe('pending');
    expect(await h.queue.getJob(turnJobId(users[1].id))).toBeDefined();
    // Again: the same retry message, not a third one.
    await inject('PUT', `/admin/queues/api/queues/turns/${turnJobId(messageId)}/retry`, {
      key: operator.keys.admin,
    });
    const again = await h.request('GET', `/v1/conversations/${conversationId}/messages`, {
      key: operator.keys.client,
    });
    expect(again.body.messages.filter((m: { role: string }) => m.role === 'user')).toHaveLength(2);
    const auditRes = await inject('GET', '/admin/api/audit', { key: operator.keys.viewer });
    expect(auditRes.json().actions.map((a: { action: string }) => a.action)).toContain('board.job_retry');
  });
});
