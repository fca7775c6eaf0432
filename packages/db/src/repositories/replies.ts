import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { type MessageStatus, type MessageUsage, messages } from '../schema/index.ts';
import { isUniqueViolation } from './conversations.ts';
import type { Message } from './messages.ts';
import { isMissingSeq, nextSeqCte } from './next-seq.ts';
import { prepared } from './prepared.ts';

/** The reply row (assistant or error) of a user message, if any. */
export async function getReply(db: Db, userMessageId: string): Promise<Message | null> {
  const query = prepared(db, 'get_reply', (d) =>
    d
      .select()
      .from(messages)
      .where(eq(messages.replyTo, sql.placeholder('userMessageId')))
      .prepare('get_reply'),
  );
  const [row] = await query.execute({ userMessageId });
  return row ?? null;
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
  // A first attempt finds no reply row: insert at once (one statement); look it up only when it exists.
  const fresh = await tryInsertReply(db, input);
  if (fresh) return { kind: 'started', reply: fresh, takenOver: false };
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
    const row = await tryInsertReply(db, input);
    if (row) return { kind: 'started', reply: row, takenOver: false };
    if (attempt > 3) throw new Error('startReply: could not settle reply row');
  }
}

/** Insert the streaming reply row; null when one exists already (the unique `reply_to`). */
async function tryInsertReply(
  db: Db,
  input: { tenantId: string; conversationId: string; userMessageId: string; fence: number; mode: string },
): Promise<Message | null> {
  try {
    const [row] = await insertReply(db).execute({
      tenantId: input.tenantId,
      conversationId: input.conversationId,
      mode: input.mode,
      userMessageId: input.userMessageId,
      fence: input.fence,
    });
    return row!;
  } catch (err) {
    if (isMissingSeq(err)) throw new Error('conversation not found');
    if (isUniqueViolation(err)) return null;
    throw err;
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

/** One statement: allocate the seq and insert the streaming reply row (no transaction round trips). */
function insertReply(db: Db) {
  return prepared(db, 'insert_reply', (d) => {
    const next = nextSeqCte(d);
    return d
      .with(next)
      .insert(messages)
      .values({
        tenantId: sql.placeholder('tenantId'),
        conversationId: sql.placeholder('conversationId'),
        seq: sql`(select ${next.seq} from ${next})`,
        role: 'assistant',
        content: '',
        status: 'streaming',
        mode: sql.placeholder('mode'),
        replyTo: sql.placeholder('userMessageId'),
        fence: sql.placeholder('fence'),
      })
      .returning()
      .prepare('insert_reply');
  });
}

/**
 * New partial text of a streaming reply, written by the turn holding `fence`: `text` follows the first
 * `fromBytes` bytes (UTF-8) of the content the row holds, or is the whole content when `fromBytes` is 0.
 */
export interface ReplyContentWrite {
  replyId: string;
  fence: number;
  /** Bytes (UTF-8) of the row's content that `text` follows; 0 replaces the content with `text`. */
  fromBytes: number;
  text: string;
}

/**
 * Live persistence of many streaming replies in one statement (one writer per worker process).
 * Each row is written only while it is `streaming` and owned by its `fence`, exactly like a single
 * fenced write. A write that appends (`fromBytes` > 0) lands only on a row whose content is exactly
 * `fromBytes` long (what its writer last stored there): so a partial of 1,000 characters costs the
 * statement its last few words, not the whole text each tick. A row another transaction holds locked
 * (its turn is ending, a takeover) is skipped, never waited for: one busy row does not hold up the
 * other replies. Returns the ids written; see {@link replyOwners} for why one was not.
 */
export async function updateReplyContents(db: Db, writes: ReplyContentWrite[]): Promise<Set<string>> {
  if (writes.length === 0) return new Set();
  const rows = JSON.stringify(
    writes.map((w) => ({ id: w.replyId, fence: w.fence, from_bytes: w.fromBytes, text: w.text })),
  );
  const written = await db.execute<{ id: string }>(sql`
    with v as (
      select * from jsonb_to_recordset(${rows}::jsonb) as v(id uuid, fence bigint, from_bytes int, text text)
    ), free as (
      select m.id from "messages" as m join v on m.id = v.id
      where m.fence = v.fence and m.status = 'streaming'
        and (v.from_bytes = 0 or octet_length(m.content) = v.from_bytes)
      for update of m skip locked
    )
    update "messages" as m
    set content = case when v.from_bytes = 0 then v.text else m.content || v.text end, updated_at = now()
    from v join free on free.id = v.id
    where m.id = v.id and m.fence = v.fence and m.status = 'streaming'
      and (v.from_bytes = 0 or octet_length(m.content) = v.from_bytes)
    returning m.id`);
  return new Set(Array.from(written, (r) => r.id));
}

/** Owner and state of a reply, read without waiting for locks. */
export interface ReplyOwner {
  fence: number;
  status: string;
}

/**
 * The owning fence and status of each reply that still exists, to tell why a live write did not land:
 * another fence (or no row) is a fence loss; the same fence and no longer `streaming`, a turn that
 * ended its reply; the same fence still `streaming`, a row that was busy (try again).
 */
export async function replyOwners(db: Db, replyIds: string[]): Promise<Map<string, ReplyOwner>> {
  if (replyIds.length === 0) return new Map();
  const ids = JSON.stringify(replyIds);
  const rows = await db.execute<{ id: string; fence: string | number; status: string }>(sql`
    select m.id, m.fence, m.status from "messages" as m
    where m.id in (select jsonb_array_elements_text(${ids}::jsonb)::uuid)`);
  return new Map(Array.from(rows, (r) => [r.id, { fence: Number(r.fence), status: r.status }]));
}
