import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { FINAL_USER_STATUSES, OPEN_REPLY_STATUSES } from '../message-status.ts';
import { conversations, messages, turnAttempts } from '../schema/index.ts';
import type { Message } from './messages.ts';
import { finishAttempt, type TurnOutcome } from './turn-attempts.ts';

/*
 * The endings of a turn, each ONE transaction over the reply row, the user row and the attempt (complete in
 * turn-completion.ts, fail, cancel and interrupt below). A crash can never leave half an ending behind.
 *
 * Who ends a turn: the worker holding the conversation lease passes its `owner` (the reply row must still
 * carry its fence, else nothing is written: `fenced_out`); an actor ending a turn no worker runs (the
 * API's cancel of a queued turn, the failed handler, an operator) passes none and ends whatever reply row
 * is still open.
 */

export interface TurnOwner {
  /** The lease fence of the worker running the turn; the reply row must carry it. */
  fence: number;
  replyId: string;
  /** The attempt to close in the same transaction. */
  attemptId?: string;
}

export type EndTurnResult =
  | { ok: true; user: Message; reply: Message | null }
  /**
   * `fenced_out`: the reply row belongs to a newer fence (or is final) and the turn wrote nothing;
   * `already_final`: the user message's turn had already ended (`user` holds it); `not_found`: no such
   * user message in that tenant and conversation.
   */
  | { ok: false; reason: 'fenced_out' | 'already_final' | 'not_found'; user: Message | null };

class EndingRefused extends Error {
  override name = 'EndingRefused';
  constructor(readonly result: Extract<EndTurnResult, { ok: false }>) {
    super(`turn ending refused: ${result.reason}`);
  }
}

async function endingTransaction(db: Db, run: (tx: Db) => Promise<EndTurnResult>): Promise<EndTurnResult> {
  try {
    return await db.transaction((tx) => run(tx));
  } catch (err) {
    if (err instanceof EndingRefused) return err.result;
    throw err;
  }
}

interface UserRef {
  tenantId: string;
  conversationId: string;
  messageId: string;
}

/** End the user row's turn (`pending` -> a final status), or refuse with why. */
async function endUserRow(tx: Db, ref: UserRef, status: 'failed' | 'cancelled'): Promise<Message> {
  const [user] = await tx
    .update(messages)
    .set({ status, updatedAt: new Date(), completedAt: new Date() })
    .where(
      and(
        eq(messages.id, ref.messageId),
        eq(messages.tenantId, ref.tenantId),
        // A job naming the message with another conversation is not this message's turn.
        eq(messages.conversationId, ref.conversationId),
        eq(messages.role, 'user'),
        inArray(messages.status, ['pending', 'streaming']),
      ),
    )
    .returning();
  if (user) return user;
  const [found] = await tx
    .select()
    .from(messages)
    .where(
      and(
        eq(messages.id, ref.messageId),
        eq(messages.tenantId, ref.tenantId),
        eq(messages.conversationId, ref.conversationId),
        eq(messages.role, 'user'),
      ),
    );
  throw new EndingRefused({ ok: false, reason: found ? 'already_final' : 'not_found', user: found ?? null });
}

type ReplyPatch = Partial<typeof messages.$inferInsert>;

/**
 * Write the reply row's ending: the owner's own row (fenced) or, without an owner, whatever reply row is
 * still open. `insertIfMissing` creates the row (an error reply for a turn that never started one).
 */
async function endReplyRow(
  tx: Db,
  user: Message,
  owner: TurnOwner | undefined,
  patch: ReplyPatch,
  insertIfMissing: boolean,
): Promise<Message | null> {
  const open = inArray(messages.status, [...OPEN_REPLY_STATUSES]);
  const target = owner
    ? and(eq(messages.id, owner.replyId), eq(messages.fence, owner.fence), open)
    : and(eq(messages.replyTo, user.id), open);
  const [reply] = await tx
    .update(messages)
    .set({ ...patch, updatedAt: new Date() })
    .where(target)
    .returning();
  if (reply) return reply;
  if (owner) throw new EndingRefused({ ok: false, reason: 'fenced_out', user });
  const [existing] = await tx.select().from(messages).where(eq(messages.replyTo, user.id));
  if (existing || !insertIfMissing) return existing ?? null;
  const [conv] = await tx
    .update(conversations)
    .set({ lastSeq: sql`${conversations.lastSeq} + 1` })
    .where(eq(conversations.id, user.conversationId))
    .returning({ seq: conversations.lastSeq });
  const [inserted] = await tx
    .insert(messages)
    .values({
      role: 'error',
      status: 'failed',
      content: '',
      ...patch,
      tenantId: user.tenantId,
      conversationId: user.conversationId,
      seq: conv!.seq,
      mode: user.mode,
      replyTo: user.id,
    })
    .returning();
  return inserted!;
}

