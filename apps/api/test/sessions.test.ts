import { schema, setAssistantSession } from '@turnstream/db';
import { describe, expect, it } from 'vitest';
import { harnessFixture, tenantFixture } from './helpers.ts';

// GET /v1/conversations/:id/sessions: a conversation's sessions and cleared assistant sessions.
const h = harnessFixture();
const t = tenantFixture(h);
const other = tenantFixture(h);

async function conversation(): Promise<{ id: string; sessionId: string }> {
  const res = await h.request('POST', '/v1/conversations', { key: t.keys.client, body: {} });
  return { id: res.body.id, sessionId: res.body.session.id };
}

/** Point the session at a new live transcript, as a completed turn does. */
async function useTranscript(conv: string, sessionId: string, id: string, version: number, fence: number) {
  await h.tdb.db
    .insert(schema.assistantTranscripts)
    .values({ id, tenantId: t.tenantId, conversationId: conv, model: 'claude-sonnet-4-6' });
  const res = await setAssistantSession(h.tdb.db, {
    sessionId,
    expectedVersion: version,
    fence,
    assistantSessionId: id,
  });
  expect(res.ok).toBe(true);
}

const history = (conv: string, key = t.keys.viewer, query = '') =>
  h.request('GET', `/v1/conversations/${conv}/sessions${query}`, { key });

describe('GET /v1/conversations/:id/sessions', () => {
  it('a new conversation: one active session, no clears', async () => {
    const conv = await conversation();
    const res = await history(conv.id);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      sessions: [
        {
          id: conv.sessionId,
          status: 'active',
          assistantSessionId: null,
          version: 0,
          parentSessionId: null,
          endedReason: null,
          createdAt: expect.any(String),
          endedAt: null,
        },
      ],
      clears: [],
    });
  });

  it('lists sessions oldest first and every clear with its reason (a recovery, then resets)', async () => {
    const conv = await conversation();
    // A turn set asst_a; a recovery cleared it; a reset ended the session.
    await useTranscript(conv.id, conv.sessionId, `asst_a_${conv.id}`, 0, 1);
    const cleared = await setAssistantSession(h.tdb.db, {
      sessionId: conv.sessionId,
      expectedVersion: 1,
      fence: 1,
      assistantSessionId: null,
      reason: 'invalid_thinking_signature',
    });
    expect(cleared.ok).toBe(true);
    const reset1 = await h.request('POST', `/v1/conversations/${conv.id}/reset`, { key: t.keys.client });
    const second = reset1.body.session.id as string;
    // The new session's turn set asst_b; a reset tombstoned it.
    await useTranscript(conv.id, second, `asst_b_${conv.id}`, 0, 2);
    const reset2 = await h.request('POST', `/v1/conversations/${conv.id}/reset`, { key: t.keys.client });
    const third = reset2.body.session.id as string;

    const res = await history(conv.id);
    expect(res.status).toBe(200);
    expect(res.body.sessions.map((s: Record<string, unknown>) => [s.id, s.status, s.endedReason])).toEqual([
      [conv.sessionId, 'ended', 'user_reset'],
      [second, 'ended', 'user_reset'],
      [third, 'active', null],
    ]);
    expect(res.body.sessions[0]).toMatchObject({ assistantSessionId: null, version: 2 });
    expect(res.body.sessions[1]).toMatchObject({
      parentSessionId: conv.sessionId,
      assistantSessionId: `asst_b_${conv.id}`,
      version: 1,
      endedAt: expect.any(String),
    });
    expect(res.body.sessions[2]).toMatchObject({ parentSessionId: second, version: 0 });
    expect(res.body.clears).toEqual([
      {
        assistantSessionId: `asst_a_${conv.id}`,
        reason: 'invalid_thinking_signature',
        clearedAt: expect.any(String),
      },
      { assistantSessionId: `asst_b_${conv.id}`, reason: 'user_reset', clearedAt: expect.any(String) },
    ]);

    // `limit` keeps the most recent ones, still oldest first.
    const last = await history(conv.id, t.keys.viewer, '?limit=2');
    expect(last.body.sessions.map((s: { id: string }) => s.id)).toEqual([second, third]);
    expect(last.body.clears.map((c: { reason: string }) => c.reason)).toEqual([
      'invalid_thinking_signature',
      'user_reset',
    ]);
    const one = await history(conv.id, t.keys.viewer, '?limit=1');
    expect(one.body.sessions.map((s: { id: string }) => s.id)).toEqual([third]);
    expect(one.body.clears.map((c: { reason: string }) => c.reason)).toEqual(['user_reset']);
  });

  it("another tenant's conversation answers 404 like a missing one", async () => {
    const conv = await conversation();
    const res = await history(conv.id, other.keys.admin);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('conversation_not_found');
    const malformed = await history('not-a-uuid');
    expect(malformed.status).toBe(404);
    expect(malformed.body.error.code).toBe('conversation_not_found');
  });

  it('needs a key (a stream token does not open it); every role may read', async () => {
    const conv = await conversation();
    const anonymous = await h.request('GET', `/v1/conversations/${conv.id}/sessions`);
    expect(anonymous.status).toBe(401);
    const issued = await h.request('POST', `/v1/conversations/${conv.id}/stream-tokens`, {
      key: t.keys.viewer,
    });
    const withToken = await h.request(
      'GET',
      `/v1/conversations/${conv.id}/sessions?token=${issued.body.token}`,
    );
    expect(withToken.status).toBe(401);
    for (const key of Object.values(t.keys)) expect((await history(conv.id, key)).status).toBe(200);
  });

  it('rejects a bad query with validation_failed', async () => {
    const conv = await conversation();
    for (const query of ['?limit=0', '?limit=101', '?limit=x', '?order=desc']) {
      const res = await history(conv.id, t.keys.viewer, query);
      expect(res.status, query).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
    }
  });
});
