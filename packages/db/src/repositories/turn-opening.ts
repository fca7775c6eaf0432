import { sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { conversations, messages, sessions, turnAttempts } from '../schema/index.ts';
import { type Conversation, isUniqueViolation } from './conversations.ts';
import type { Message } from './messages.ts';
import { preparedSql } from './prepared.ts';
import { columnsOf, rowOf } from './row-columns.ts';
import {
  claimSessionFence,
  ensureActiveSession,
  type Session,
  type SessionUpdateResult,
} from './sessions.ts';
import type { TurnAttempt } from './turn-attempts.ts';

export interface OpenTurnInput {
  tenantId: string;
  conversationId: string;
  sessionId: string;
  /** The lease token the turn holds. */
  fence: number;
  userMessageId: string;
  /** The user message's seq: a message stored before the session's reset opens nothing. */
  userMessageSeq: number;
  mode: 'stream' | 'batch';
  jobId: string | null;
  attempt: number;
  workerId: string;
}

/**
 * The claim of the session fence, and — when that is all a first attempt needs — its reply row and
 * attempt row too. `opened` is null when only the claim was made (or refused): a reply row exists
 * already (a retry or a takeover), or the message predates the session; the caller then goes on step
 * by step (`startReply`, `startAttempt`).
 */
export interface OpenTurnResult {
  claim: SessionUpdateResult;
  opened: { reply: Message; attempt: TurnAttempt } | null;
}

const p = (name: string) => sql.placeholder(name);

/*
 * ONE statement for the three writes that confirm a first attempt (each was a round trip the first
 * chunk waited for): the fence claim (as `claimSessionFence`: a fresh token is newer than the row's),
 * then, only when it claimed the row, the message is not before the session's `start_seq` and no reply
 * row exists, the reply row (its seq allocated as `insertReply` does) and the attempt row (earlier
 * attempts without an outcome closed as `lost`, as `startAttempt` does). A reply row inserted meanwhile
 * by another writer makes the statement fail as a whole (unique `reply_to`): nothing is written.
 */
const OPEN_TURN = sql`
with claim as (
  update "sessions" set "fence" = ${p('fence')}::bigint, "updated_at" = now()
  where "id" = ${p('sessionId')}::uuid and "status" = 'active' and "fence" < ${p('fence')}::bigint
  returning *
), go as (
  select 1 from claim
  where ${p('userMessageSeq')}::int > claim."start_seq"
    and not exists (select 1 from "messages" where "reply_to" = ${p('userMessageId')}::uuid)
), next_seq as (
  update "conversations" set "last_seq" = "last_seq" + 1, "updated_at" = now()
  where "id" = ${p('conversationId')}::uuid and "tenant_id" = ${p('tenantId')}::uuid
    and exists (select 1 from go)
  returning "last_seq"
), reply as (
  insert into "messages"
    ("tenant_id", "conversation_id", "seq", "role", "content", "status", "mode", "reply_to", "fence")
  select ${p('tenantId')}::uuid, ${p('conversationId')}::uuid, next_seq."last_seq", 'assistant', '',
    'streaming', ${p('mode')}::text, ${p('userMessageId')}::uuid, ${p('fence')}::bigint
  from next_seq
  returning *
), lost as (
  update "turn_attempts" set "outcome" = 'lost', "ended_at" = now()
  where "message_id" = ${p('userMessageId')}::uuid and "outcome" is null and exists (select 1 from reply)
  returning "id"
), attempt as (
  insert into "turn_attempts"
    ("tenant_id", "conversation_id", "message_id", "job_id", "attempt", "worker_id", "fence",
     "session_id", "assistant_session_id")
  select ${p('tenantId')}::uuid, ${p('conversationId')}::uuid, ${p('userMessageId')}::uuid,
    ${p('jobId')}::text, ${p('attempt')}::int, ${p('workerId')}::text, ${p('fence')}::bigint,
    claim."id", claim."assistant_session_id"
  from claim, reply
  returning *
)
select ${columnsOf(sessions, 'claim', 's_')}, ${columnsOf(messages, 'reply', 'r_')},
  ${columnsOf(turnAttempts, 'attempt', 'a_')}
from (select 1) as one
left join claim on true
left join reply on true
left join attempt on true`;

/**
 * Claim the session fence for a turn and, for a first attempt, start its reply and attempt rows in
 * the same statement. Anything else (a refused claim, an existing reply row, a message from before
 * the session's reset) is left to the step-by-step path: a refused claim is classified by
 * {@link claimSessionFence}.
 */
export async function openTurn(db: Db, input: OpenTurnInput): Promise<OpenTurnResult> {
  const query = preparedSql<Record<string, unknown>>(db, 'open_turn', OPEN_TURN);
  let row: Record<string, unknown> | undefined;
  try {
    [row] = await query.execute({ ...input });
  } catch (err) {
    // A reply row inserted since the statement's snapshot: the statement wrote nothing.
    if (!isUniqueViolation(err)) throw err;
  }
  if (!row || row.s_id == null) {
    return { claim: await claimSessionFence(db, input.sessionId, input.fence), opened: null };
  }
  const claim: SessionUpdateResult = { ok: true, session: rowOf<Session>(sessions, row, 's_') };
  if (row.r_id == null || row.a_id == null) return { claim, opened: null };
  return {
    claim,
    opened: {
      reply: rowOf<Message>(messages, row, 'r_'),
      attempt: rowOf<TurnAttempt>(turnAttempts, row, 'a_'),
    },
  };
}

/** What a turn job reads before it takes the lease. */
export interface TurnReads {
  /** The tenant's conversation, or null. */
  conversation: Conversation | null;
  /** The tenant's message of that id (of any conversation: the caller checks), or null. */
  message: Message | null;
  /** The earliest user message before `message` in the conversation whose turn has not finished. */
  earlierUnfinishedId: string | null;
  /** The conversation's active session (created when missing), when the conversation exists. */
  session: Session | null;
}

/*
 * The reads before the lease in ONE statement (they were four round trips on four connections): the
 * conversation, the message, the ordering gate (the first unfinished user message before it) and the
 * active session, each as its own repository function reads it.
 */
const TURN_READS = sql`
select ${columnsOf(conversations, 'c', 'c_')}, ${columnsOf(messages, 'm', 'm_')},
  ahead."id" as "earlier_id", ${columnsOf(sessions, 's', 's_')}
from (select 1) as one
left join "conversations" c on c."id" = ${p('conversationId')}::uuid and c."tenant_id" = ${p('tenantId')}::uuid
left join "messages" m on m."id" = ${p('messageId')}::uuid and m."tenant_id" = ${p('tenantId')}::uuid
left join lateral (
  select e."id" from "messages" e
  where e."conversation_id" = ${p('conversationId')}::uuid and e."role" = 'user' and e."seq" < m."seq"
    and e."status" in ('pending', 'streaming')
  order by e."seq"
  limit 1
) ahead on true
left join "sessions" s on s."conversation_id" = c."id" and s."status" = 'active'`;

/**
 * Read what a turn job needs before the lease in one round trip: conversation, message, ordering
 * gate and active session (created in a second step when the conversation has none).
 */
export async function readTurnStart(
  db: Db,
  input: { tenantId: string; conversationId: string; messageId: string },
): Promise<TurnReads> {
  const query = preparedSql<Record<string, unknown>>(db, 'read_turn_start', TURN_READS);
  const { tenantId, conversationId, messageId } = input;
  const [row] = await query.execute({ tenantId, conversationId, messageId });
  const conversation = row!.c_id == null ? null : rowOf<Conversation>(conversations, row!, 'c_');
  let session = row!.s_id == null ? null : rowOf<Session>(sessions, row!, 's_');
  if (conversation && !session) session = await ensureActiveSession(db, input.tenantId, conversation.id);
  return {
    conversation,
    message: row!.m_id == null ? null : rowOf<Message>(messages, row!, 'm_'),
    earlierUnfinishedId: (row!.earlier_id as string | null) ?? null,
    session,
  };
}
