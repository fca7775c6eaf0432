import { sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { type MessageUsage, messages, sessions } from '../schema/index.ts';
import type { Message } from './messages.ts';
import { preparedSql } from './prepared.ts';
import { columnsOf, rowOf } from './row-columns.ts';
import type { Session, SessionConflict } from './sessions.ts';
import { outcomeWantedSql } from './webhooks.ts';

export interface CompleteTurnInput {
  tenantId: string;
  conversationId: string;
  sessionId: string;
  /** The session version the turn read when it started. */
  expectedVersion: number;
  fence: number;
  userMessageId: string;
  replyId: string;
  content: string;
  stopReason: string | null;
  usage: MessageUsage | null;
  /** The turn_attempts row to close as `completed` in the same statement. */
  attemptId?: string;
  /**
   * The session moved on during the turn (a reset ended it, or a clear emptied it): complete the reply,
   * the user message and the attempt, but write no transcript and leave every session as it is, so
   * nothing from before the reset or clear becomes part of a session again.
   */
  detached?: boolean;
  transcript: {
    /** Assistant session id. `create`: a new transcript row; `append`: replace the messages of this live one. */
    id: string;
    mode: 'create' | 'append';
    model: string;
    thinking: boolean;
    /** The whole transcript after this turn (user + assistant content blocks). */
    messages: unknown[];
    rebuilt: boolean;
  };
}

export type CompleteTurnResult =
  | {
      ok: true;
      session: Session;
      reply: Message;
      /**
       * Whether `turn.completed` of the user message has a webhook target (as `webhookOutcomeWanted`
       * says), read by the same statement: the outcome's notice needs no statement of its own.
       */
      outcomeWanted: boolean;
    }
  | { ok: false; conflict: SessionConflict | 'reply_fenced'; session: Session | null };

const p = (name: string) => sql.placeholder(name);

/*
 * The completion as ONE statement (one round trip, prepared once per handle, atomic like the
 * transaction it replaces). The locking reads come first: the session row (version, fence, active),
 * the live transcript an `append` extends, and the reply row still streaming under this fence. `chk`
 * names the first conflict, in that order; every write is conditioned on there being none, so a refused
 * completion writes nothing. Times come from the database (`now()`), never from the build.
 */
const COMPLETE_TURN = sql`
with s as (
  select * from "sessions"
  where "id" = ${p('sessionId')}::uuid and not ${p('detached')}::boolean
  for update
), t as (
  select "id" from "assistant_transcripts"
  where "id" = ${p('transcriptId')}::text and "status" = 'live'
    and ${p('mode')}::text = 'append' and not ${p('detached')}::boolean
  for update
), r as (
  select "id" from "messages"
  where "id" = ${p('replyId')}::uuid and "fence" = ${p('fence')}::bigint and "status" = 'streaming'
  for update
), chk as (
  select case
    when not ${p('detached')}::boolean and not exists (select 1 from s) then 'not_found'
    when not ${p('detached')}::boolean and (select "status" from s) <> 'active' then 'not_active'
    when not ${p('detached')}::boolean and (select "fence" from s) > ${p('fence')}::bigint then 'fence'
    when not ${p('detached')}::boolean and (select "version" from s) <> ${p('expectedVersion')}::int
      then 'version'
    when not ${p('detached')}::boolean and ${p('mode')}::text = 'append' and not exists (select 1 from t)
      then 'tombstoned'
    when not exists (select 1 from r) then 'reply_fenced'
  end as "conflict"
), new_transcript as (
  insert into "assistant_transcripts"
    ("id", "tenant_id", "conversation_id", "model", "thinking", "messages", "last_message_id", "rebuilt")
  select ${p('transcriptId')}::text, ${p('tenantId')}::uuid, ${p('conversationId')}::uuid,
    ${p('model')}::text, ${p('thinking')}::boolean, ${p('transcriptMessages')}::jsonb,
    ${p('userMessageId')}::uuid, ${p('rebuilt')}::boolean
  from chk
  where chk."conflict" is null and ${p('mode')}::text = 'create' and not ${p('detached')}::boolean
  returning "id"
), extended_transcript as (
  update "assistant_transcripts"
  set "messages" = ${p('transcriptMessages')}::jsonb, "last_message_id" = ${p('userMessageId')}::uuid,
    "updated_at" = now()
  where "id" = (select "id" from t) and (select "conflict" from chk) is null
  returning "id"
), reply as (
  update "messages"
  set "status" = 'completed', "role" = 'assistant', "content" = ${p('content')}::text,
    "stop_reason" = ${p('stopReason')}::text, "usage" = ${p('usage')}::jsonb, "error_code" = null,
    "updated_at" = now(), "completed_at" = now()
  where "id" = (select "id" from r) and (select "conflict" from chk) is null
  returning *
), moved as (
  update "sessions"
  set "assistant_session_id" = ${p('transcriptId')}::text, "version" = "version" + 1,
    "fence" = ${p('fence')}::bigint, "updated_at" = now()
  where "id" = (select "id" from s) and (select "conflict" from chk) is null
  returning *
), user_done as (
  update "messages"
  set "status" = 'completed', "updated_at" = now(), "completed_at" = now()
  where "id" = ${p('userMessageId')}::uuid and "status" not in ('completed', 'failed', 'cancelled')
    and (select "conflict" from chk) is null
  returning "id"
), attempt_done as (
  update "turn_attempts"
  set "outcome" = 'completed', "usage" = ${p('usage')}::jsonb, "ended_at" = now()
  where "id" = ${p('attemptId')}::uuid and (select "conflict" from chk) is null
  returning "id"
), session_out as (
  select * from moved
  union all
  -- A session conflict reports the row as locked; a detached completion the row as it is.
  select * from s where (select "conflict" from chk) <> 'reply_fenced'
  union all
  select * from "sessions"
  where "id" = ${p('sessionId')}::uuid and ${p('detached')}::boolean and (select "conflict" from chk) is null
)
select chk."conflict", ${columnsOf(messages, 'reply', 'r_')}, ${columnsOf(sessions, 'session_out', 's_')},
  ${outcomeWantedSql(p('userMessageId'), sql`'turn.completed'`)} as "outcome_wanted"
from chk
left join reply on true
left join session_out on true`;

/**
 * Finish a turn atomically: reply row completed, transcript written, session pointed at it by
 * compare-and-set on `version` and `fence`, user message and attempt completed. A stale fence or
 * version writes nothing. A completion also says whether its `turn.completed` has a webhook target.
 */
export async function completeTurn(db: Db, input: CompleteTurnInput): Promise<CompleteTurnResult> {
  const query = preparedSql<Record<string, unknown>>(db, 'complete_turn', COMPLETE_TURN);
  const detached = input.detached ?? false;
  const usage = input.usage == null ? null : JSON.stringify(input.usage);
  const [row] = await query.execute({
    sessionId: input.sessionId,
    detached,
    transcriptId: input.transcript.id,
    mode: input.transcript.mode,
    replyId: input.replyId,
    fence: input.fence,
    expectedVersion: input.expectedVersion,
    tenantId: input.tenantId,
    conversationId: input.conversationId,
    model: input.transcript.model,
    thinking: input.transcript.thinking,
    transcriptMessages: JSON.stringify(input.transcript.messages),
    userMessageId: input.userMessageId,
    rebuilt: input.transcript.rebuilt,
    content: input.content,
    stopReason: input.stopReason,
    usage,
    attemptId: input.attemptId ?? null,
  });
  const conflict = row!.conflict as SessionConflict | 'reply_fenced' | null;
  const session = row!.s_id == null ? null : rowOf<Session>(sessions, row!, 's_');
  if (conflict) return { ok: false, conflict, session };
  return {
    ok: true,
    session: session!,
    reply: rowOf<Message>(messages, row!, 'r_'),
    outcomeWanted: row!.outcome_wanted === true,
  };
}
