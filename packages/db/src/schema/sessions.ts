import { sql } from 'drizzle-orm';
import {
  type AnyPgColumn,
  bigint,
  boolean,
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
import { conversations } from './conversations.ts';

/**
 * A conversation's session. Exactly one `active` row per conversation (partial unique index).
 * `assistant_session_id` points at an assistant transcript and may be NULL (cleared / not yet started).
 * Every update bumps `version`; `fence` is the highest lease token that wrote the row.
 */
export const sessions = pgTable(
  'sessions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id').notNull(),
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversations.id, { onDelete: 'cascade' }),
    status: text('status').$type<'active' | 'ended'>().notNull().default('active'),
    assistantSessionId: text('assistant_session_id'),
    version: integer('version').notNull().default(0),
    fence: bigint('fence', { mode: 'number' }).notNull().default(0),
    parentSessionId: uuid('parent_session_id').references((): AnyPgColumn => sessions.id),
    /**
     * The conversation's `last_seq` when this session was created by a reset: messages with a seq up to
     * it came before the reset and never reach Claude in this session (0 for a conversation's first).
     */
    startSeq: integer('start_seq').notNull().default(0),
    endedReason: text('ended_reason'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    endedAt: timestamp('ended_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('sessions_one_active_per_conversation_uq')
      .on(t.conversationId)
      .where(sql`${t.status} = 'active'`),
    index('sessions_conversation_idx').on(t.conversationId, t.createdAt),
    check('sessions_status_check', sql`${t.status} in ('active', 'ended')`),
  ],
);

/**
 * The Claude-side transcript of an assistant session (the Messages API keeps no state).
 * `messages` holds the raw content blocks Claude returned, thinking blocks with signatures included.
 * A cleared row is a tombstone: its id is never set on a session again.
 */
export const assistantTranscripts = pgTable(
  'assistant_transcripts',
  {
    id: text('id').primaryKey(),
    tenantId: uuid('tenant_id').notNull(),
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversations.id, { onDelete: 'cascade' }),
    model: text('model').notNull(),
    thinking: boolean('thinking').notNull().default(false),
    messages: jsonb('messages').$type<unknown[]>().notNull().default(sql`'[]'::jsonb`),
    /** The last user message whose exchange is in `messages`. */
    lastMessageId: uuid('last_message_id'),
    /** true when built from the visible history after a clear. */
    rebuilt: boolean('rebuilt').notNull().default(false),
    status: text('status').$type<'live' | 'cleared'>().notNull().default('live'),
    clearedReason: text('cleared_reason'),
    clearedAt: timestamp('cleared_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('assistant_transcripts_conversation_idx').on(t.conversationId),
    check('assistant_transcripts_status_check', sql`${t.status} in ('live', 'cleared')`),
  ],
);

/** One row per attempt at a user message: what operators read (Bull Board's retention is not enough). */
export const turnAttempts = pgTable(
  'turn_attempts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id').notNull(),
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversations.id, { onDelete: 'cascade' }),
    messageId: uuid('message_id').notNull(),
    jobId: text('job_id'),
    attempt: integer('attempt').notNull(),
    workerId: text('worker_id').notNull(),
    fence: bigint('fence', { mode: 'number' }).notNull(),
    sessionId: uuid('session_id'),
    assistantSessionId: text('assistant_session_id'),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
    endedAt: timestamp('ended_at', { withTimezone: true }),
    /** completed | failed | retrying | cancelled | interrupted | superseded | rate_limited */
    outcome: text('outcome'),
    errorCode: text('error_code'),
    errorMessage: text('error_message'),
    usage: jsonb('usage'),
  },
  (t) => [
    index('turn_attempts_message_idx').on(t.messageId, t.startedAt),
    index('turn_attempts_conversation_idx').on(t.conversationId, t.startedAt),
    /** Usage and failure scans by tenant and time (the inspector, /admin/usage). */
    index('turn_attempts_tenant_started_idx').on(t.tenantId, t.startedAt),
  ],
);
