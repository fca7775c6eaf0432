import { aliasedTable, and, asc, eq, getTableColumns, inArray, lt, ne, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { conversations, type MessageStatus, type MessageUsage, messages } from '../schema/index.ts';
import { isUniqueViolation } from './conversations.ts';

export type Message = typeof messages.$inferSelect;

/** Statuses after which a user message's turn is over. */
export const FINAL_USER_STATUSES: MessageStatus[] = ['completed', 'failed', 'cancelled'];

/** Allocate the next `seq` of a conversation (row-locks the conversation until the transaction ends). */
async function nextSeq(tx: Db, tenantId: string, conversationId: string): Promise<number | null> {
  const [row] = await tx
    .update(conversations)
    .set({ lastSeq: sql`${conversations.lastSeq} + 1`, updatedAt: new Date() })
    .where(and(eq(conversations.id, conversationId), eq(conversations.tenantId, tenantId)))
    .returning({ seq: conversations.lastSeq });
  return row?.seq ?? null;
}

export type InsertUserMessageResult =
  | { ok: true; created: boolean; message: Message }
  | { ok: false; reason: 'conversation_not_found' | 'id_conflict' }
  /** The tenant used this idempotency key for another message (other conversation or content). */
  | { ok: false; reason: 'idempotency_conflict'; existing: Message };

export interface InsertUserMessageInput {
  /** A caller-chosen id (services enqueueing directly); the HTTP API lets the database assign it. */
  id?: string;
  /** The client's idempotency key, scoped to the tenant. */
  idempotencyKey?: string;
  tenantId: string;
  conversationId: string;
  content: string;
  mode?: 'stream' | 'batch';
  /** Also deliver this turn's outcome here (a webhook target on the origin of one of the tenant's endpoints). */
  callbackUrl?: string | null;
}

/** The tenant's user message posted with `idempotencyKey`, if any. */
export async function getMessageByIdempotencyKey(
  db: Db,
  tenantId: string,
  idempotencyKey: string,
): Promise<Message | null> {
  const [row] = await db
    .select()
    .from(messages)
    .where(and(eq(messages.tenantId, tenantId), eq(messages.idempotencyKey, idempotencyKey)));
  return row ?? null;
}

/** The stored message a repeat of `input` names (same id, or same tenant + idempotency key), judged. */
async function findRepeat(db: Db, input: InsertUserMessageInput): Promise<InsertUserMessageResult | null> {
  if (input.idempotencyKey !== undefined) {
    const existing = await getMessageByIdempotencyKey(db, input.tenantId, input.idempotencyKey);
    if (!existing) return null;
    if (existing.conversationId !== input.conversationId || existing.content !== input.content) {
      return { ok: false, reason: 'idempotency_conflict', existing };
    }
    return { ok: true, created: false, message: existing };
  }
  if (!input.id) return null;
  const existing = await getMessage(db, input.tenantId, input.id);
  if (!existing) return null;
  if (existing.conversationId !== input.conversationId || existing.role !== 'user') {
    return { ok: false, reason: 'id_conflict' };
  }
  return { ok: true, created: false, message: existing };
}

/**
 * Store a user message. Idempotent by `idempotencyKey` (per tenant; another conversation or other
 * content is an `idempotency_conflict`) or by `id` (inserting the same id again returns the stored
 * row, `created: false`, so a job enqueued by another service can be retried safely; an existing id in
 * another conversation is an `id_conflict`).
 */
export async function insertUserMessage(
  db: Db,
  input: InsertUserMessageInput,
): Promise<InsertUserMessageResult> {
  const check = () => findRepeat(db, input);
  const before = await check();
  if (before) return before;
  try {
    return await db.transaction(async (tx) => {
      const seq = await nextSeq(tx, input.tenantId, input.conversationId);
      if (seq === null) return { ok: false as const, reason: 'conversation_not_found' as const };
      const [row] = await tx
        .insert(messages)
        .values({
          ...(input.id ? { id: input.id } : {}),
          ...(input.idempotencyKey !== undefined ? { idempotencyKey: input.idempotencyKey } : {}),
          tenantId: input.tenantId,
          conversationId: input.conversationId,
          seq,
          role: 'user',
          content: input.content,
          status: 'pending',
          mode: input.mode ?? 'stream',
          callbackUrl: input.callbackUrl ?? null,
        })
        .returning();
      return { ok: true as const, created: true, message: row! };
    });
  } catch (err) {
    if (isUniqueViolation(err)) {
      const after = await check();
      if (after) return after;
      // The id is taken outside this tenant's view (ids are global; this tenant cannot see the row).
      if (input.id) return { ok: false, reason: 'id_conflict' };
    }
    throw err;
  }
}

export async function getMessage(db: Db, tenantId: string, id: string): Promise<Message | null> {
  const [row] = await db
    .select()
    .from(messages)
    .where(and(eq(messages.id, id), eq(messages.tenantId, tenantId)));
  return row ?? null;
}

/** The reply row (assistant or error) of a user message, if any. */
export async function getReply(db: Db, userMessageId: string): Promise<Message | null> {
  const [row] = await db.select().from(messages).where(eq(messages.replyTo, userMessageId));
  return row ?? null;
}

/**
 * The visible history in reading order: each user message followed by its reply.
 * `afterSeq` pages by the user message's seq.
 */
export async function listMessages(
  db: Db,
  tenantId: string,
  conversationId: string,
  opts: { limit?: number; afterSeq?: number } = {},
): Promise<Message[]> {
  const parent = aliasedTable(messages, 'parent');
  const turnSeq = sql<number>`coalesce(${parent.seq}, ${messages.seq})`;
  return db
    .select(getTableColumns(messages))
    .from(messages)
    .leftJoin(parent, eq(parent.id, messages.replyTo))
    .where(
      and(
        eq(messages.tenantId, tenantId),
        eq(messages.conversationId, conversationId),
        opts.afterSeq !== undefined ? sql`${turnSeq} > ${opts.afterSeq}` : undefined,
      ),
    )
    .orderBy(asc(turnSeq), sql`${messages.replyTo} is not null`)
    .limit(opts.limit ?? 500);
}

/** The earliest user message before `seq` whose turn has not finished (ordering gate). */
export async function firstUnfinishedBefore(
  db: Db,
  conversationId: string,
  seq: number,
): Promise<Message | null> {
  const [row] = await db
    .select()
    .from(messages)
    .where(
      and(
        eq(messages.conversationId, conversationId),
        eq(messages.role, 'user'),
        lt(messages.seq, seq),
        inArray(messages.status, ['pending', 'streaming']),
      ),
    )
    .orderBy(asc(messages.seq))
    .limit(1);
  return row ?? null;
}

/** Set a user message's turn status. Final statuses are never changed again. */
export async function setUserMessageStatus(
  db: Db,
  messageId: string,
  status: MessageStatus,
): Promise<boolean> {
  const rows = await db
    .update(messages)
    .set({
      status,
      updatedAt: new Date(),
      ...(FINAL_USER_STATUSES.includes(status) ? { completedAt: new Date() } : {}),
    })
    .where(
      and(
        eq(messages.id, messageId),
        eq(messages.role, 'user'),
        sql`${messages.status} not in ('completed', 'failed', 'cancelled')`,
      ),
    )
    .returning({ id: messages.id });
  return rows.length > 0;
}

export type StartReplyResult =
  /** `takenOver`: the row existed (an earlier attempt or a stalled worker streamed into it). */
  | { kind: 'started'; reply: Message; takenOver: boolean }
  | { kind: 'finished'; reply: Message }
  | { kind: 'stale_fence'; reply: Message };

/**
 * Create (or take over) the reply row of a user message for the turn holding `fence`.
 * A finished reply is returned as is (exactly one reply per user message); an unfinished one
 * is taken over only by a fence at least as new as its owner's, and its partial content reset.
 */
export async function startReply(
  db: Db,
  input: {
    tenantId: string;
    conversationId: string;
    userMessageId: string;
    fence: number;
    mode: 'stream' | 'batch';
  },
): Promise<StartReplyResult> {
  for (let attempt = 0; ; attempt++) {
    const existing = await getReply(db, input.userMessageId);
    if (existing) {
      if (
        existing.status !== 'streaming' &&
        existing.status !== 'interrupted' &&
        existing.status !== 'pending'
      ) {
        return { kind: 'finished', reply: existing };
      }
      const [row] = await db
        .update(messages)
        .set({
          fence: input.fence,
          status: 'streaming',
          content: '',
          role: 'assistant',
          errorCode: null,
          updatedAt: new Date(),
        })
        .where(
          and(
            eq(messages.id, existing.id),
            sql`${messages.fence} <= ${input.fence}`,
            inArray(messages.status, ['streaming', 'interrupted', 'pending']),
          ),
        )
        .returning();
      if (row) return { kind: 'started', reply: row, takenOver: true };
      const now = await getReply(db, input.userMessageId);
      if (now && now.fence > input.fence) return { kind: 'stale_fence', reply: now };
      if (attempt > 3) throw new Error('startReply: could not settle reply row');
      continue;
    }
    try {
      return await db.transaction(async (tx) => {
        const seq = await nextSeq(tx, input.tenantId, input.conversationId);
        if (seq === null) throw new Error('conversation not found');
        const [row] = await tx
          .insert(messages)
          .values({
            tenantId: input.tenantId,
            conversationId: input.conversationId,
            seq,
            role: 'assistant',
            content: '',
            status: 'streaming',
            mode: input.mode,
            replyTo: input.userMessageId,
            fence: input.fence,
          })
          .returning();
        return { kind: 'started' as const, reply: row!, takenOver: false };
      });
    } catch (err) {
      if (!isUniqueViolation(err) || attempt > 3) throw err;
    }
  }
}

/** Live persistence of a streaming reply; only the owning fence writes. Returns false when fenced out. */
export async function updateReplyContent(
  db: Db,
  input: { replyId: string; fence: number; content: string },
): Promise<boolean> {
  const rows = await db
    .update(messages)
    .set({ content: input.content, updatedAt: new Date() })
    .where(
      and(eq(messages.id, input.replyId), eq(messages.fence, input.fence), eq(messages.status, 'streaming')),
    )
    .returning({ id: messages.id });
  return rows.length > 0;
}

/**
 * End a reply that did not complete normally (failed, cancelled, interrupted), fenced.
 * `role: 'error'` turns it into an error message the user can read.
 */
export async function endReply(
  db: Db,
  input: {
    replyId: string;
    fence: number;
    status: Exclude<MessageStatus, 'pending' | 'streaming' | 'completed'>;
    content?: string;
    role?: 'assistant' | 'error';
    errorCode?: string | null;
    usage?: MessageUsage | null;
  },
): Promise<Message | null> {
  const [row] = await db
    .update(messages)
    .set({
      status: input.status,
      ...(input.content !== undefined ? { content: input.content } : {}),
      ...(input.role ? { role: input.role } : {}),
      errorCode: input.errorCode ?? null,
      ...(input.usage ? { usage: input.usage } : {}),
      updatedAt: new Date(),
      completedAt: input.status === 'interrupted' ? null : new Date(),
    })
    .where(
      and(
        eq(messages.id, input.replyId),
        eq(messages.fence, input.fence),
        inArray(messages.status, ['streaming', 'interrupted']),
      ),
    )
    .returning();
  return row ?? null;
}

/**
 * Text-only history for rebuilding a transcript: finished exchanges before `beforeSeq`,
 * oldest first, as (user, assistant) pairs with non-empty text.
 */
export async function listExchanges(
  db: Db,
  conversationId: string,
  beforeSeq: number,
): Promise<Array<{ userMessageId: string; seq: number; user: string; assistant: string }>> {
  const reply = aliasedTable(messages, 'reply');
  const rows = await db
    .select({ id: messages.id, seq: messages.seq, user: messages.content, assistant: reply.content })
    .from(messages)
    .innerJoin(reply, eq(reply.replyTo, messages.id))
    .where(
      and(
        eq(messages.conversationId, conversationId),
        eq(messages.role, 'user'),
        lt(messages.seq, beforeSeq),
        eq(reply.role, 'assistant'),
        inArray(reply.status, ['completed', 'cancelled']),
        ne(reply.content, ''),
      ),
    )
    .orderBy(asc(messages.seq));
  return rows.map((r) => ({ userMessageId: r.id, seq: r.seq, user: r.user, assistant: r.assistant }));
}

/** User messages still pending since before `olderThan` (the reconciler's input; all tenants). */
export async function listStalePendingMessages(
  db: Db,
  opts: { olderThan: Date; limit?: number },
): Promise<Message[]> {
  return db
    .select()
    .from(messages)
    .where(
      and(eq(messages.role, 'user'), eq(messages.status, 'pending'), lt(messages.createdAt, opts.olderThan)),
    )
    .orderBy(asc(messages.createdAt))
    .limit(opts.limit ?? 500);
}

/** The first user message after `seq` still waiting for its turn (the one to wake when a turn ends). */
export async function nextPendingAfter(db: Db, conversationId: string, seq: number): Promise<Message | null> {
  const [row] = await db
    .select()
    .from(messages)
    .where(
      and(
        eq(messages.conversationId, conversationId),
        eq(messages.role, 'user'),
        sql`${messages.seq} > ${seq}`,
        eq(messages.status, 'pending'),
      ),
    )
    .orderBy(asc(messages.seq))
    .limit(1);
  return row ?? null;
}
