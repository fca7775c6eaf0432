import type { Db } from '../client.ts';
import { type CreatedApiKey, createApiKey } from '../repositories/api-keys.ts';
import { type Conversation, createConversation } from '../repositories/conversations.ts';
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
