import { DEFAULT_MODELS } from '@turnstream/contracts';
import { listSessions } from '@turnstream/db';
import { describe, expect, it } from 'vitest';
import { harnessFixture, type Tenant, tenantFixture } from './helpers.ts';

const h = harnessFixture({
  config: {
    defaultModel: 'test-model',
    models: [{ id: 'test-model', maxOutputTokens: 8192, thinkingBudget: true }, ...DEFAULT_MODELS],
    bodyLimitBytes: 4096,
  },
});
const t = tenantFixture(h);

async function conversationCount(tenant: Tenant): Promise<number> {
  let n = 0;
  let cursor: string | null = null;
  do {
    const res: { body: { conversations: unknown[]; nextCursor: string | null } } = await h.request(
      'GET',
      `/v1/conversations?limit=100${cursor ? `&cursor=${cursor}` : ''}`,
      { key: tenant.keys.viewer },
    );
    n += res.body.conversations.length;
    cursor = res.body.nextCursor;
  } while (cursor);
  return n;
}

describe('POST /v1/conversations', () => {
  it('creates a conversation with defaults and its session', async () => {
    const res = await h.request('POST', '/v1/conversations', { key: t.keys.client, body: {} });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.any(String),
      title: null,
      externalId: null,
      system: null,
      model: 'test-model',
      thinking: null,
      mode: 'stream',
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
      session: { id: expect.any(String), assistantSessionId: null, version: 0 },
    });
  });

  it('accepts a request without a body', async () => {
    const res = await h.request('POST', '/v1/conversations', { key: t.keys.client });
    expect(res.status).toBe(201);
  });

  it('stores every option', async () => {
    const body = {
      title: 'Support chat',
      externalId: 'ticket-1',
      system: 'You are terse.',
      model: 'claude-opus-4-5',
      thinking: { budgetTokens: 2048 },
      mode: 'batch',
    };
    const res = await h.request('POST', '/v1/conversations', { key: t.keys.client, body });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject(body);
    const got = await h.request('GET', `/v1/conversations/${res.body.id}`, { key: t.keys.viewer });
    expect(got.status).toBe(200);
    expect(got.body).toEqual(res.body);
  });

  it('answers 409 external_id_conflict with the existing id, creating nothing', async () => {
    const first = await h.request('POST', '/v1/conversations', {
      key: t.keys.client,
      body: { externalId: 'dup' },
    });
    const before = await conversationCount(t);
    const second = await h.request('POST', '/v1/conversations', {
      key: t.keys.client,
      body: { externalId: 'dup', title: 'other' },
    });
    expect(second.status).toBe(409);
    expect(second.body.error).toMatchObject({
      code: 'external_id_conflict',
      details: { conversationId: first.body.id },
    });
    expect(second.body.error.message).toContain(first.body.id);
    expect(await conversationCount(t)).toBe(before);
  });

  it('lets two tenants use the same externalId', async () => {
    const other = await h.tenant();
    const res = await h.request('POST', '/v1/conversations', {
      key: other.keys.client,
      body: { externalId: 'dup' },
    });
    expect(res.status).toBe(201);
  });

  const invalid: Array<[string, unknown, string]> = [
    ['unknown field', { title: 'x', colour: 'red' }, 'colour: unknown field'],
    ['wrong type', { title: 42 }, 'title: must be a string, got number'],
    ['empty title', { title: '' }, 'title: must not be empty'],
    ['bad mode', { mode: 'fast' }, 'mode: must be one of "stream", "batch"'],
    ['small thinking budget', { thinking: { budgetTokens: 100 } }, 'thinking.budgetTokens: must be >= 1024'],
    [
      'fractional thinking budget',
      { thinking: { budgetTokens: 2048.5 } },
      'thinking.budgetTokens: must be an integer',
    ],
    [
      'unknown thinking field',
      { thinking: { budgetTokens: 2048, type: 'x' } },
      'thinking.type: unknown field',
    ],
    ['array body', [1, 2], 'body: must be an object, got array'],
  ];
  for (const [name, body, message] of invalid) {
    it(`rejects ${name} with validation_failed and creates nothing`, async () => {
      const before = await conversationCount(t);
      const res = await h.request('POST', '/v1/conversations', { key: t.keys.client, body });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
      expect(res.body.error.message).toContain(message);
      expect(res.body.error.details.issues[0]).toMatchObject({ location: 'body' });
      expect(await conversationCount(t)).toBe(before);
    });
  }

  it('rejects invalid JSON with invalid_json', async () => {
    const res = await h.request('POST', '/v1/conversations', {
      key: t.keys.client,
      rawBody: '{"title": ',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_json');
  });

  it('rejects a non-JSON body with 415 unsupported_media_type', async () => {
    const res = await h.request('POST', '/v1/conversations', {
      key: t.keys.client,
      rawBody: 'title=x',
      headers: { 'content-type': 'text/plain' },
    });
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe('unsupported_media_type');
  });

  it('rejects a body over the limit with 413 body_too_large', async () => {
    const res = await h.request('POST', '/v1/conversations', {
      key: t.keys.client,
      body: { system: 'x'.repeat(5000) },
    });
    expect(res.status).toBe(413);
    expect(res.body.error).toMatchObject({ code: 'body_too_large', details: { limitBytes: 4096 } });
  });
});

