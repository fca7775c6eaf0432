import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  claimSessionFence,
  ensureActiveSession,
  getConversation,
  getMessage,
  getReply,
  insertUserMessage,
  listAttempts,
  type Message,
  type OpenTurnInput,
  openTurn,
  readTurnStart,
  resetSession,
  setUserMessageStatus,
  startAttempt,
  startReply,
} from '../src/index.ts';
import { createTestDatabase, seedConversation, seedTenant, type TestDatabase } from '../src/testing/index.ts';

// `openTurn` writes the fence claim, the reply row and the attempt row of a first attempt in one
// statement: these check it means what the three steps meant, and leaves every other case to them.
let tdb: TestDatabase;
let tenantId: string;

beforeAll(async () => {
  tdb = await createTestDatabase({ max: 4 });
  tenantId = (await seedTenant(tdb.db)).tenant.id;
});
afterAll(async () => {
  await tdb.drop();
});

async function conversationWithMessage(): Promise<{ conversationId: string; message: Message }> {
  const conversationId = (await seedConversation(tdb.db, tenantId)).id;
  const user = await insertUserMessage(tdb.db, { tenantId, conversationId, content: 'q' });
  if (!user.ok) throw new Error('insert failed');
  return { conversationId, message: user.message };
}

async function input(conversationId: string, message: Message, fence: number): Promise<OpenTurnInput> {
  const session = await ensureActiveSession(tdb.db, tenantId, conversationId);
  return {
    tenantId,
    conversationId,
    sessionId: session.id,
    fence,
    userMessageId: message.id,
    userMessageSeq: message.seq,
    mode: 'stream',
    jobId: `job-${message.id}`,
    attempt: 1,
    workerId: 'w1',
  };
}

describe('openTurn', () => {
  it('a first attempt: the fence claimed, the reply row streaming under it (next seq), the attempt open', async () => {
    const { conversationId, message } = await conversationWithMessage();
    const res = await openTurn(tdb.db, await input(conversationId, message, 5));
    expect(res.claim.ok).toBe(true);
    expect(res.claim.session?.fence).toBe(5);
    expect(res.opened?.reply).toMatchObject({
      role: 'assistant',
      status: 'streaming',
      content: '',
      fence: 5,
      replyTo: message.id,
      mode: 'stream',
      seq: message.seq + 1,
    });
    expect(res.opened?.attempt).toMatchObject({
      messageId: message.id,
      attempt: 1,
      fence: 5,
      workerId: 'w1',
      jobId: `job-${message.id}`,
      sessionId: res.claim.session?.id,
      outcome: null,
    });
    expect((await getReply(tdb.db, message.id))?.id).toBe(res.opened?.reply.id);
    expect((await getConversation(tdb.db, tenantId, conversationId))?.lastSeq).toBe(message.seq + 1);
    expect(await listAttempts(tdb.db, tenantId, message.id)).toHaveLength(1);
  });

  it('a reply row that exists (a retry): only the claim; the reply and the attempt go step by step', async () => {
    const { conversationId, message } = await conversationWithMessage();
    const started = await startReply(tdb.db, {
      tenantId,
      conversationId,
      userMessageId: message.id,
      fence: 1,
      mode: 'stream',
    });
    const res = await openTurn(tdb.db, await input(conversationId, message, 2));
    expect(res.claim.ok && res.claim.session.fence).toBe(2);
    expect(res.opened).toBeNull();
    expect(started.kind === 'started' && (await getReply(tdb.db, message.id))?.id).toBe(started.reply.id);
    expect(await listAttempts(tdb.db, tenantId, message.id)).toHaveLength(0);
    expect((await getConversation(tdb.db, tenantId, conversationId))?.lastSeq).toBe(message.seq + 1);
  });

  it('a refused claim (a newer fence holds the session) writes nothing and names the conflict', async () => {
    const { conversationId, message } = await conversationWithMessage();
    const opening = await input(conversationId, message, 3);
    expect((await claimSessionFence(tdb.db, opening.sessionId, 9)).ok).toBe(true);
    const res = await openTurn(tdb.db, opening);
    expect(res.claim).toMatchObject({ ok: false, conflict: 'fence' });
    expect(res.opened).toBeNull();
    expect(await getReply(tdb.db, message.id)).toBeNull();
    expect(await listAttempts(tdb.db, tenantId, message.id)).toHaveLength(0);
  });

  it('a message from before the session reset: the claim only (the turn is cancelled without a reply)', async () => {
    const { conversationId, message } = await conversationWithMessage();
    await resetSession(tdb.db, { tenantId, conversationId, reason: 'test' });
    const res = await openTurn(tdb.db, await input(conversationId, message, 4));
    expect(res.claim.ok && res.claim.session.startSeq).toBe(message.seq);
    expect(res.opened).toBeNull();
    expect(await getReply(tdb.db, message.id)).toBeNull();
  });

  it('an attempt left without an outcome (its worker died before the reply row) is closed as lost', async () => {
    const { conversationId, message } = await conversationWithMessage();
    const dead = await startAttempt(tdb.db, {
      tenantId,
      conversationId,
      messageId: message.id,
      jobId: null,
      attempt: 1,
      workerId: 'w0',
      fence: 1,
      sessionId: null,
      assistantSessionId: null,
    });
    const res = await openTurn(tdb.db, { ...(await input(conversationId, message, 2)), attempt: 2 });
    const attempts = await listAttempts(tdb.db, tenantId, message.id);
    expect(attempts.find((a) => a.id === dead.id)?.outcome).toBe('lost');
    expect(attempts.find((a) => a.id === res.opened?.attempt.id)?.outcome).toBeNull();
  });
});

