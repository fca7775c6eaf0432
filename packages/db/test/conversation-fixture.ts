import { afterAll, beforeAll } from 'vitest';
import { insertUserMessage, startReply } from '../src/index.ts';
import { createTestDatabase, seedConversation, seedTenant, type TestDatabase } from '../src/testing/index.ts';

/** What {@link conversationFixture} gives a test file (set in beforeAll). */
export interface ConversationFixture {
  tdb: TestDatabase;
  tenantId: string;
  conversationId: string;
}

/** Per test file: a database of its own with one tenant and one conversation, dropped in afterAll. */
export function conversationFixture(): ConversationFixture {
  const fixture = {} as ConversationFixture;
  beforeAll(async () => {
    fixture.tdb = await createTestDatabase({ max: 4 });
    fixture.tenantId = (await seedTenant(fixture.tdb.db)).tenant.id;
    fixture.conversationId = (await seedConversation(fixture.tdb.db, fixture.tenantId)).id;
  });
  afterAll(async () => {
    await fixture.tdb?.drop();
  });
  return fixture;
}

/** A new (pending) user message of the fixture's conversation. */
export async function userMessageId(f: ConversationFixture): Promise<string> {
  const { tenantId, conversationId } = f;
  const user = await insertUserMessage(f.tdb.db, { tenantId, conversationId, content: 'q' });
  if (!user.ok) throw new Error('insert failed');
  return user.message.id;
}

/** A new user message of the fixture's conversation and its reply row, started (streaming) under `fence`. */
export async function userWithStartedReply(
  f: ConversationFixture,
  fence: number,
): Promise<{ messageId: string; replyId: string }> {
  const { tenantId, conversationId } = f;
  const messageId = await userMessageId(f);
  const started = await startReply(f.tdb.db, {
    tenantId,
    conversationId,
    userMessageId: messageId,
    fence,
    mode: 'stream',
  });
  if (started.kind !== 'started') throw new Error('reply not started');
  return { messageId, replyId: started.reply.id };
}
