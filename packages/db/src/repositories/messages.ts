import { aliasedTable, and, asc, eq, getTableColumns, gt, inArray, lt, ne, type SQL, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { FINAL_USER_STATUSES, type MessageStatus } from '../message-status.ts';
import { messages } from '../schema/index.ts';
import { isUniqueViolation } from './conversations.ts';
import { isMissingSeq, nextSeqCte } from './next-seq.ts';
import { prepared } from './prepared.ts';

export type Message = typeof messages.$inferSelect;

/**
 * One message by a select prepared once under `name` (see {@link prepared}: `where` is built then, with
 * placeholders only, filled from `params`): the row it names, or with `first` the one of lowest `seq`
 * it matches.
 */
async function selectMessage(
  db: Db,
  name: string,
  where: () => SQL | undefined,
  params: Record<string, unknown>,
  opts: { first?: boolean } = {},
): Promise<Message | null> {
  const query = prepared(db, name, (d) => {
    const select = d.select().from(messages).where(where()).$dynamic();
    return (opts.first ? select.orderBy(asc(messages.seq)).limit(1) : select).prepare(name);
  });
  const [row] = await query.execute(params);
  return row ?? null;
}

/** One statement: allocate the seq and insert the user message (no transaction round trips). */
function insertUser(db: Db) {
  return prepared(db, 'insert_user_message', (d) => {
    const next = nextSeqCte(d);
    return d
      .with(next)
      .insert(messages)
      .values({
        id: sql`coalesce(${sql.placeholder('id')}::uuid, gen_random_uuid())`,
        idempotencyKey: sql.placeholder('idempotencyKey'),
        tenantId: sql.placeholder('tenantId'),
        conversationId: sql.placeholder('conversationId'),
        seq: sql`(select ${next.seq} from ${next})`,
        role: 'user',
        content: sql.placeholder('content'),
        status: 'pending',
        mode: sql`coalesce(${sql.placeholder('mode')}::text, (select ${next.defaultMode} from ${next}))`,
        callbackUrl: sql.placeholder('callbackUrl'),
        metadata: sql`${sql.placeholder('metadata')}::jsonb`,
      })
      .returning()
      .prepare('insert_user_message');
  });
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
  /** The turn's mode; `null`: the conversation's default mode (read by the insert). Default `stream`. */
  mode?: 'stream' | 'batch' | null;
  /** Also deliver this turn's outcome here (a webhook target on the origin of one of the tenant's endpoints). */
  callbackUrl?: string | null;
  /** The producer's metadata (the job schema's `metadata`). */
  metadata?: Record<string, string> | null;
}

/** The tenant's user message posted with `idempotencyKey`, if any. */
export async function getMessageByIdempotencyKey(
  db: Db,
  tenantId: string,
  idempotencyKey: string,
): Promise<Message | null> {
  return selectMessage(
    db,
    'get_message_by_idempotency_key',
    () =>
      and(
        eq(messages.tenantId, sql.placeholder('tenantId')),
        eq(messages.idempotencyKey, sql.placeholder('idempotencyKey')),
      ),
    { tenantId, idempotencyKey },
  );
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
    const [row] = await insertUser(db).execute({
      id: input.id ?? null,
      idempotencyKey: input.idempotencyKey ?? null,
      tenantId: input.tenantId,
      conversationId: input.conversationId,
      content: input.content,
      mode: input.mode === undefined ? 'stream' : input.mode,
      callbackUrl: input.callbackUrl ?? null,
      metadata: input.metadata ? JSON.stringify(input.metadata) : null,
    });
    return { ok: true, created: true, message: row! };
  } catch (err) {
    if (isMissingSeq(err)) return { ok: false, reason: 'conversation_not_found' };
    if (isUniqueViolation(err)) {
      const after = await check();
      if (after) return after;
      // The id is taken outside this tenant's view (ids are global; this tenant cannot see the row).
      if (input.id) return { ok: false, reason: 'id_conflict' };
    }
    throw err;
  }
}

/** Whether any message, of any tenant, has this id (ids are global). */
export async function messageIdTaken(db: Db, id: string): Promise<boolean> {
  const [row] = await db.select({ id: messages.id }).from(messages).where(eq(messages.id, id));
  return row !== undefined;
}

export async function getMessage(db: Db, tenantId: string, id: string): Promise<Message | null> {
  return selectMessage(
    db,
    'get_message',
    () => and(eq(messages.id, sql.placeholder('id')), eq(messages.tenantId, sql.placeholder('tenantId'))),
    { id, tenantId },
  );
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
  return selectMessage(
    db,
    'first_unfinished_before',
    () =>
      and(
        eq(messages.conversationId, sql.placeholder('conversationId')),
        eq(messages.role, 'user'),
        lt(messages.seq, sql.placeholder('seq')),
        inArray(messages.status, ['pending', 'streaming']),
      ),
    { conversationId, seq },
    { first: true },
  );
}

/** Set a user message's turn status. Final statuses are never changed again. */
export async function setUserMessageStatus(
  db: Db,
  messageId: string,
  status: MessageStatus,
): Promise<boolean> {
  const final = FINAL_USER_STATUSES.includes(status);
  const name = final ? 'set_user_message_status_final' : 'set_user_message_status';
  const query = prepared(db, name, (d) =>
    d
      .update(messages)
      .set({
        status: sql`${sql.placeholder('status')}`,
        updatedAt: sql`now()`,
        ...(final ? { completedAt: sql`now()` } : {}),
      })
      .where(
        and(
          eq(messages.id, sql.placeholder('messageId')),
          eq(messages.role, 'user'),
          sql`${messages.status} not in ('completed', 'failed', 'cancelled')`,
        ),
      )
      .returning({ id: messages.id })
      .prepare(name),
  );
  const rows = await query.execute({ messageId, status });
  return rows.length > 0;
}

/**
 * Text-only history for rebuilding a transcript: finished exchanges before `beforeSeq`,
 * oldest first, as (user, assistant) pairs with non-empty text.
 */
export async function listExchanges(
  db: Db,
  conversationId: string,
  beforeSeq: number,
  /** Only exchanges whose user message came after this seq (the session's reset boundary). */
  afterSeq = 0,
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
        gt(messages.seq, afterSeq),
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
  return selectMessage(
    db,
    'next_pending_after',
    () =>
      and(
        eq(messages.conversationId, sql.placeholder('conversationId')),
        eq(messages.role, 'user'),
        sql`${messages.seq} > ${sql.placeholder('seq')}`,
        eq(messages.status, 'pending'),
      ),
    { conversationId, seq },
    { first: true },
  );
}
