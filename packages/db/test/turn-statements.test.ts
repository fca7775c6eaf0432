import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
import { createTestDatabase, seedConversation, seedTenant, type TestDatabase } from '../src/testing/index.ts';

// The per-turn statements are single prepared statements (built once per handle): these check that
// they keep the meaning the multi-statement transactions had, and that nothing is frozen at build time.
let tdb: TestDatabase;
let tenantId: string;

beforeAll(async () => {
  tdb = await createTestDatabase();
  tenantId = (await seedTenant(tdb.db)).tenant.id;
});
afterAll(async () => {
  await tdb.drop();
});

function attemptInput(conversationId: string, messageId: string, attempt: number) {
  return {
    tenantId,
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
    const conv = await seedConversation(tdb.db, tenantId);
    const first = await insertUserMessage(tdb.db, { tenantId, conversationId: conv.id, content: 'one' });
    if (!first.ok) throw new Error('insert failed');
    const reply = await startReply(tdb.db, {
      tenantId,
      conversationId: conv.id,
      userMessageId: first.message.id,
      fence: 1,
      mode: 'stream',
    });
    const second = await insertUserMessage(tdb.db, {
      tenantId,
      conversationId: conv.id,
      content: 'two',
      idempotencyKey: 'k-2',
      mode: 'batch',
    });
    if (!second.ok || reply.kind !== 'started') throw new Error('insert failed');
    expect([first.message.seq, reply.reply.seq, second.message.seq]).toEqual([1, 2, 3]);
    expect(second.message).toMatchObject({ idempotencyKey: 'k-2', mode: 'batch', status: 'pending' });
    expect(reply.reply).toMatchObject({ role: 'assistant', status: 'streaming', fence: 1, content: '' });
    expect((await getConversation(tdb.db, tenantId, conv.id))?.lastSeq).toBe(3);
  });

  it('a caller-chosen id is kept; an unknown conversation (or another tenant) is conversation_not_found', async () => {
    const conv = await seedConversation(tdb.db, tenantId);
    const id = randomUUID();
    const chosen = await insertUserMessage(tdb.db, { id, tenantId, conversationId: conv.id, content: 'x' });
    expect(chosen.ok && chosen.message.id).toBe(id);
    const other = (await seedTenant(tdb.db, 'other')).tenant.id;
    const foreign = await insertUserMessage(tdb.db, {
      tenantId: other,
      conversationId: conv.id,
      content: 'x',
    });
    expect(foreign).toEqual({ ok: false, reason: 'conversation_not_found' });
    const missing = await insertUserMessage(tdb.db, { tenantId, conversationId: randomUUID(), content: 'x' });
    expect(missing).toEqual({ ok: false, reason: 'conversation_not_found' });
    expect((await getConversation(tdb.db, tenantId, conv.id))?.lastSeq).toBe(1);
  });

  it('timestamps are taken when a statement runs, not when it was first built', async () => {
    const conv = await seedConversation(tdb.db, tenantId);
    const a = await insertUserMessage(tdb.db, { tenantId, conversationId: conv.id, content: 'a' });
    if (!a.ok) throw new Error('insert failed');
    await setUserMessageStatus(tdb.db, a.message.id, 'completed');
    const [before] = await tdb.sql<{ t: string }[]>`select now()::text as t`;
    const b = await insertUserMessage(tdb.db, { tenantId, conversationId: conv.id, content: 'b' });
    if (!b.ok) throw new Error('insert failed');
    expect(await setUserMessageStatus(tdb.db, b.message.id, 'failed')).toBe(true);
    const [row] = await tdb.sql<{ fresh: boolean }[]>`
      select updated_at >= ${before!.t}::timestamptz and completed_at >= ${before!.t}::timestamptz as fresh
      from messages where id = ${b.message.id}`;
    expect(row!.fresh).toBe(true);
    // A final status is never changed again.
    expect(await setUserMessageStatus(tdb.db, b.message.id, 'completed')).toBe(false);
  });

  it('a new attempt closes the open ones as lost; the first outcome recorded stands', async () => {
    const conv = await seedConversation(tdb.db, tenantId);
    const m = await insertUserMessage(tdb.db, { tenantId, conversationId: conv.id, content: 'm' });
    if (!m.ok) throw new Error('insert failed');
    const first = await startAttempt(tdb.db, attemptInput(conv.id, m.message.id, 1));
    const second = await startAttempt(tdb.db, attemptInput(conv.id, m.message.id, 2));
    expect(second).toMatchObject({ attempt: 2, fence: 2, outcome: null, workerId: 'w1' });
    const usage = { inputTokens: 3, outputTokens: 4, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 };
    await finishAttempt(tdb.db, second.id, { outcome: 'completed', usage });
    await finishAttempt(tdb.db, second.id, { outcome: 'failed', errorCode: 'late' });
    // A lost attempt whose worker comes back reports over `lost`.
    await finishAttempt(tdb.db, first.id, {
      outcome: 'superseded',
      errorCode: 'fenced_out',
      errorMessage: 'x',
    });
    const attempts = await listAttempts(tdb.db, tenantId, m.message.id);
    expect(attempts.map((a) => [a.attempt, a.outcome, a.errorCode])).toEqual([
      [1, 'superseded', 'fenced_out'],
      [2, 'completed', null],
    ]);
    expect(attempts[1]!.usage).toEqual(usage);
    expect(attempts[0]!.usage).toBeNull();
    expect(attempts.every((a) => a.endedAt instanceof Date)).toBe(true);
  });

  it('claiming a session fence: newer raises it, equal keeps it, older or an ended session is refused', async () => {
    const conv = await seedConversation(tdb.db, tenantId);
    const session = await ensureActiveSession(tdb.db, tenantId, conv.id);
    const raised = await claimSessionFence(tdb.db, session.id, 7);
    expect(raised.ok && raised.session.fence).toBe(7);
    const again = await claimSessionFence(tdb.db, session.id, 7);
    expect(again.ok && again.session.fence).toBe(7);
    const older = await claimSessionFence(tdb.db, session.id, 6);
    expect(older).toMatchObject({ ok: false, conflict: 'fence' });
    await resetSession(tdb.db, { tenantId, conversationId: conv.id, reason: 'test' });
    expect(await claimSessionFence(tdb.db, session.id, 8)).toMatchObject({
      ok: false,
      conflict: 'not_active',
    });
    expect(await claimSessionFence(tdb.db, randomUUID(), 8)).toMatchObject({
      ok: false,
      conflict: 'not_found',
    });
  });
});
