import { TURNS_QUEUE, turnJobId } from '@turnstream/contracts';
import { setTenantOperator } from '@turnstream/db';
import { databaseDigest } from '@turnstream/db/testing';
import fc from 'fast-check';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CATALOG } from '../src/errors.ts';
import {
  headerText,
  hostileJson,
  hostileString,
  pathSegment,
  queryText,
  resumeId,
  routeBodies,
} from './fuzz-arbitraries.ts';
import { harnessFixture, tenantFixture } from './helpers.ts';
import { type RouteEntry, routeParams, routeTable } from './route-table.ts';

/**
 * Seeded fuzzing of every route (read from the app's route table): JSON bodies, headers, path ids,
 * query strings and SSE resume ids. For every request: never a 5xx; every rejection carries a code
 * from the catalog with its status, and an x-request-id; the database is unchanged by any rejection.
 *
 * `FUZZ_SEED` replays a run; `FUZZ_SCALE` multiplies the case counts (1: 10,000 cases, for CI).
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_129);
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));
/** Room for each property on a loaded 2-core machine (nothing here is a timing assertion). */
const FUZZ_TIMEOUT_MS = 300_000 * Math.max(1, SCALE);
let cases = 0;

const h = harnessFixture();
const t = tenantFixture(h);
/** The operator tenant: its admin key reaches the admin area and the queue dashboard. */
const op = tenantFixture(h, 'operator');
const own: Record<string, string> = {};
/** The database as it is now (updated after every accepted request). */
let digest: string;

beforeAll(async () => {
  await setTenantOperator(h.tdb.db, op.tenantId, true);
  own.id = (await h.request('POST', '/v1/conversations', { key: t.keys.client, body: {} })).body.id;
  own.messageId = (
    await h.request('POST', `/v1/conversations/${own.id}/messages`, {
      key: t.keys.client,
      body: { content: 'x' },
    })
  ).body.messageId;
  await h.streams.publish(own.id!, null, [{ type: 'chunk', messageId: own.messageId!, text: 'x' }]);
  // The queue dashboard's parameters, naming the real queue and job.
  own.queueName = TURNS_QUEUE;
  own.jobId = turnJobId(own.messageId!);
  own.queueStatus = 'failed';
  digest = await databaseDigest(h.tdb);
});
afterAll(async () => {
  console.log(`fuzz: ${cases} cases, seed ${SEED}`);
});

/** A route pattern with this tenant's own ids in it (so requests reach validation, not a 404). */
function ownUrl(route: RouteEntry): string {
  let url = route.path;
  for (const name of routeParams(route.path)) url = url.replace(`:${name}`, own[name] ?? own.id!);
  return url;
}

function isEventStream(path: string): boolean {
  return path.endsWith('/events');
}

/** The checks every fuzzed request must pass. */
async function send(options: InjectOptions, label: () => string): Promise<LightMyRequestResponse> {
  cases++;
  const res = await h.app.inject(options);
  const what = () => `${label()} -> ${res.statusCode} ${res.body.slice(0, 300)}`;
  if (res.statusCode >= 500) throw new Error(`5xx: ${what()}`);
  if (!res.headers['x-request-id']) throw new Error(`no x-request-id: ${what()}`);
  if (res.statusCode >= 400) {
    if (options.method !== 'HEAD') {
      // JSON: the envelope. A browser page (the admin area) answers HTML with `x-error-code`.
      const code = String(res.headers['content-type']).startsWith('text/html')
        ? String(res.headers['x-error-code'])
        : (JSON.parse(res.body) as { error?: { code?: string } }).error?.code;
      const entry = code ? ERROR_CATALOG[code as keyof typeof ERROR_CATALOG] : undefined;
      if (entry?.status !== res.statusCode) throw new Error(`not a catalog rejection: ${what()}`);
    }
    const after = await databaseDigest(h.tdb);
    if (after !== digest) throw new Error(`a rejected request changed the database: ${what()}`);
  } else {
    digest = await databaseDigest(h.tdb);
  }
  return res;
}

const routes = () => routeTable(h.app);
type KeyRole = 'client' | 'viewer' | 'admin' | 'operator';
const keyOf = fc.constantFrom<KeyRole>('client', 'viewer', 'admin', 'operator');
/** The bearer key of a role (`operator`: the operator tenant's admin key). */
const keyFor = (role: KeyRole) => (role === 'operator' ? op.keys.admin : t.keys[role]);

