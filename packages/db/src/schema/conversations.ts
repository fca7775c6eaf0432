import { sql } from 'drizzle-orm';
import { check, index, integer, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { tenants } from './tenants.ts';

export const conversations = pgTable(
  'conversations',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    externalId: text('external_id'),
    title: text('title'),
    system: text('system'),
    model: text('model').notNull(),
    /** Extended thinking budget; NULL = thinking off. */
    thinkingBudgetTokens: integer('thinking_budget_tokens'),
    /** Default publish mode for messages that do not choose one. */
    defaultMode: text('default_mode').$type<'stream' | 'batch'>().notNull().default('stream'),
    /** Last allocated message seq (messages.seq is allocated by incrementing this). */
    lastSeq: integer('last_seq').notNull().default(0),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('conversations_tenant_external_id_uq').on(t.tenantId, t.externalId),
    index('conversations_tenant_created_idx').on(t.tenantId, t.createdAt),
    check('conversations_default_mode_check', sql`${t.defaultMode} in ('stream', 'batch')`),
  ],
);

/**
 * A deleted conversation, remembered for a while: an intake job enqueued before the deletion that
 * names it by `external_id` is refused (`conversation_deleted`) instead of creating it anew. Written in
 * the deletion's transaction; pruned by the retention sweep after a week.
 */
export const conversationTombstones = pgTable(
  'conversation_tombstones',
  {
    conversationId: uuid('conversation_id').primaryKey(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    externalId: text('external_id'),
    deletedAt: timestamp('deleted_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('conversation_tombstones_external_idx').on(t.tenantId, t.externalId, t.deletedAt),
    index('conversation_tombstones_deleted_idx').on(t.deletedAt),
  ],
);
