import type { Db } from '../client.ts';
import { type CreatedApiKey, createApiKey } from '../repositories/api-keys.ts';
import { type Conversation, createConversation } from '../repositories/conversations.ts';
import { insertUserMessage, type Message } from '../repositories/messages.ts';
import { startReply } from '../repositories/replies.ts';
import { createTenant, type Tenant } from '../repositories/tenants.ts';

/** A tenant with a client key, for tests. */
export async function seedTenant(
  db: Db,
  name = 'test-tenant',
): Promise<{ tenant: Tenant; apiKey: CreatedApiKey }> {
  const tenant = await createTenant(db, { name });
  const apiKey = await createApiKey(db, { tenantId: tenant.id, role: 'admin' });
  return { tenant, apiKey };
}

export async function seedConversation(
  db: Db,
  tenantId: string,
  opts: { model?: string; thinkingBudgetTokens?: number | null; system?: string | null } = {},
): Promise<Conversation> {
  const res = await createConversation(db, {
    tenantId,
    model: opts.model ?? 'claude-sonnet-4-6',
    thinkingBudgetTokens: opts.thinkingBudgetTokens ?? null,
    system: opts.system ?? null,
  });
  if (!res.ok) throw new Error('seedConversation: conflict');
  return res.conversation;
}

/** Where a seeded message goes: the tenant and the conversation. */
export interface SeedTurnTarget {
  tenantId: string;
  conversationId: string;
}

/** A new (pending) user message of the conversation. */
export async function seedUserMessage(db: Db, to: SeedTurnTarget, content = 'q'): Promise<Message> {
  const res = await insertUserMessage(db, {
    tenantId: to.tenantId,
    conversationId: to.conversationId,
    content,
  });
  if (!res.ok) throw new Error(`seedUserMessage: ${res.reason}`);
  return res.message;
}

/** The reply row of a stored user message, started (streaming, empty) by the turn holding `fence`. */
export async function seedReply(
  db: Db,
  to: SeedTurnTarget & { userMessageId: string; fence: number },
): Promise<Message> {
  const { tenantId, conversationId, userMessageId, fence } = to;
  const res = await startReply(db, { tenantId, conversationId, userMessageId, fence, mode: 'stream' });
  if (res.kind !== 'started') throw new Error(`seedReply: ${res.kind}`);
  return res.reply;
}

/**
 * A new user message and its reply row, started by the turn holding `fence`: in `conversationId`, or in
 * a new conversation of the tenant.
 */
export async function seedTurn(
  db: Db,
  to: { tenantId: string; conversationId?: string; fence: number; content?: string },
): Promise<{ user: Message; reply: Message }> {
  const { tenantId, fence } = to;
  const conversationId = to.conversationId ?? (await seedConversation(db, tenantId)).id;
  const user = await seedUserMessage(db, { tenantId, conversationId }, to.content);
  const reply = await seedReply(db, { tenantId, conversationId, userMessageId: user.id, fence });
  return { user, reply };
}
