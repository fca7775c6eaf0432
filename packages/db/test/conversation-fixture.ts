import { afterAll, beforeAll } from 'vitest';
import {
  type CompleteTurnInput,
  claimSessionFence,
  ensureActiveSession,
  newAssistantSessionId,
  type Session,
  startAttempt,
} from '../src/index.ts';
import {
  createTestDatabase,
  seedConversation,
  seedTenant,
  seedTurn,
  seedUserMessage,
  type TestDatabase,
} from '../src/testing/index.ts';

/** What {@link conversationFixture} gives a test file (set in beforeAll). */
export interface ConversationFixture {
  tdb: TestDatabase;
  tenantId: string;
  conversationId: string;
}

/**
 * Per test file: a database of its own (a pool of `max` connections) with one tenant and one
 * conversation, dropped in afterAll.
 */
export function conversationFixture(opts: { max?: number } = {}): ConversationFixture {
  const fixture = {} as ConversationFixture;
  beforeAll(async () => {
    fixture.tdb = await createTestDatabase({ max: opts.max ?? 4 });
    fixture.tenantId = (await seedTenant(fixture.tdb.db)).tenant.id;
    fixture.conversationId = await newConversation(fixture);
  });
  afterAll(async () => {
    await fixture.tdb?.drop();
  });
  return fixture;
}

/** Another conversation of the fixture's tenant. */
export async function newConversation(f: ConversationFixture): Promise<string> {
  return (await seedConversation(f.tdb.db, f.tenantId)).id;
}

/** A new conversation of the fixture's tenant and its active session, its fence claimed at `fence` if given. */
export async function newSession(
  f: ConversationFixture,
  fence?: number,
): Promise<{ conversationId: string; session: Session }> {
  const conversationId = await newConversation(f);
  const session = await ensureActiveSession(f.tdb.db, f.tenantId, conversationId);
  if (fence === undefined) return { conversationId, session };
  const claim = await claimSessionFence(f.tdb.db, session.id, fence);
  if (!claim.ok) throw new Error(`newSession: claim refused (${claim.conflict})`);
  return { conversationId, session: claim.session };
}

/** A new (pending) user message of the fixture's conversation, or of `conversationId`. */
export async function userMessageId(
  f: ConversationFixture,
  conversationId = f.conversationId,
): Promise<string> {
  return (await seedUserMessage(f.tdb.db, { tenantId: f.tenantId, conversationId })).id;
}

/** A new user message and its reply row, started (streaming) under `fence`, in the fixture's conversation or `conversationId`. */
export async function userWithStartedReply(
  f: ConversationFixture,
  fence: number,
  conversationId = f.conversationId,
): Promise<{ messageId: string; replyId: string }> {
  const { user, reply } = await seedTurn(f.tdb.db, { tenantId: f.tenantId, conversationId, fence });
  return { messageId: user.id, replyId: reply.id };
}

/** The rows of one turn: its user message and reply, the fence it runs under, its open attempt if any. */
export interface TurnRows {
  conversationId: string;
  fence: number;
  messageId: string;
  replyId: string;
  attemptId?: string;
}

/**
 * A turn running under `fence` (in the fixture's conversation unless another is named): its reply
 * streaming with `partial` as content, its first attempt open (in `sessionId`, if given).
 */
export async function runningTurn(
  f: ConversationFixture,
  fence: number,
  opts: { conversationId?: string; partial?: string; sessionId?: string } = {},
): Promise<TurnRows & { attemptId: string }> {
  const { tenantId } = f;
  const conversationId = opts.conversationId ?? f.conversationId;
  const { messageId, replyId } = await userWithStartedReply(f, fence, conversationId);
  await f.tdb.sql`update messages set content = ${opts.partial ?? 'part'} where id = ${replyId}`;
  const attempt = await startAttempt(f.tdb.db, {
    tenantId,
    conversationId,
    messageId,
    jobId: null,
    attempt: 1,
    workerId: 'w',
    fence,
    sessionId: opts.sessionId ?? null,
    assistantSessionId: null,
  });
  return { conversationId, fence, messageId, replyId, attemptId: attempt.id };
}

/**
 * What `completeTurn` is given to complete turn `t` with "the answer", against `session` as the turn
 * read it: usage counted, a new transcript created (`over` changes any of it).
 */
export function completion(
  f: ConversationFixture,
  t: TurnRows,
  session: { id: string; version: number },
  over: Partial<CompleteTurnInput> = {},
): CompleteTurnInput {
  return {
    tenantId: f.tenantId,
    conversationId: t.conversationId,
    sessionId: session.id,
    expectedVersion: session.version,
    fence: t.fence,
    userMessageId: t.messageId,
    replyId: t.replyId,
    content: 'the answer',
    stopReason: 'end_turn',
    usage: { inputTokens: 3, outputTokens: 2, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 },
    ...(t.attemptId ? { attemptId: t.attemptId } : {}),
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
