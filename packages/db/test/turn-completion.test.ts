import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CompleteTurnInput,
  claimSessionFence,
  completeTurn,
  ensureActiveSession,
  getActiveSession,
  getMessage,
  getReply,
  getTranscript,
  insertUserMessage,
  listAttempts,
  newAssistantSessionId,
  setAssistantSession,
  startAttempt,
  startReply,
} from '../src/index.ts';
import { createTestDatabase, seedConversation, seedTenant, type TestDatabase } from '../src/testing/index.ts';

// The completion is one prepared statement (data-modifying CTEs): these check it keeps the meaning of
// the transaction it replaced — each conflict writes nothing at all, and a success writes all five rows.
let tdb: TestDatabase;
let tenantId: string;

beforeAll(async () => {
  tdb = await createTestDatabase({ max: 6 });
  tenantId = (await seedTenant(tdb.db)).tenant.id;
});
afterAll(async () => {
  await tdb.drop();
});

/** A turn streaming under `fence` in a fresh conversation: session claimed, reply streaming, attempt open. */
async function running(fence: number) {
  const conversationId = (await seedConversation(tdb.db, tenantId)).id;
  const session0 = await ensureActiveSession(tdb.db, tenantId, conversationId);
  const claim = await claimSessionFence(tdb.db, session0.id, fence);
  if (!claim.ok) throw new Error('claim refused');
  const user = await insertUserMessage(tdb.db, { tenantId, conversationId, content: 'q' });
  if (!user.ok) throw new Error('insert failed');
  const started = await startReply(tdb.db, {
    tenantId,
    conversationId,
    userMessageId: user.message.id,
    fence,
    mode: 'stream',
  });
  if (started.kind !== 'started') throw new Error('not started');
  await tdb.sql`update messages set content = 'part' where id = ${started.reply.id}`;
  const attempt = await startAttempt(tdb.db, {
    tenantId,
    conversationId,
    messageId: user.message.id,
    jobId: null,
    attempt: 1,
    workerId: 'w',
    fence,
    sessionId: claim.session.id,
    assistantSessionId: null,
  });
  return {
    conversationId,
    session: claim.session,
    userId: user.message.id,
    replyId: started.reply.id,
    attemptId: attempt.id,
  };
}

type Running = Awaited<ReturnType<typeof running>>;

function input(t: Running, over: Partial<CompleteTurnInput> = {}): CompleteTurnInput {
  return {
    tenantId,
    conversationId: t.conversationId,
    sessionId: t.session.id,
    expectedVersion: t.session.version,
    fence: t.session.fence,
    userMessageId: t.userId,
    replyId: t.replyId,
    content: 'the answer',
    stopReason: 'end_turn',
    usage: { inputTokens: 3, outputTokens: 2, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 },
    attemptId: t.attemptId,
    transcript: {
      id: newAssistantSessionId(),
      mode: 'create',
      model: 'm',
      thinking: false,
      messages: [{ role: 'user', content: 'q' }],
      rebuilt: false,
    },
    ...over,
  };
}

