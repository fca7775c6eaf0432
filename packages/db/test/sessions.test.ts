import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  claimSessionFence,
  completeTurn,
  ensureActiveSession,
  getActiveSession,
  getTranscript,
  insertUserMessage,
  newAssistantSessionId,
  resetSession,
  setAssistantSession,
  startReply,
} from '../src/index.ts';
import { createTestDatabase, seedConversation, seedTenant, type TestDatabase } from '../src/testing/index.ts';

let tdb: TestDatabase;
let tenantId: string;

beforeAll(async () => {
  tdb = await createTestDatabase({ max: 12 });
  tenantId = (await seedTenant(tdb.db)).tenant.id;
});
afterAll(async () => {
  await tdb.drop();
});

/** Run one full turn so the conversation's session points at a live transcript. */
async function turnWithTranscript(conversationId: string, fence: number) {
  const session = await ensureActiveSession(tdb.db, tenantId, conversationId);
  const user = await insertUserMessage(tdb.db, { tenantId, conversationId, content: 'hi' });
  if (!user.ok) throw new Error('insert failed');
  const started = await startReply(tdb.db, {
    tenantId,
    conversationId,
    userMessageId: user.message.id,
    fence,
    mode: 'stream',
  });
  if (started.kind !== 'started') throw new Error('start failed');
  const id = newAssistantSessionId();
  const res = await completeTurn(tdb.db, {
    tenantId,
    conversationId,
    sessionId: session.id,
    expectedVersion: session.version,
    fence,
    userMessageId: user.message.id,
    replyId: started.reply.id,
    content: 'hello',
    stopReason: 'end_turn',
    usage: null,
    transcript: {
      id,
      mode: 'create',
      model: 'm',
      thinking: false,
      messages: [{ role: 'user', content: 'hi' }],
      rebuilt: false,
    },
  });
  if (!res.ok) throw new Error(`complete failed: ${res.conflict}`);
  return { session: res.session, assistantSessionId: id };
}

describe('session compare-and-set', () => {
  it('clears to NULL atomically, bumps version and tombstones the transcript', async () => {
    const conv = await seedConversation(tdb.db, tenantId);
    const { session, assistantSessionId } = await turnWithTranscript(conv.id, 1);
    expect(session.assistantSessionId).toBe(assistantSessionId);
    const cleared = await setAssistantSession(tdb.db, {
      sessionId: session.id,
      expectedVersion: session.version,
      fence: 1,
      assistantSessionId: null,
      reason: 'session_invalid',
    });
    expect(cleared.ok).toBe(true);
    if (!cleared.ok) return;
    expect(cleared.session.assistantSessionId).toBeNull();
    expect(cleared.session.version).toBe(session.version + 1);
    const t = await getTranscript(tdb.db, assistantSessionId);
    expect(t?.status).toBe('cleared');
    expect(t?.clearedReason).toBe('session_invalid');
  });

  it('refuses to set a cleared id again, through the repository and through raw SQL', async () => {
    const conv = await seedConversation(tdb.db, tenantId);
    const { session, assistantSessionId } = await turnWithTranscript(conv.id, 1);
    const cleared = await setAssistantSession(tdb.db, {
      sessionId: session.id,
      expectedVersion: session.version,
      fence: 1,
      assistantSessionId: null,
    });
    if (!cleared.ok) throw new Error('clear failed');
    const again = await setAssistantSession(tdb.db, {
      sessionId: session.id,
      expectedVersion: cleared.session.version,
      fence: 1,
      assistantSessionId,
    });
    expect(again).toMatchObject({ ok: false, conflict: 'tombstoned' });
    await expect(
      tdb.sql`update sessions set assistant_session_id = ${assistantSessionId} where id = ${session.id}`,
    ).rejects.toThrow(/tombstoned/);
    await expect(
      tdb.sql`update assistant_transcripts set status = 'live' where id = ${assistantSessionId}`,
    ).rejects.toThrow(/tombstoned/);
    expect((await getActiveSession(tdb.db, conv.id))?.assistantSessionId).toBeNull();
  });

  it('concurrent updates with the same read version: exactly one wins, always', async () => {
    for (let round = 0; round < 10; round++) {
      const conv = await seedConversation(tdb.db, tenantId);
      const { session } = await turnWithTranscript(conv.id, 1);
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          setAssistantSession(tdb.db, {
            sessionId: session.id,
            expectedVersion: session.version,
            fence: 1,
            assistantSessionId: i % 2 === 0 ? null : newAssistantSessionId(),
          }),
        ),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      for (const r of results.filter((x) => !x.ok)) expect(r).toMatchObject({ conflict: 'version' });
      const final = await getActiveSession(tdb.db, conv.id);
      expect(final?.version).toBe(session.version + 1);
    }
  });

  it('a stale fence loses even with the right version, and a claimed fence shuts older writers out', async () => {
    const conv = await seedConversation(tdb.db, tenantId);
    const { session } = await turnWithTranscript(conv.id, 5);
    const stale = await setAssistantSession(tdb.db, {
      sessionId: session.id,
      expectedVersion: session.version,
      fence: 4,
      assistantSessionId: null,
    });
    expect(stale).toMatchObject({ ok: false, conflict: 'fence' });
    const claim = await claimSessionFence(tdb.db, session.id, 9);
    expect(claim.ok && claim.session.fence).toBe(9);
    const older = await setAssistantSession(tdb.db, {
      sessionId: session.id,
      expectedVersion: session.version,
      fence: 5,
      assistantSessionId: null,
    });
    expect(older).toMatchObject({ ok: false, conflict: 'fence' });
    expect((await claimSessionFence(tdb.db, session.id, 8)).ok).toBe(false);
    const row = await getActiveSession(tdb.db, conv.id);
    expect(row?.assistantSessionId).toBe(session.assistantSessionId);
  });

  it('one active session per conversation is enforced by the database; reset keeps the lineage', async () => {
    const conv = await seedConversation(tdb.db, tenantId);
    const { session, assistantSessionId } = await turnWithTranscript(conv.id, 3);
    await expect(
      tdb.sql`insert into sessions (tenant_id, conversation_id) values (${tenantId}, ${conv.id})`,
    ).rejects.toThrow(/sessions_one_active_per_conversation_uq/);
    const fresh = await resetSession(tdb.db, { tenantId, conversationId: conv.id, reason: 'user_reset' });
    expect(fresh.parentSessionId).toBe(session.id);
    expect(fresh.assistantSessionId).toBeNull();
    expect(fresh.fence).toBe(3);
    const [old] =
      await tdb.sql`select status, ended_reason, updated_at from sessions where id = ${session.id}`;
    expect(old).toMatchObject({ status: 'ended', ended_reason: 'user_reset' });
    const cleared = await getTranscript(tdb.db, assistantSessionId);
    expect(cleared?.status).toBe('cleared');
    // The ended session was last written by the reset that cleared its transcript, not after.
    expect(new Date(old!.updated_at).getTime()).toBe(cleared!.clearedAt!.getTime());
    // The new session starts after everything stored so far.
    const [c] = await tdb.sql`select last_seq from conversations where id = ${conv.id}`;
    expect(fresh.startSeq).toBe(c!.last_seq);
  });
});
