import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  claimSessionFence,
  ensureActiveSession,
  finishAttempt,
  getConversation,
  insertUserMessage,
  listAttempts,
  resetSession,
  setUserMessageStatus,
  startAttempt,
  startReply,
} from '../src/index.ts';
import { seedTenant } from '../src/testing/index.ts';
import { conversationFixture, newConversation, userMessageId } from './conversation-fixture.ts';

// The per-turn statements are single prepared statements (built once per handle): these check that
// they keep the meaning the multi-statement transactions had, and that nothing is frozen at build time.
const f = conversationFixture();
const db = () => f.tdb.db;

function attemptInput(conversationId: string, messageId: string, attempt: number) {
  return {
    tenantId: f.tenantId,
    conversationId,
    messageId,
    jobId: `job-${messageId}`,
    attempt,
    workerId: 'w1',
    fence: attempt,
    sessionId: null,
    assistantSessionId: null,
  };
}

describe('turn statements', () => {
  it('user messages and replies take consecutive seqs from their conversation', async () => {
    const { tenantId } = f;
    const conv = await newConversation(f);
    const first = await insertUserMessage(db(), {
      tenantId,
      conversationId: conv,
      content: 'one',
    });
    if (!first.ok) throw new Error('insert failed');
    const reply = await startReply(db(), {
      tenantId,
      conversationId: conv,
      userMessageId: first.message.id,
      fence: 1,
      mode: 'stream',
    });
    const second = await insertUserMessage(db(), {
      tenantId,
      conversationId: conv,
      content: 'two',
      idempotencyKey: 'k-2',
      mode: 'batch',
    });
    if (!second.ok || reply.kind !== 'started') throw new Error('insert failed');
    expect([first.message.seq, reply.reply.seq, second.message.seq]).toEqual([1, 2, 3]);
    expect(second.message).toMatchObject({ idempotencyKey: 'k-2', mode: 'batch', status: 'pending' });
    expect(reply.reply).toMatchObject({ role: 'assistant', status: 'streaming', fence: 1, content: '' });
    expect((await getConversation(db(), tenantId, conv))?.lastSeq).toBe(3);
  });

  it('a caller-chosen id is kept; an unknown conversation (or another tenant) is conversation_not_found', async () => {
    const { tenantId } = f;
    const conv = await newConversation(f);
    const id = randomUUID();
    const chosen = await insertUserMessage(db(), {
      id,
      tenantId,
      conversationId: conv,
      content: 'x',
    });
    expect(chosen.ok && chosen.message.id).toBe(id);
    const other = (await seedTenant(db(), 'other')).tenant.id;
    const foreign = await insertUserMessage(db(), {
      tenantId: other,
      conversationId: conv,
      content: 'x',
    });
    expect(foreign).toEqual({ ok: false, reason: 'conversation_not_found' });
    const missing = await insertUserMessage(db(), {
      tenantId,
      conversationId: randomUUID(),
      content: 'x',
    });
    expect(missing).toEqual({ ok: false, reason: 'conversation_not_found' });
    expect((await getConversation(db(), tenantId, conv))?.lastSeq).toBe(1);
  });

  it('timestamps are taken when a statement runs, not when it was first built', async () => {
    const conv = await newConversation(f);
    await setUserMessageStatus(db(), await userMessageId(f, conv), 'completed');
    const [before] = await f.tdb.sql<{ t: string }[]>`select now()::text as t`;
    const b = await userMessageId(f, conv);
    expect(await setUserMessageStatus(db(), b, 'failed')).toBe(true);
    const [row] = await f.tdb.sql<{ fresh: boolean }[]>`
      select updated_at >= ${before!.t}::timestamptz and completed_at >= ${before!.t}::timestamptz as fresh
      from messages where id = ${b}`;
    expect(row!.fresh).toBe(true);
    // A final status is never changed again.
    expect(await setUserMessageStatus(db(), b, 'completed')).toBe(false);
  });

  it('a new attempt closes the open ones as lost; the first outcome recorded stands', async () => {
    const conv = await newConversation(f);
    const m = await userMessageId(f, conv);
    const first = await startAttempt(db(), attemptInput(conv, m, 1));
    const second = await startAttempt(db(), attemptInput(conv, m, 2));
    expect(second).toMatchObject({ attempt: 2, fence: 2, outcome: null, workerId: 'w1' });
    const usage = { inputTokens: 3, outputTokens: 4, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 };
    await finishAttempt(db(), second.id, { outcome: 'completed', usage });
    await finishAttempt(db(), second.id, { outcome: 'failed', errorCode: 'late' });
    // A lost attempt whose worker comes back reports over `lost`.
    await finishAttempt(db(), first.id, {
      outcome: 'superseded',
      errorCode: 'fenced_out',
      errorMessage: 'x',
    });
    const attempts = await listAttempts(db(), f.tenantId, m);
    expect(attempts.map((a) => [a.attempt, a.outcome, a.errorCode])).toEqual([
      [1, 'superseded', 'fenced_out'],
      [2, 'completed', null],
    ]);
    expect(attempts[1]!.usage).toEqual(usage);
    expect(attempts[0]!.usage).toBeNull();
    expect(attempts.every((a) => a.endedAt instanceof Date)).toBe(true);
  });

  it('claiming a session fence: newer raises it, equal keeps it, older or an ended session is refused', async () => {
    const conv = await newConversation(f);
    const session = await ensureActiveSession(db(), f.tenantId, conv);
    const raised = await claimSessionFence(db(), session.id, 7);
    expect(raised.ok && raised.session.fence).toBe(7);
    const again = await claimSessionFence(db(), session.id, 7);
    expect(again.ok && again.session.fence).toBe(7);
    const older = await claimSessionFence(db(), session.id, 6);
    expect(older).toMatchObject({ ok: false, conflict: 'fence' });
    await resetSession(db(), { tenantId: f.tenantId, conversationId: conv, reason: 'test' });
    expect(await claimSessionFence(db(), session.id, 8)).toMatchObject({
      ok: false,
      conflict: 'not_active',
    });
    expect(await claimSessionFence(db(), randomUUID(), 8)).toMatchObject({
      ok: false,
      conflict: 'not_found',
    });
  });
});
