import { index, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/**
 * What operators did from the admin pages and the queue dashboard: who (key id, its prefix and role),
 * what (action, target), when, and the result. Append-only; shown on the conversation inspector.
 */
export const adminActions = pgTable(
  'admin_actions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** Tenant of the conversation or job acted on (null for queue-wide actions). */
    tenantId: uuid('tenant_id'),
    conversationId: uuid('conversation_id'),
    messageId: uuid('message_id'),
    /** e.g. `session.reset`, `turn.retry`, `turn.cancel`, `board.job_remove`, `board.queue_clean`. */
    action: text('action').notNull(),
    actorKeyId: uuid('actor_key_id').notNull(),
    /** The key's visible prefix, so the audit reads without a join (and survives key deletion). */
    actorKeyPrefix: text('actor_key_prefix').notNull(),
    actorRole: text('actor_role').notNull(),
    actorTenantId: uuid('actor_tenant_id').notNull(),
    /** Structured result: new session id, new message id, job ids affected, outcome. Never content. */
    detail: jsonb('detail').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('admin_actions_conversation_idx').on(t.conversationId, t.createdAt),
    index('admin_actions_created_idx').on(t.createdAt),
  ],
);
