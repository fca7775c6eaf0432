import { describe, expect, it } from 'vitest';
import {
  type CompleteTurnInput,
  claimSessionFence,
  completeTurn,
  createWebhookEndpoint,
  getActiveSession,
  getMessage,
  getReply,
  getTranscript,
  listAttempts,
  newAssistantSessionId,
  setAssistantSession,
} from '../src/index.ts';
import {
  completion,
  conversationFixture,
  newSession,
  runningTurn,
  userWithStartedReply,
} from './conversation-fixture.ts';

// The completion is one prepared statement (data-modifying CTEs): these check it keeps the meaning of
// the transaction it replaced — each conflict writes nothing at all, and a success writes all five rows.
const f = conversationFixture({ max: 6 });
const db = () => f.tdb.db;

/** A turn streaming under `fence` in a fresh conversation: session claimed, reply streaming, attempt open. */
async function running(fence: number) {
  const { conversationId, session } = await newSession(f, fence);
  const turn = await runningTurn(f, fence, { conversationId, sessionId: session.id });
  return { ...turn, session };
}

type Running = Awaited<ReturnType<typeof running>>;

const input = (t: Running, over: Partial<CompleteTurnInput> = {}) => completion(f, t, t.session, over);

/** Everything a completion writes, as it is now. */
async function state(t: Running, transcriptId: string) {
  const session = await getActiveSession(db(), t.conversationId);
  const reply = await getReply(db(), t.messageId);
  return {
    user: (await getMessage(db(), f.tenantId, t.messageId))?.status,
    reply: reply && { status: reply.status, content: reply.content, stop: reply.stopReason },
    attempts: (await listAttempts(db(), f.tenantId, t.messageId)).map((a) => a.outcome),
    session: session && { version: session.version, assistantSessionId: session.assistantSessionId },
    transcript: (await getTranscript(db(), transcriptId))?.status ?? null,
  };
}

const untouched = (t: Running) => ({
  user: 'pending',
  reply: { status: 'streaming', content: 'part', stop: null },
  attempts: [null],
  session: { version: t.session.version, assistantSessionId: null },
  transcript: null,
});

