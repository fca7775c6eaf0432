import { cancelFlagKey, TURN_JOB_OPTIONS, TURNS_QUEUE, turnJobId } from '@turnstream/contracts';
import { databaseDigest, seedReply } from '@turnstream/db/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CATALOG } from '../src/errors.ts';
import { harnessFixture, tenantFixture } from './helpers.ts';
import { type RouteEntry, routeParams, routeTable } from './route-table.ts';

/**
 * Tenant B, with each of its keys, against every route of the API (read from the app's route table,
 * so a new route is covered without editing this file) aimed at tenant A's resources: the answer is
 * a 404 (or B's own 401/403 before anything is looked up), nothing of A's appears in any response, and
 * nothing changes: not the database, not A's job, cancel flag or event log.
 */
const h = harnessFixture();
const a = tenantFixture(h, 'tenant-a');
const b = tenantFixture(h, 'tenant-b');
const A: Record<string, string> = {};

beforeAll(async () => {
  const conv = await h.request('POST', '/v1/conversations', {
    key: a.keys.client,
    body: { title: 'a-secret-title', externalId: 'a-secret-external' },
  });
  A.conversation = conv.body.id;
  const posted = await h.request('POST', `/v1/conversations/${A.conversation}/messages`, {
    key: a.keys.client,
    body: { content: 'a-secret-content', idempotencyKey: 'a-secret-key' },
  });
  A.message = posted.body.messageId;
  const reply = await seedReply(h.tdb.db, {
    tenantId: a.tenantId,
    conversationId: A.conversation!,
    userMessageId: A.message!,
    fence: 1,
  });
  A.reply = reply.id;
  A.session = conv.body.session.id;
  A.tenant = a.tenantId;
  // B owns a conversation too: B's own routes work, and B's stream token is tried on A's conversation.
  A.bConversation = (await h.request('POST', '/v1/conversations', { key: b.keys.client, body: {} })).body.id;
});

/** Values for each path parameter name; a route with a parameter not listed here fails the test. */
function paramValues(name: string): string[] {
  switch (name) {
    case 'id':
    case 'conversationId':
      return [A.conversation!];
    case 'messageId':
      return [A.message!, A.reply!];
    case 'tenantId':
      return [A.tenant!];
    case 'sessionId':
      return [A.session!];
    // The queue dashboard (operator tenant only): A's job in the turns queue.
    case 'queueName':
      return [TURNS_QUEUE];
    case 'jobId':
      return [turnJobId(A.message!)];
    case 'queueStatus':
      return ['waiting'];
    case 'schedulerId':
      return ['x'];
    default:
      throw new Error(`route parameter :${name} has no cross-tenant value: add one to this matrix`);
  }
}

/** Every concrete URL of a route pattern aimed at A's resources. */
function urlsFor(route: RouteEntry): string[] {
  let urls = [route.path];
  for (const name of routeParams(route.path)) {
    urls = urls.flatMap((u) => paramValues(name).map((v) => u.replace(`:${name}`, v)));
  }
  return urls;
}

function hasBody(route: RouteEntry): boolean {
  return route.method === 'POST' || route.method === 'PUT' || route.method === 'PATCH';
}

/** What A has in Redis that B must not be able to touch. */
async function redisState(): Promise<string> {
  const job = await h.queue.getJob(turnJobId(A.message!));
  const flag = await h.redis.get(cancelFlagKey(h.redisPrefix, A.conversation!, A.message!));
  const log = await h.streams.read(A.conversation!);
  return JSON.stringify({
    state: job ? await job.getState() : 'missing',
    data: job?.data,
    flag,
    log: log.map((e) => e.id),
    paused: await h.queue.isPaused(),
  });
}

const A_SECRETS = () => [
  A.conversation!,
  A.message!,
  A.reply!,
  A.session!,
  A.tenant!,
  'a-secret-title',
  'a-secret-external',
  'a-secret-content',
];

function expectNoLeak(text: string, what: string): void {
  for (const secret of A_SECRETS()) expect(text, `${what} leaks ${secret}`).not.toContain(secret);
}

