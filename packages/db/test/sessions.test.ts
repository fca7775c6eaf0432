import { describe, expect, it } from 'vitest';
import {
  claimSessionFence,
  completeTurn,
  getActiveSession,
  getTranscript,
  newAssistantSessionId,
  resetSession,
  setAssistantSession,
} from '../src/index.ts';
import { completion, conversationFixture, newSession, userWithStartedReply } from './conversation-fixture.ts';

const f = conversationFixture({ max: 12 });
const db = () => f.tdb.db;

/** A new conversation with one full turn run, so its session points at a live transcript. */
async function turnWithTranscript(fence: number) {
  const { conversationId, session } = await newSession(f);
  const turn = await userWithStartedReply(f, fence, conversationId);
  const input = completion(f, { ...turn, conversationId, fence }, session);
  const res = await completeTurn(db(), input);
  if (!res.ok) throw new Error(`complete failed: ${res.conflict}`);
  return { conversationId, session: res.session, assistantSessionId: input.transcript.id };
}

describe('session compare-and-set', () => {
  it('clears to NULL atomically, bumps version and tombstones the transcript', async () => {
    const { session, assistantSessionId } = await turnWithTranscript(1);
    expect(session.assistantSessionId).toBe(assistantSessionId);
    const cleared = await setAssistantSession(db(), {
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
    const t = await getTranscript(db(), assistantSessionId);
    expect(t?.status).toBe('cleared');
    expect(t?.clearedReason).toBe('session_invalid');
  });

  it('refuses to set a cleared id again, through the repository and through raw SQL', async () => {
    const { conversationId, session, assistantSessionId } = await turnWithTranscript(1);
    const cleared = await setAssistantSession(db(), {
      sessionId: session.id,
      expectedVersion: session.version,
      fence: 1,
      assistantSessionId: null,
    });
    if (!cleared.ok) throw new Error('clear failed');
    const again = await setAssistantSession(db(), {
      sessionId: session.id,
      expectedVersion: cleared.session.version,
      fence: 1,
      assistantSessionId,
    });
    expect(again).toMatchObject({ ok: false, conflict: 'tombstoned' });
    await expect(
      f.tdb.sql`update sessions set assistant_session_id = ${assistantSessionId} where id = ${session.id}`,
    ).rejects.toThrow(/tombstoned/);
    await expect(
      f.tdb.sql`update assistant_transcripts set status = 'live' where id = ${assistantSessionId}`,
    ).rejects.toThrow(/tombstoned/);
    expect((await getActiveSession(db(), conversationId))?.assistantSessionId).toBeNull();
  });

  it('concurrent updates with the same read version: exactly one wins, always', async () => {
    for (let round = 0; round < 10; round++) {
      const { conversationId, session } = await turnWithTranscript(1);
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          setAssistantSession(db(), {
            sessionId: session.id,
            expectedVersion: session.version,
            fence: 1,
            assistantSessionId: i % 2 === 0 ? null : newAssistantSessionId(),
          }),
        ),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      for (const r of results.filter((x) => !x.ok)) expect(r).toMatchObject({ conflict: 'version' });
      const final = await getActiveSession(db(), conversationId);
      expect(final?.version).toBe(session.version + 1);
    }
  });

  it('a stale fence loses even with the right version, and a claimed fence shuts older writers out', async () => {
    const { conversationId, session } = await turnWithTranscript(5);
    const stale = await setAssistantSession(db(), {
      sessionId: session.id,
      expectedVersion: session.version,
      fence: 4,
      assistantSessionId: null,
    });
    expect(stale).toMatchObject({ ok: false, conflict: 'fence' });
    const claim = await claimSessionFence(db(), session.id, 9);
    expect(claim.ok && claim.session.fence).toBe(9);
    const older = await setAssistantSession(db(), {
      sessionId: session.id,
      expectedVersion: session.version,
      fence: 5,
      assistantSessionId: null,
    });
    expect(older).toMatchObject({ ok: false, conflict: 'fence' });
    expect((await claimSessionFence(db(), session.id, 8)).ok).toBe(false);
    const row = await getActiveSession(db(), conversationId);
    expect(row?.assistantSessionId).toBe(session.assistantSessionId);
  });

  it('one active session per conversation is enforced by the database; reset keeps the lineage', async () => {
    const { conversationId, session, assistantSessionId } = await turnWithTranscript(3);
    await expect(
      f.tdb.sql`insert into sessions (tenant_id, conversation_id) values (${f.tenantId}, ${conversationId})`,
    ).rejects.toThrow(/sessions_one_active_per_conversation_uq/);
    const fresh = await resetSession(db(), { tenantId: f.tenantId, conversationId, reason: 'user_reset' });
    expect(fresh.parentSessionId).toBe(session.id);
    expect(fresh.assistantSessionId).toBeNull();
    expect(fresh.fence).toBe(3);
    const [old] = await f.tdb
      .sql`select status, ended_reason, updated_at from sessions where id = ${session.id}`;
    expect(old).toMatchObject({ status: 'ended', ended_reason: 'user_reset' });
    const cleared = await getTranscript(db(), assistantSessionId);
    expect(cleared?.status).toBe('cleared');
    // The ended session was last written by the reset that cleared its transcript, not after.
    expect(new Date(old!.updated_at).getTime()).toBe(cleared!.clearedAt!.getTime());
    // The new session starts after everything stored so far.
    const [c] = await f.tdb.sql`select last_seq from conversations where id = ${conversationId}`;
    expect(fresh.startSeq).toBe(c!.last_seq);
  });
});
