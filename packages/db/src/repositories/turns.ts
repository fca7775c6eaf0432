import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import {
  assistantTranscripts,
  conversations,
  type MessageUsage,
  messages,
  sessions,
  turnAttempts,
} from '../schema/index.ts';
import { FINAL_USER_STATUSES, type Message } from './messages.ts';
import { lockSessionForWrite, type Session, type SessionConflict, SessionConflictError } from './sessions.ts';

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
  /** The turn_attempts row to close as `completed` in the same transaction. */
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
  | { ok: true; session: Session; reply: Message }
  | { ok: false; conflict: SessionConflict | 'reply_fenced'; session: Session | null };

class ReplyFencedError extends Error {
  override name = 'ReplyFencedError';
}

/**
 * Finish a turn in one transaction: reply row completed, transcript written, session pointed at it by
 * compare-and-set on `version` and `fence`, user message completed. A stale fence or version writes nothing.
 */
export async function completeTurn(db: Db, input: CompleteTurnInput): Promise<CompleteTurnResult> {
  try {
    return await db.transaction(async (tx) => {
      if (!input.detached) {
        await lockSessionForWrite(tx, input);
        await writeTranscript(tx, input);
      }
      const [reply] = await tx
        .update(messages)
        .set({
          status: 'completed',
          role: 'assistant',
          content: input.content,
          stopReason: input.stopReason,
          usage: input.usage,
          errorCode: null,
          updatedAt: new Date(),
          completedAt: new Date(),
        })
        .where(
          and(
            eq(messages.id, input.replyId),
            eq(messages.fence, input.fence),
            eq(messages.status, 'streaming'),
          ),
        )
        .returning();
      if (!reply) throw new ReplyFencedError('reply row is owned by another fence or already final');
      const [session] = input.detached
        ? await tx.select().from(sessions).where(eq(sessions.id, input.sessionId))
        : await tx
            .update(sessions)
            .set({
              assistantSessionId: input.transcript.id,
              version: sql`${sessions.version} + 1`,
              fence: input.fence,
              updatedAt: new Date(),
            })
            .where(eq(sessions.id, input.sessionId))
            .returning();
      await tx
        .update(messages)
        .set({ status: 'completed', updatedAt: new Date(), completedAt: new Date() })
        .where(
          and(
            eq(messages.id, input.userMessageId),
            sql`${messages.status} not in (${sql.join(
              FINAL_USER_STATUSES.map((s) => sql`${s}`),
              sql`, `,
            )})`,
          ),
        );
      if (input.attemptId) {
        await tx
          .update(turnAttempts)
          .set({ outcome: 'completed', usage: input.usage, endedAt: new Date() })
          .where(eq(turnAttempts.id, input.attemptId));
      }
      return { ok: true as const, session: session!, reply };
    });
  } catch (err) {
    if (err instanceof SessionConflictError)
      return { ok: false, conflict: err.conflict, session: err.session };
    if (err instanceof ReplyFencedError) return { ok: false, conflict: 'reply_fenced', session: null };
    throw err;
  }
}

/** Create the turn's transcript row, or replace the messages of the live one it extends. */
async function writeTranscript(tx: Db, input: CompleteTurnInput): Promise<void> {
  const t = input.transcript;
  if (t.mode === 'create') {
    await tx.insert(assistantTranscripts).values({
      id: t.id,
      tenantId: input.tenantId,
      conversationId: input.conversationId,
      model: t.model,
      thinking: t.thinking,
      messages: t.messages,
      lastMessageId: input.userMessageId,
      rebuilt: t.rebuilt,
    });
    return;
  }
  const rows = await tx
    .update(assistantTranscripts)
    .set({ messages: t.messages, lastMessageId: input.userMessageId, updatedAt: new Date() })
    .where(and(eq(assistantTranscripts.id, t.id), eq(assistantTranscripts.status, 'live')))
    .returning({ id: assistantTranscripts.id });
  if (rows.length === 0) throw new SessionConflictError('tombstoned', null);
}

/**
 * Give up on a turn that ended without recording its own outcome (an unexpected error exhausted the
 * job's attempts): the user message becomes `failed` and its reply row an error message the user can
 * read, so nothing stays pending. Does nothing when the turn already ended. Returns the reply row when
 * it acted.
 */
export async function abandonTurn(
  db: Db,
  input: { tenantId: string; conversationId: string; messageId: string; errorCode: string; content: string },
): Promise<Message | null> {
  return db.transaction(async (tx) => {
    const [user] = await tx
      .update(messages)
      .set({ status: 'failed', updatedAt: new Date(), completedAt: new Date() })
      .where(
        and(
          eq(messages.id, input.messageId),
          eq(messages.tenantId, input.tenantId),
          // A job naming the message with another conversation is not this message's turn.
          eq(messages.conversationId, input.conversationId),
          eq(messages.role, 'user'),
          inArray(messages.status, ['pending', 'streaming']),
        ),
      )
      .returning();
    if (!user) return null;
    const errorRow = {
      role: 'error' as const,
      status: 'failed' as const,
      content: input.content,
      errorCode: input.errorCode,
      updatedAt: new Date(),
      completedAt: new Date(),
    };
    const [updated] = await tx
      .update(messages)
      .set(errorRow)
      .where(
        and(eq(messages.replyTo, user.id), inArray(messages.status, ['pending', 'streaming', 'interrupted'])),
      )
      .returning();
    if (updated) return updated;
    const [existing] = await tx.select().from(messages).where(eq(messages.replyTo, user.id));
    if (existing) return existing;
    const [conv] = await tx
      .update(conversations)
      .set({ lastSeq: sql`${conversations.lastSeq} + 1` })
      .where(eq(conversations.id, user.conversationId))
      .returning({ seq: conversations.lastSeq });
    const [inserted] = await tx
      .insert(messages)
      .values({
        ...errorRow,
        tenantId: user.tenantId,
        conversationId: user.conversationId,
        seq: conv!.seq,
        mode: user.mode,
        replyTo: user.id,
      })
      .returning();
    return inserted!;
  });
}