/** Close the owner's attempt, or (no owner) mark attempts a dead worker left open as `lost`. */
async function closeAttempts(
  tx: Db,
  messageId: string,
  owner: TurnOwner | undefined,
  result: { outcome: TurnOutcome; errorCode?: string | null; errorMessage?: string | null },
): Promise<void> {
  if (owner?.attemptId) return finishAttempt(tx, owner.attemptId, result);
  if (owner) return;
  await tx
    .update(turnAttempts)
    .set({ outcome: 'lost', endedAt: new Date() })
    .where(and(eq(turnAttempts.messageId, messageId), isNull(turnAttempts.outcome)));
}

export interface FailTurnInput extends UserRef {
  /** Stable error code (`transient_exhausted`, `internal_error`, ...), stored on the error row. */
  errorCode: string;
  /** The text the user reads in the history. */
  content: string;
  /** Operator-facing detail for the attempt row (never shown to the user). */
  detail?: string;
  owner?: TurnOwner;
}

/** Fail a turn for good: the user message `failed`, its reply an error row the user can read. */
export async function failTurn(db: Db, input: FailTurnInput): Promise<EndTurnResult> {
  return endingTransaction(db, async (tx) => {
    const user = await endUserRow(tx, input, 'failed');
    const reply = await endReplyRow(
      tx,
      user,
      input.owner,
      {
        role: 'error',
        status: 'failed',
        content: input.content,
        errorCode: input.errorCode,
        completedAt: new Date(),
      },
      true,
    );
    await closeAttempts(tx, input.messageId, input.owner, {
      outcome: 'failed',
      errorCode: input.errorCode,
      errorMessage: input.detail ?? null,
    });
    return { ok: true, user, reply };
  });
}

export interface CancelTurnInput extends UserRef {
  /** The worker running the turn, with the partial reply it keeps (as `cancelled`). */
  owner?: TurnOwner & { content: string };
}

/**
 * Cancel a turn (the API's cancel of a queued turn and the worker's cancel of a running or not yet
 * started one both end here): the user message `cancelled`, an open reply kept as `cancelled`.
 */
export async function cancelTurn(db: Db, input: CancelTurnInput): Promise<EndTurnResult> {
  return endingTransaction(db, async (tx) => {
    const user = await endUserRow(tx, input, 'cancelled');
    const reply = await endReplyRow(
      tx,
      user,
      input.owner,
      {
        status: 'cancelled',
        errorCode: null,
        completedAt: new Date(),
        ...(input.owner ? { content: input.owner.content } : {}),
      },
      false,
    );
    await closeAttempts(tx, input.messageId, input.owner, { outcome: 'cancelled' });
    return { ok: true, user, reply };
  });
}

export interface InterruptTurnInput extends UserRef {
  owner: TurnOwner;
  /** The partial reply, kept visible until the next attempt takes the row over. */
  content: string;
  outcome: Extract<TurnOutcome, 'retrying' | 'rate_limited' | 'interrupted'>;
  errorCode?: string;
  detail?: string;
}

/**
 * End an attempt without ending the turn (a retry follows, a rate-limit wait, a hand-back): the reply
 * row `interrupted` with its partial, the attempt closed; the user message stays `pending`.
 */
export async function interruptTurn(db: Db, input: InterruptTurnInput): Promise<EndTurnResult> {
  return endingTransaction(db, async (tx) => {
    const [user] = await tx
      .select()
      .from(messages)
      .where(and(eq(messages.id, input.messageId), eq(messages.role, 'user')))
      .for('update');
    if (!user) throw new EndingRefused({ ok: false, reason: 'not_found', user: null });
    if (FINAL_USER_STATUSES.includes(user.status))
      throw new EndingRefused({ ok: false, reason: 'already_final', user });
    const [reply] = await tx
      .update(messages)
      .set({ status: 'interrupted', content: input.content, completedAt: null, updatedAt: new Date() })
      .where(
        and(
          eq(messages.id, input.owner.replyId),
          eq(messages.fence, input.owner.fence),
          eq(messages.status, 'streaming'),
        ),
      )
      .returning();
    if (!reply) throw new EndingRefused({ ok: false, reason: 'fenced_out', user });
    await closeAttempts(tx, input.messageId, input.owner, {
      outcome: input.outcome,
      errorCode: input.errorCode ?? null,
      errorMessage: input.detail ?? null,
    });
    return { ok: true, user, reply };
  });
}

/**
 * Give up on a turn that ended without recording its own outcome (the failed handler, an operator): the
 * user message becomes `failed` and its reply row an error message the user can read, so nothing stays
 * pending. Does nothing when the turn already ended. Returns the reply row when it acted.
 */
export async function abandonTurn(
  db: Db,
  input: { tenantId: string; conversationId: string; messageId: string; errorCode: string; content: string },
): Promise<Message | null> {
  const res = await failTurn(db, input);
  return res.ok ? res.reply : null;
}