describe('GET /v1/conversations', () => {
  it('pages through every conversation newest first, without repeats', async () => {
    const tenant = await h.tenant();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(
        (await h.request('POST', '/v1/conversations', { key: tenant.keys.client, body: { title: `c${i}` } }))
          .body.id,
      );
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: {
        status: number;
        body: { conversations: Array<{ id: string }>; nextCursor: string | null };
      } = await h.request('GET', `/v1/conversations?limit=2${cursor ? `&cursor=${cursor}` : ''}`, {
        key: tenant.keys.viewer,
      });
      expect(res.status).toBe(200);
      expect(res.body.conversations.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.conversations.map((c) => c.id));
      cursor = res.body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());
  });

  it('filters by externalId', async () => {
    const tenant = await h.tenant();
    const made = await h.request('POST', '/v1/conversations', {
      key: tenant.keys.client,
      body: { externalId: 'ext-9' },
    });
    await h.request('POST', '/v1/conversations', { key: tenant.keys.client, body: {} });
    const res = await h.request('GET', '/v1/conversations?externalId=ext-9', { key: tenant.keys.viewer });
    expect(res.body.conversations.map((c: { id: string }) => c.id)).toEqual([made.body.id]);
  });

  it('validates its query', async () => {
    for (const [qs, message] of [
      ['limit=0', 'limit: must be an integer from 1 to 100'],
      ['limit=abc', 'limit: must be an integer from 1 to 100'],
      ['cursor=nope', 'cursor: must be a UUID'],
      ['sort=asc', 'sort: unknown field'],
    ]) {
      const res = await h.request('GET', `/v1/conversations?${qs}`, { key: t.keys.viewer });
      expect(res.status, qs).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
      expect(res.body.error.message).toContain(message);
      expect(res.body.error.details.issues[0].location).toBe('query');
    }
  });
});

describe('GET /v1/conversations/:id', () => {
  it('answers 404 conversation_not_found for an unknown id and for a malformed one', async () => {
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid', "1' or '1'='1"]) {
      const res = await h.request('GET', `/v1/conversations/${encodeURIComponent(id)}`, {
        key: t.keys.viewer,
      });
      expect(res.status, id).toBe(404);
      expect(res.body.error.code).toBe('conversation_not_found');
    }
  });
});

