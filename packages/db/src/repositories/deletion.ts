import { and, desc, eq, gte, lt, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { conversations, conversationTombstones, messages } from '../schema/index.ts';

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

/** What {@link deleteConversationRows} removed. */
export interface DeletedConversationRows {
  /** false: no such conversation for this tenant (or already gone); nothing was written. */
  deleted: boolean;
  /** Its user messages at the moment of deletion (their turn jobs and cancel keys are derived from them). */
  userMessageIds: string[];
}

/**
 * Delete a tenant's conversation and, by cascade, its messages, sessions, transcripts and turn attempts,
 * and leave its tombstone, in one transaction. The conversation row is locked first: a message being
 * inserted meanwhile (its seq allocation locks the same row) is either among `userMessageIds` or finds
 * no conversation.
 */
export async function deleteConversationRows(
  db: Db,
  tenantId: string,
  id: string,
): Promise<DeletedConversationRows> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .select({ id: conversations.id, externalId: conversations.externalId })
      .from(conversations)
      .where(and(eq(conversations.id, id), eq(conversations.tenantId, tenantId)))
      .for('update');
    if (!row) return { deleted: false, userMessageIds: [] };
    const users = await tx
      .select({ id: messages.id })
      .from(messages)
      .where(and(eq(messages.conversationId, id), eq(messages.role, 'user')));
    await tx.delete(conversations).where(eq(conversations.id, id));
    await tx
      .insert(conversationTombstones)
      .values({ conversationId: id, tenantId, externalId: row.externalId })
      .onConflictDoNothing();
    return { deleted: true, userMessageIds: users.map((m) => m.id) };
  });
}

/**
 * When the tenant's conversation with this external id was last deleted at or after `since` (null: not
 * since then). An intake job enqueued before that moment must not create the conversation again.
 */
export async function externalIdDeletedSince(
  db: Db,
  tenantId: string,
  externalId: string,
  since: Date,
): Promise<Date | null> {
  const [row] = await db
    .select({ deletedAt: conversationTombstones.deletedAt })
    .from(conversationTombstones)
    .where(
      and(
        eq(conversationTombstones.tenantId, tenantId),
        eq(conversationTombstones.externalId, externalId),
        gte(conversationTombstones.deletedAt, since),
      ),
    )
    .orderBy(desc(conversationTombstones.deletedAt))
    .limit(1);
  return row?.deletedAt ?? null;
}

/** Whether this conversation of the tenant was deleted (while its tombstone is kept). */
export async function isConversationDeleted(db: Db, tenantId: string, id: string): Promise<boolean> {
  const [row] = await db
    .select({ id: conversationTombstones.conversationId })
    .from(conversationTombstones)
    .where(and(eq(conversationTombstones.conversationId, id), eq(conversationTombstones.tenantId, tenantId)));
  return row !== undefined;
}

/** Forget tombstones older than `before` (no intake job lives that long). Returns how many. */
export async function pruneConversationTombstones(db: Db, before: Date): Promise<number> {
  const rows = await db
    .delete(conversationTombstones)
    .where(lt(conversationTombstones.deletedAt, before))
    .returning({ id: conversationTombstones.conversationId });
  return rows.length;
}

export interface ExpiredConversation {
  id: string;
  tenantId: string;
  externalId: string | null;
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
  const rows = await db.execute<{ id: string; tenant_id: string; external_id: string | null }>(sql`
    select c.id, c.tenant_id, c.external_id
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
  return rows.map((r) => ({ id: r.id, tenantId: r.tenant_id, externalId: r.external_id }));
}
