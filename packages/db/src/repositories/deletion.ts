import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { conversations, messages } from '../schema/index.ts';

/** A user message of a conversation and where its turn stands (what a deletion must stop first). */
export interface UserMessageRef {
  id: string;
  status: string;
}

/** Every user message of a conversation, oldest first: their job ids and cancel keys are derived from them. */
export async function listUserMessageRefs(db: Db, conversationId: string): Promise<UserMessageRef[]> {
  return db
    .select({ id: messages.id, status: messages.status })
    .from(messages)
    .where(and(eq(messages.conversationId, conversationId), eq(messages.role, 'user')))
    .orderBy(messages.seq);
}

/**
 * Delete a tenant's conversation and, by cascade, its messages, sessions, transcripts and turn attempts.
 * True when a row was deleted (false: no such conversation for this tenant, or already gone).
 */
export async function deleteConversationRows(db: Db, tenantId: string, id: string): Promise<boolean> {
  const rows = await db
    .delete(conversations)
    .where(and(eq(conversations.id, id), eq(conversations.tenantId, tenantId)))
    .returning({ id: conversations.id });
  return rows.length > 0;
}

export interface ExpiredConversation {
  id: string;
  tenantId: string;
}

/**
 * Conversations whose last message (or creation, `updated_at`) is older than their tenant's retention
 * period (the tenant's own `retention_days`, else `defaultDays`; both null: kept forever), with no turn
 * still pending or streaming. Oldest first, at most `limit`.
 */
export async function listExpiredConversations(
  db: Db,
  opts: { defaultDays: number | null; now?: Date; limit: number },
): Promise<ExpiredConversation[]> {
  const now = (opts.now ?? new Date()).toISOString();
  const rows = await db.execute<{ id: string; tenant_id: string }>(sql`
    select c.id, c.tenant_id
    from conversations c
    join tenants t on t.id = c.tenant_id
    where coalesce(t.retention_days, ${opts.defaultDays}::integer) is not null
      and c.updated_at < ${now}::timestamptz
        - make_interval(days => coalesce(t.retention_days, ${opts.defaultDays}::integer))
      and not exists (
        select 1 from messages m
        where m.conversation_id = c.id and m.status in ('pending', 'streaming')
      )
    order by c.updated_at
    limit ${opts.limit}
  `);
  return rows.map((r) => ({ id: r.id, tenantId: r.tenant_id }));
}