/**
 * GET of the event stream would open a stream that never ends: it is sent as HEAD (same checks, answered
 * at once); a rejected one is repeated as GET, which answers before any stream opens, to read its code.
 */
async function sendToRoute(
  route: RouteEntry,
  url: string,
  headers: Record<string, string>,
  payload: string | Buffer | undefined,
  label: () => string,
): Promise<number> {
  if (route.method === 'GET' && isEventStream(route.path)) {
    const head = await send({ method: 'HEAD', url, headers }, label);
    if (head.statusCode >= 400) await send({ method: 'GET', url, headers }, label);
    return head.statusCode;
  }
  const res = await send(
    { method: route.method as 'GET', url, headers, ...(payload !== undefined ? { payload } : {}) },
    label,
  );
  return res.statusCode;
}

describe('API fuzz (seeded)', () => {
  it('JSON bodies on every POST route', { timeout: FUZZ_TIMEOUT_MS }, async () => {
    const posts = routes().filter((r) => r.method === 'POST');
    const shaped = (route: RouteEntry): fc.Arbitrary<unknown> =>
      route.path === '/v1/conversations'
        ? routeBodies.createConversation
        : route.path.endsWith('/messages')
          ? routeBodies.postMessage
          : routeBodies.empty;
    const payloadFor = (route: RouteEntry): fc.Arbitrary<string | Buffer> =>
      fc.oneof(
        { weight: 6, arbitrary: shaped(route).map((b) => JSON.stringify(b)) },
        { weight: 2, arbitrary: hostileJson.map((v) => JSON.stringify(v) ?? 'null') },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) },
        {
          weight: 1,
          arbitrary: fc.constantFrom(
            '',
            ' ',
            '{',
            '{"content":',
            'null',
            '[]',
            '"x"',
            '{"__proto__":{"x":1}}',
          ),
        },
      );
    const contentType = fc.oneof(
      { weight: 6, arbitrary: fc.constant('application/json') },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          'application/json; charset=utf-8',
          'application/json; charset=latin1',
          'text/plain',
          'application/x-www-form-urlencoded',
          'multipart/form-data; boundary=x',
          '',
        ),
      },
    );
    const request = fc
      .constantFrom(...posts)
      .chain((route) => fc.tuple(fc.constant(route), payloadFor(route), contentType, keyOf));
    await fc.assert(
      fc.asyncProperty(request, async ([route, payload, type, role]) => {
        const headers: Record<string, string> = { authorization: `Bearer ${keyFor(role)}` };
        if (type) headers['content-type'] = type;
        await sendToRoute(
          route,
          ownUrl(route),
          headers,
          payload,
          () => `${role} POST ${route.path} ${type} ${String(payload).slice(0, 200)}`,
        );
      }),
      { seed: SEED, numRuns: runs(3000) },
    );
  });

  it('headers on every route', { timeout: FUZZ_TIMEOUT_MS }, async () => {
    const headerSet = fc.record(
      {
        authorization: fc.oneof(
          headerText,
          keyOf.map((r) => `Bearer ${keyFor(r)}`),
          headerText.map((s) => `Bearer ${s}`),
        ),
        'content-type': headerText,
        'idempotency-key': headerText,
        'last-event-id': fc.oneof(resumeId, headerText),
        'x-request-id': headerText,
        accept: headerText,
        'content-length': fc.constantFrom('0', '5', '-1', 'abc'),
      },
      { requiredKeys: [] },
    );
    const extra = fc.dictionary(fc.stringMatching(/^x-[a-z-]{1,20}$/), headerText, { maxKeys: 3 });
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes()), headerSet, extra, async (route, set, more) => {
        const headers = { ...more, ...set } as Record<string, string>;
        const payload = route.method === 'POST' ? '{}' : undefined;
        if (payload === undefined) delete headers['content-length'];
        else headers['content-length'] = String(payload.length);
        await sendToRoute(
          route,
          ownUrl(route),
          headers,
          payload,
          () => `${route.method} ${route.path} ${JSON.stringify(headers)}`,
        );
      }),
      { seed: SEED + 1, numRuns: runs(1500) },
    );
  });

  it('path ids on every route, and paths no route has', { timeout: FUZZ_TIMEOUT_MS }, async () => {
    const methods = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS');
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes()),
        fc.array(pathSegment, { minLength: 2, maxLength: 2 }),
        fc.boolean(),
        methods,
        keyOf,
        async (route, segments, replace, otherMethod, role) => {
          let url = route.path;
          for (const [i, name] of routeParams(route.path).entries()) {
            url = url.replace(`:${name}`, replace || i > 0 ? segments[i]! : (own[name] ?? own.id!));
          }
          const method = replace ? route.method : otherMethod;
          const headers = { authorization: `Bearer ${keyFor(role)}`, 'content-type': 'application/json' };
          const payload = method === 'POST' ? '{"content":"x"}' : undefined;
          await sendToRoute({ method, path: route.path }, url, headers, payload, () => `${method} ${url}`);
        },
      ),
      { seed: SEED + 2, numRuns: runs(2000) },
    );
  });

  it('query strings on every GET route', { timeout: FUZZ_TIMEOUT_MS }, async () => {
    // The public API's parameters and the admin area's.
    const known = fc.constantFrom(
      'limit',
      'cursor',
      'externalId',
      'afterSeq',
      'lastEventId',
      'until',
      'messageId',
      'token',
      'id',
      'tenant',
      'conversation',
      'group',
      'from',
      'to',
      'next',
      'x',
    );
    // Values shaped like ids and dates (what the admin area's filters look for), and anything else.
    const value = fc.oneof(
      queryText,
      fc.stringMatching(/^[0-9a-f-]{36}$/),
      fc.constantFrom('2026-02-30', '0000-00-00', '9999-12-31', 'day', 'tenant', '//evil.example', '/admin'),
    );
    const pair = fc.tuple(
      fc.oneof({ weight: 4, arbitrary: known }, { weight: 1, arbitrary: queryText }),
      value,
    );
    const gets = routes().filter((r) => r.method === 'GET');
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...gets),
        fc.array(pair, { maxLength: 4 }),
        keyOf,
        async (route, pairs, role) => {
          const query = pairs.map(([k, v]) => `${k}=${v}`).join('&');
          const url = `${ownUrl(route)}?${query}`;
          await sendToRoute(
            route,
            url,
            { authorization: `Bearer ${keyFor(role)}` },
            undefined,
            () => `GET ${url}`,
          );
        },
      ),
      { seed: SEED + 3, numRuns: runs(2000) },
    );
  });

  it('SSE resume ids (Last-Event-ID and ?lastEventId=) and stream tokens', {
    timeout: FUZZ_TIMEOUT_MS,
  }, async () => {
    const events = { method: 'GET', path: '/v1/conversations/:id/events' };
    await fc.assert(
      fc.asyncProperty(
        resumeId,
        fc.constantFrom('header', 'query', 'token'),
        fc.boolean(),
        async (id, via, untilTurn) => {
          const params = new URLSearchParams();
          if (via === 'query') params.set('lastEventId', id);
          if (via === 'token') params.set('token', id);
          if (untilTurn) {
            params.set('until', 'turn');
            params.set('messageId', own.messageId!);
          }
          const url = `${ownUrl(events)}?${params}`;
          const headers: Record<string, string> =
            via === 'token' ? {} : { authorization: `Bearer ${t.keys.viewer}` };
          if (via === 'header') headers['last-event-id'] = id;
          await sendToRoute(events, url, headers, undefined, () => `${via} ${JSON.stringify(id)}`);
          // What a 200 would do next: read the log after the id. It must not fail.
          const head = await h.app.inject({ method: 'HEAD', url, headers });
          if (head.statusCode === 200 && via !== 'token') {
            const after = via === 'header' ? id : params.get('lastEventId');
            if (after) await h.streams.read(own.id!, { after, count: 1 });
          }
        },
      ),
      { seed: SEED + 4, numRuns: runs(1500) },
    );
  });

  it('adds up to at least 10,000 cases at scale 1', () => {
    expect(cases).toBeGreaterThanOrEqual(runs(10_000));
    // hostileString is used through the shaped bodies; keep the import honest.
    expect(fc.sample(hostileString, { numRuns: 1, seed: SEED })).toHaveLength(1);
  });
});