describe('readTurnStart', () => {
  it('reads the conversation, the message, the earliest unfinished message before it and the active session', async () => {
    const { conversationId, message: first } = await conversationWithMessage();
    const second = await insertUserMessage(tdb.db, {
      tenantId,
      conversationId,
      content: 'two',
      idempotencyKey: `k-${first.id}`,
    });
    if (!second.ok) throw new Error('insert failed');
    const session = await ensureActiveSession(tdb.db, tenantId, conversationId);
    const reads = await readTurnStart(tdb.db, { tenantId, conversationId, messageId: second.message.id });
    expect(reads.conversation?.id).toBe(conversationId);
    expect(reads.message).toEqual(await getMessage(tdb.db, tenantId, second.message.id));
    expect(reads.earlierUnfinishedId).toBe(first.id);
    expect(reads.session).toEqual(session);
    expect(
      (await readTurnStart(tdb.db, { tenantId, conversationId, messageId: first.id })).earlierUnfinishedId,
    ).toBeNull();
    await setUserMessageStatus(tdb.db, first.id, 'cancelled');
    expect(
      (await readTurnStart(tdb.db, { tenantId, conversationId, messageId: second.message.id }))
        .earlierUnfinishedId,
    ).toBeNull();
  });

  it('creates the active session when the conversation has none; another tenant reads nothing', async () => {
    const conversationId = (await seedConversation(tdb.db, tenantId)).id;
    const user = await insertUserMessage(tdb.db, { tenantId, conversationId, content: 'q' });
    if (!user.ok) throw new Error('insert failed');
    const reads = await readTurnStart(tdb.db, { tenantId, conversationId, messageId: user.message.id });
    expect(reads.session).toMatchObject({ conversationId, status: 'active' });
    const other = (await seedTenant(tdb.db, 'other')).tenant.id;
    const foreign = await readTurnStart(tdb.db, {
      tenantId: other,
      conversationId,
      messageId: user.message.id,
    });
    expect(foreign).toEqual({ conversation: null, message: null, earlierUnfinishedId: null, session: null });
  });
});