/** Everything a completion writes, as it is now. */
async function state(t: Running, transcriptId: string) {
  const session = await getActiveSession(tdb.db, t.conversationId);
  const reply = await getReply(tdb.db, t.userId);
  return {
    user: (await getMessage(tdb.db, tenantId, t.userId))?.status,
    reply: reply && { status: reply.status, content: reply.content, stop: reply.stopReason },
    attempts: (await listAttempts(tdb.db, tenantId, t.userId)).map((a) => a.outcome),
    session: session && { version: session.version, assistantSessionId: session.assistantSessionId },
    transcript: (await getTranscript(tdb.db, transcriptId))?.status ?? null,
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
    const res = await completeTurn(tdb.db, i);
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
    const [attempt] = await listAttempts(tdb.db, tenantId, t.userId);
    expect(attempt?.usage).toEqual(i.usage);
    expect(attempt?.endedAt).toBeInstanceOf(Date);
  });

  it('appends to the live transcript the session points at', async () => {
    const first = await running(2);
    const i1 = input(first);
    const done = await completeTurn(tdb.db, i1);
    if (!done.ok) throw new Error('first completion refused');
    const user = await insertUserMessage(tdb.db, {
      tenantId,
      conversationId: first.conversationId,
      content: 'again',
    });
    if (!user.ok) throw new Error('insert failed');
    const started = await startReply(tdb.db, {
      tenantId,
      conversationId: first.conversationId,
      userMessageId: user.message.id,
      fence: 2,
      mode: 'stream',
    });
    if (started.kind !== 'started') throw new Error('not started');
    const messages = [
      { role: 'user', content: 'q' },
      { role: 'user', content: 'again' },
    ];
    const res = await completeTurn(tdb.db, {
      ...input(first),
      expectedVersion: done.session.version,
      userMessageId: user.message.id,
      replyId: started.reply.id,
      attemptId: undefined,
      transcript: { ...i1.transcript, mode: 'append', messages },
    });
    expect(res).toMatchObject({ ok: true, session: { version: done.session.version + 1 } });
    expect((await getTranscript(tdb.db, i1.transcript.id))?.messages).toEqual(messages);
  });

  it('a version conflict writes nothing and reports the locked row', async () => {
    const t = await running(3);
    const i = input(t, { expectedVersion: t.session.version - 1 });
    const res = await completeTurn(tdb.db, i);
    expect(res).toMatchObject({ ok: false, conflict: 'version', session: { id: t.session.id } });
    expect(await state(t, i.transcript.id)).toEqual(untouched(t));
  });

  it('an older fence than the session holds writes nothing', async () => {
    const t = await running(3);
    await claimSessionFence(tdb.db, t.session.id, 9);
    const i = input(t);
    expect(await completeTurn(tdb.db, i)).toMatchObject({ ok: false, conflict: 'fence' });
    expect((await state(t, i.transcript.id)).reply).toEqual(untouched(t).reply);
    expect((await state(t, i.transcript.id)).transcript).toBeNull();
  });

  it('a reply taken over by a newer fence writes nothing (session, transcript, user, attempt unchanged)', async () => {
    const t = await running(3);
    await tdb.sql`update messages set fence = 8 where id = ${t.replyId}`;
    const i = input(t);
    expect(await completeTurn(tdb.db, i)).toMatchObject({
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
    await tdb.sql`insert into assistant_transcripts (id, tenant_id, conversation_id, model, status)
      values (${live}, ${tenantId}, ${t.conversationId}, 'm', 'cleared')`;
    const i = input(t, { transcript: { ...input(t).transcript, id: live, mode: 'append' } });
    expect(await completeTurn(tdb.db, i)).toMatchObject({ ok: false, conflict: 'tombstoned' });
    expect((await state(t, live)).user).toBe('pending');
    expect((await state(t, live)).reply).toEqual(untouched(t).reply);
  });

  it('detached: reply, user and attempt complete; no transcript, and the session is left as it is', async () => {
    const t = await running(5);
    const cleared = await setAssistantSession(tdb.db, {
      sessionId: t.session.id,
      expectedVersion: t.session.version,
      fence: 5,
      assistantSessionId: null,
    });
    if (!cleared.ok) throw new Error('clear refused');
    const i = input(t, { detached: true });
    const res = await completeTurn(tdb.db, i);
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
    const user = await insertUserMessage(tdb.db, {
      tenantId,
      conversationId: a.conversationId,
      content: 'b',
    });
    if (!user.ok) throw new Error('insert failed');
    const b = await startReply(tdb.db, {
      tenantId,
      conversationId: a.conversationId,
      userMessageId: user.message.id,
      fence: 6,
      mode: 'stream',
    });
    if (b.kind !== 'started') throw new Error('not started');
    const results = await Promise.all([
      completeTurn(tdb.db, input(a)),
      completeTurn(tdb.db, {
        ...input(a),
        userMessageId: user.message.id,
        replyId: b.reply.id,
        attemptId: undefined,
      }),
    ]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.find((r) => !r.ok)).toMatchObject({ conflict: 'version' });
    expect((await getActiveSession(tdb.db, a.conversationId))?.version).toBe(a.session.version + 1);
  });
});