describe('cross-tenant matrix', () => {
  it('the route table is read from the app (and includes the routes this file knows)', () => {
    const routes = routeTable(h.app).map((r) => `${r.method} ${r.path}`);
    for (const known of [
      'GET /v1/conversations/:id',
      'POST /v1/conversations/:id/messages/:messageId/cancel',
      'GET /v1/conversations/:id/events',
      'POST /v1/conversations/:id/reset',
    ]) {
      expect(routes).toContain(known);
    }
  });

  for (const role of ['admin', 'client', 'viewer'] as const) {
    it(`tenant B's ${role} key on every route aimed at tenant A: 404 (or B's own 401/403), no leak, nothing changed`, async () => {
      const routes = routeTable(h.app).filter((r) => routeParams(r.path).length > 0);
      expect(routes.length).toBeGreaterThanOrEqual(8);
      for (const route of routes) {
        for (const url of urlsFor(route)) {
          const label = `${role} ${route.method} ${url}`;
          const dbBefore = await databaseDigest(h.tdb);
          const redisBefore = await redisState();
          const res = await h.app.inject({
            method: route.method as 'GET',
            url,
            headers: {
              authorization: `Bearer ${b.keys[role]}`,
              ...(hasBody(route) ? { 'content-type': 'application/json' } : {}),
            },
            ...(hasBody(route) ? { payload: url.endsWith('/messages') ? '{"content":"b"}' : '{}' } : {}),
          });
          // A's conversation or message, named by B: 404 exactly as if it did not exist. The queue
          // dashboard belongs to the operator tenant: B (any role) is refused before anything is looked up.
          const allowed = route.path.startsWith('/admin/queues')
            ? [403]
            : role === 'admin'
              ? [404]
              : [403, 404];
          expect(allowed, `${label} answered ${res.statusCode} ${res.body}`).toContain(res.statusCode);
          const code = (res.json() as { error: { code: keyof typeof ERROR_CATALOG } }).error.code;
          expect(ERROR_CATALOG[code]?.status, label).toBe(res.statusCode);
          expectNoLeak(res.body, label);
          expect(await databaseDigest(h.tdb), `${label} changed the database`).toBe(dbBefore);
          expect(await redisState(), `${label} changed A's job, flag or log`).toBe(redisBefore);
        }
      }
    });
  }

  it("routes without a resource id never show B anything of A's, nor touch A's job or the queue", async () => {
    const routes = routeTable(h.app).filter((r) => routeParams(r.path).length === 0);
    const redisBefore = await redisState();
    for (const route of routes) {
      for (const key of Object.values(b.keys)) {
        const res = await h.app.inject({
          method: route.method as 'GET',
          url: route.path,
          headers: {
            authorization: `Bearer ${key}`,
            ...(hasBody(route) ? { 'content-type': 'application/json' } : {}),
          },
          ...(hasBody(route) ? { payload: '{}' } : {}),
        });
        expect(res.statusCode, `${route.method} ${route.path}`).toBeLessThan(500);
        expectNoLeak(res.body, `${route.method} ${route.path}`);
        expect(await redisState(), `${route.method} ${route.path} changed A's job, flag, log or queue`).toBe(
          redisBefore,
        );
      }
    }
  });

  it("A's ids and names in B's query strings find nothing of A's", async () => {
    const queries = [
      `/v1/conversations?cursor=${A.conversation}`,
      '/v1/conversations?externalId=a-secret-external',
      `/v1/conversations/${A.bConversation}/messages?afterSeq=0`,
    ];
    for (const url of queries) {
      const res = await h.request('GET', url, { key: b.keys.admin });
      expect(res.status, url).toBe(200);
      expectNoLeak(JSON.stringify(res.body), url);
    }
    const events = await h.request(
      'GET',
      `/v1/conversations/${A.bConversation}/events?messageId=${A.message}`,
      {
        key: b.keys.admin,
      },
    );
    expect(events.status).toBe(404);
    expect(events.body.error.code).toBe('message_not_found');
  });

  it("B's idempotency key equal to A's creates B's own message and touches nothing of A's", async () => {
    const before = await redisState();
    const res = await h.request('POST', `/v1/conversations/${A.bConversation}/messages`, {
      key: b.keys.client,
      body: { content: 'a-secret-content', idempotencyKey: 'a-secret-key' },
    });
    expect(res.status).toBe(202);
    expect(res.body.messageId).not.toBe(A.message);
    expect(await redisState()).toBe(before);
  });

  it("B's stream token does not open A's conversation", async () => {
    const token = await h.request('POST', `/v1/conversations/${A.bConversation}/stream-tokens`, {
      key: b.keys.viewer,
    });
    expect(token.status).toBe(201);
    const res = await h.request(
      'GET',
      `/v1/conversations/${A.conversation}/events?token=${token.body.token}`,
    );
    expect(res.status).toBe(401);
    expectNoLeak(JSON.stringify(res.body), 'token');
  });

  it("A's job kept its options: B's cancel and reset attempts did nothing to it", async () => {
    const job = await h.queue.getJob(turnJobId(A.message!));
    expect(job?.opts.attempts).toBe(TURN_JOB_OPTIONS.attempts);
    expect(await job?.getState()).toBe('waiting');
  });
});