describe('completeTurn (one statement)', () => {
  it('completes reply, user message and attempt, writes the transcript and moves the session', async () => {
    const t = await running(4);
    const i = input(t);
    const res = await completeTurn(db(), i);
    expect(res.ok).toBe(true);
    if (!res.ok) return;
    expect(res.reply).toMatchObject({ id: t.replyId, status: 'completed', content: 'the answer', fence: 4 });
    expect(res.reply.completedAt).toBeInstanceOf(Date);
    expect(res.reply.usage).toEqual(i.usage);
    expect(res.session).toMatchObject({
      id: t.session.id,
      version: t.session.version + 1,
      fence: 4,
      assistantSessionId: i.transcript.id,
    });
    expect(res.session.updatedAt).toBeInstanceOf(Date);
    expect(await state(t, i.transcript.id)).toEqual({
      user: 'completed',
      reply: { status: 'completed', content: 'the answer', stop: 'end_turn' },
      attempts: ['completed'],
      session: { version: t.session.version + 1, assistantSessionId: i.transcript.id },
      transcript: 'live',
    });
    const [attempt] = await listAttempts(db(), f.tenantId, t.messageId);
    expect(attempt?.usage).toEqual(i.usage);
    expect(attempt?.endedAt).toBeInstanceOf(Date);
  });

  it('appends to the live transcript the session points at', async () => {
    const first = await running(2);
    const i1 = input(first);
    const done = await completeTurn(db(), i1);
    if (!done.ok) throw new Error('first completion refused');
    const second = await userWithStartedReply(f, 2, first.conversationId);
    const messages = [
      { role: 'user', content: 'q' },
      { role: 'user', content: 'again' },
    ];
    const res = await completeTurn(db(), {
      ...input(first),
      expectedVersion: done.session.version,
      userMessageId: second.messageId,
      replyId: second.replyId,
      attemptId: undefined,
      transcript: { ...i1.transcript, mode: 'append', messages },
    });
    expect(res).toMatchObject({ ok: true, session: { version: done.session.version + 1 } });
    expect((await getTranscript(db(), i1.transcript.id))?.messages).toEqual(messages);
  });

  it('a version conflict writes nothing and reports the locked row', async () => {
    const t = await running(3);
    const i = input(t, { expectedVersion: t.session.version - 1 });
    const res = await completeTurn(db(), i);
    expect(res).toMatchObject({ ok: false, conflict: 'version', session: { id: t.session.id } });
    expect(await state(t, i.transcript.id)).toEqual(untouched(t));
  });

  it('an older fence than the session holds writes nothing', async () => {
    const t = await running(3);
    await claimSessionFence(db(), t.session.id, 9);
    const i = input(t);
    expect(await completeTurn(db(), i)).toMatchObject({ ok: false, conflict: 'fence' });
    expect((await state(t, i.transcript.id)).reply).toEqual(untouched(t).reply);
    expect((await state(t, i.transcript.id)).transcript).toBeNull();
  });

  it('a reply taken over by a newer fence writes nothing (session, transcript, user, attempt unchanged)', async () => {
    const t = await running(3);
    await f.tdb.sql`update messages set fence = 8 where id = ${t.replyId}`;
    const i = input(t);
    expect(await completeTurn(db(), i)).toMatchObject({
      ok: false,
      conflict: 'reply_fenced',
      session: null,
    });
    expect(await state(t, i.transcript.id)).toEqual({
      ...untouched(t),
      reply: { status: 'streaming', content: 'part', stop: null },
    });
  });

  it('appending to a tombstoned transcript is refused and writes nothing', async () => {
    const t = await running(2);
    const live = newAssistantSessionId();
    await f.tdb.sql`insert into assistant_transcripts (id, tenant_id, conversation_id, model, status)
      values (${live}, ${f.tenantId}, ${t.conversationId}, 'm', 'cleared')`;
    const i = input(t, { transcript: { ...input(t).transcript, id: live, mode: 'append' } });
    expect(await completeTurn(db(), i)).toMatchObject({ ok: false, conflict: 'tombstoned' });
    expect((await state(t, live)).user).toBe('pending');
    expect((await state(t, live)).reply).toEqual(untouched(t).reply);
  });

  it('detached: reply, user and attempt complete; no transcript, and the session is left as it is', async () => {
    const t = await running(5);
    const cleared = await setAssistantSession(db(), {
      sessionId: t.session.id,
      expectedVersion: t.session.version,
      fence: 5,
      assistantSessionId: null,
    });
    if (!cleared.ok) throw new Error('clear refused');
    const i = input(t, { detached: true });
    const res = await completeTurn(db(), i);
    expect(res).toMatchObject({ ok: true, session: { version: cleared.session.version } });
    expect(await state(t, i.transcript.id)).toEqual({
      user: 'completed',
      reply: { status: 'completed', content: 'the answer', stop: 'end_turn' },
      attempts: ['completed'],
      session: { version: cleared.session.version, assistantSessionId: null },
      transcript: null,
    });
  });

  it('two completions of one session at the same version: exactly one wins', async () => {
    const a = await running(6);
    const b = await userWithStartedReply(f, 6, a.conversationId);
    const results = await Promise.all([
      completeTurn(db(), input(a)),
      completeTurn(db(), {
        ...input(a),
        userMessageId: b.messageId,
        replyId: b.replyId,
        attemptId: undefined,
      }),
    ]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.find((r) => !r.ok)).toMatchObject({ conflict: 'version' });
    expect((await getActiveSession(db(), a.conversationId))?.version).toBe(a.session.version + 1);
  });

  it("says whether turn.completed has a webhook target: one of the tenant's endpoints takes that type", async () => {
    const wanted = async () => {
      const res = await completeTurn(db(), input(await running(7)));
      if (!res.ok) throw new Error('completion refused');
      return res.outcomeWanted;
    };
    expect(await wanted()).toBe(false);
    const endpoint = { tenantId: f.tenantId, url: 'https://hooks.example.com/in', secret: 'whsec_dGVzdA==' };
    await createWebhookEndpoint(db(), { ...endpoint, eventTypes: ['turn.cancelled'] });
    expect(await wanted()).toBe(false);
    await createWebhookEndpoint(db(), { ...endpoint, eventTypes: ['turn.failed', 'turn.completed'] });
    expect(await wanted()).toBe(true);
  });
});