describe('POST /v1/conversations/:id/reset', () => {
  it('starts a new session and ends the old one', async () => {
    const conv = (await h.request('POST', '/v1/conversations', { key: t.keys.client, body: {} })).body;
    const res = await h.request('POST', `/v1/conversations/${conv.id}/reset`, { key: t.keys.client });
    expect(res.status).toBe(200);
    expect(res.body.session).toEqual({ id: expect.any(String), assistantSessionId: null, version: 0 });
    expect(res.body.session.id).not.toBe(conv.session.id);
    const got = await h.request('GET', `/v1/conversations/${conv.id}`, { key: t.keys.viewer });
    expect(got.body.session.id).toBe(res.body.session.id);
    const sessions = await listSessions(h.tdb.db, t.tenantId, conv.id);
    expect(sessions.map((s) => [s.status, s.endedReason])).toEqual([
      ['ended', 'user_reset'],
      ['active', null],
    ]);
    expect(sessions[1]!.parentSessionId).toBe(conv.session.id);
  });

  it('rejects a body with fields and changes nothing', async () => {
    const conv = (await h.request('POST', '/v1/conversations', { key: t.keys.client, body: {} })).body;
    const res = await h.request('POST', `/v1/conversations/${conv.id}/reset`, {
      key: t.keys.client,
      body: { hard: true },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('validation_failed');
    expect(await listSessions(h.tdb.db, t.tenantId, conv.id)).toHaveLength(1);
  });

  it('serialises 20 concurrent resets: each answers 200 or 409 reset_conflict, one session chain', async () => {
    const conv = (await h.request('POST', '/v1/conversations', { key: t.keys.client, body: {} })).body;
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        h.request('POST', `/v1/conversations/${conv.id}/reset`, { key: t.keys.client }),
      ),
    );
    for (const a of answers) {
      expect([200, 409]).toContain(a.status);
      if (a.status === 409) expect(a.body.error.code).toBe('reset_conflict');
    }
    const ok = answers.filter((a) => a.status === 200);
    expect(ok.length).toBeGreaterThan(0);
    const sessions = await listSessions(h.tdb.db, t.tenantId, conv.id);
    // Every successful reset ended the session the previous one created: a single chain.
    expect(sessions).toHaveLength(1 + ok.length);
    expect(sessions.filter((s) => s.status === 'active')).toHaveLength(1);
    const parents = sessions.map((s) => s.parentSessionId).filter((p) => p !== null);
    expect(new Set(parents).size).toBe(ok.length);
    const got = await h.request('GET', `/v1/conversations/${conv.id}`, { key: t.keys.viewer });
    expect(ok.map((a) => a.body.session.id)).toContain(got.body.session.id);
  });

  it('answers 409 reset_conflict, changing nothing, when the conversation stays locked past the wait', async () => {
    const conv = (await h.request('POST', '/v1/conversations', { key: t.keys.client, body: {} })).body;
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => {
      locked = r;
    });
    // Another transaction holds the conversation row (as a long reset would) until the reset gives up.
    const holder = h.tdb.sql.begin(async (tx) => {
      await tx`select id from conversations where id = ${conv.id} for update`;
      locked();
      await released;
    });
    await isLocked;
    const res = await h.request('POST', `/v1/conversations/${conv.id}/reset`, { key: t.keys.client });
    release();
    await holder;
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('reset_conflict');
    const sessions = await listSessions(h.tdb.db, t.tenantId, conv.id);
    expect(sessions.map((s) => s.status)).toEqual(['active']);
    expect(sessions[0]!.id).toBe(conv.session.id);
  });

  it('answers 404 for a malformed id', async () => {
    const res = await h.request('POST', '/v1/conversations/123/reset', { key: t.keys.client });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('conversation_not_found');
  });
});

describe('unknown routes', () => {
  it('answers 404 not_found naming the route', async () => {
    const res = await h.request('GET', '/v1/nope?x=1', { key: t.keys.viewer });
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: 'not_found', message: 'No route GET /v1/nope.' } });
    const wrongMethod = await h.request('DELETE', '/v1/conversations', { key: t.keys.admin });
    expect(wrongMethod.status).toBe(404);
    expect(wrongMethod.body.error.code).toBe('not_found');
  });

  it('sends a request id header', async () => {
    const res = await h.request('GET', '/healthz');
    expect(res.headers['x-request-id']).toEqual(expect.any(String));
  });
});
