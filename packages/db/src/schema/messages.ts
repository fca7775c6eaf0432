import { sql } from 'drizzle-orm';
import {
  type AnyPgColumn,
  bigint,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import type { MessageStatus } from '../message-status.ts';
import { conversations } from './conversations.ts';

export const MESSAGE_ROLES = ['user', 'assistant', 'error'] as const;
export type MessageRole = (typeof MESSAGE_ROLES)[number];
export { MESSAGE_STATUSES, type MessageStatus } from '../message-status.ts';

export interface MessageUsage {
  inputTokens: number;
  outputTokens: number;
  cacheCreationInputTokens: number;
  cacheReadInputTokens: number;
}

/**
 * The visible history. A user row's status follows its turn (pending -> completed | failed | cancelled).
 * An assistant/error row answers exactly one user row (`reply_to` UNIQUE).
 */
export const messages = pgTable(
  'messages',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id').notNull(),
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversations.id, { onDelete: 'cascade' }),
    seq: integer('seq').notNull(),
    role: text('role').$type<MessageRole>().notNull(),
    content: text('content').notNull().default(''),
    status: text('status').$type<MessageStatus>().notNull(),
    mode: text('mode').$type<'stream' | 'batch'>().notNull().default('stream'),
    replyTo: uuid('reply_to').references((): AnyPgColumn => messages.id, { onDelete: 'cascade' }),
    /** Lease fence of the turn that owns this reply row; only that turn may write it. */
    fence: bigint('fence', { mode: 'number' }).notNull().default(0),
    errorCode: text('error_code'),
    stopReason: text('stop_reason'),
    usage: jsonb('usage').$type<MessageUsage>(),
    /** The client's idempotency key of a posted user message; unique per tenant (NULLs never collide). */
    idempotencyKey: text('idempotency_key'),
    /** A user message's `callbackUrl`: its turn's outcome is also delivered there (webhooks). */
    callbackUrl: text('callback_url'),
    /** A user message's metadata from its producer (string values; shown with the message). */
    metadata: jsonb('metadata').$type<Record<string, string>>(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    completedAt: timestamp('completed_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('messages_conversation_seq_uq').on(t.conversationId, t.seq),
    uniqueIndex('messages_reply_to_uq').on(t.replyTo),
    uniqueIndex('messages_tenant_idempotency_key_uq').on(t.tenantId, t.idempotencyKey),
    index('messages_conversation_status_idx').on(t.conversationId, t.status),
    /** Fleet-wide scans by status (the inspector's trouble list, the reconciler). */
    index('messages_status_updated_idx').on(t.status, t.updatedAt),
    check('messages_role_check', sql`${t.role} in ('user', 'assistant', 'error')`),
    check(
      'messages_status_check',
      sql`${t.status} in ('pending', 'streaming', 'completed', 'failed', 'cancelled', 'interrupted')`,
    ),
    check('messages_reply_shape_check', sql`(${t.role} = 'user') = (${t.replyTo} is null)`),
  ],
);
