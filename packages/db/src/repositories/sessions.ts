import { and, asc, desc, eq, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { assistantTranscripts, conversations, sessions } from '../schema/index.ts';
import { isUniqueViolation } from './conversations.ts';
import { prepared } from './prepared.ts';
import { tombstoneTranscript } from './transcripts.ts';

export type Session = typeof sessions.$inferSelect;

/** Why a compare-and-set on a session did not apply. */
export type SessionConflict = 'not_found' | 'not_active' | 'version' | 'fence' | 'tombstoned';

export type SessionUpdateResult =
  | { ok: true; session: Session }
  | { ok: false; conflict: SessionConflict; session: Session | null };

/** Thrown inside a transaction to roll it back with a typed conflict. */
export class SessionConflictError extends Error {
  override name = 'SessionConflictError';
  constructor(
    readonly conflict: SessionConflict,
    readonly session: Session | null,
  ) {
    super(`session update refused: ${conflict}`);
  }
}

export async function getActiveSession(db: Db, conversationId: string): Promise<Session | null> {
  const query = prepared(db, 'get_active_session', (d) =>
    d
      .select()
      .from(sessions)
      .where(
        and(eq(sessions.conversationId, sql.placeholder('conversationId')), eq(sessions.status, 'active')),
      )
      .prepare('get_active_session'),
  );
  const [row] = await query.execute({ conversationId });
  return row ?? null;
}

/** The active session, created when missing (the database keeps it to one). */
export async function ensureActiveSession(
  db: Db,
  tenantId: string,
  conversationId: string,
): Promise<Session> {
  const found = await getActiveSession(db, conversationId);
  if (found) return found;
  await db.insert(sessions).values({ tenantId, conversationId }).onConflictDoNothing();
  const row = await getActiveSession(db, conversationId);
  if (!row) throw new Error('active session vanished');
  return row;
}

/** A conversation's sessions, oldest first; with `limit`, only the most recent `limit` of them. */
export async function listSessions(
  db: Db,
  tenantId: string,
  conversationId: string,
  opts: { limit?: number } = {},
): Promise<Session[]> {
  const where = and(eq(sessions.tenantId, tenantId), eq(sessions.conversationId, conversationId));
  if (opts.limit === undefined) {
    return db.select().from(sessions).where(where).orderBy(asc(sessions.createdAt), asc(sessions.id));
  }
  const newest = await db
    .select()
    .from(sessions)
    .where(where)
    .orderBy(desc(sessions.createdAt), desc(sessions.id))
    .limit(opts.limit);
  return newest.reverse();
}

/**
 * Lock the session row and check the caller may write it: active, same `version` (when given),
 * and a fence not older than the row's. Use inside a transaction.
 */
export async function lockSessionForWrite(
  tx: Db,
  input: { sessionId: string; fence: number; expectedVersion?: number },
): Promise<Session> {
  const [row] = await tx.select().from(sessions).where(eq(sessions.id, input.sessionId)).for('update');
  if (!row) throw new SessionConflictError('not_found', null);
  if (row.status !== 'active') throw new SessionConflictError('not_active', row);
  if (row.fence > input.fence) throw new SessionConflictError('fence', row);
  if (input.expectedVersion !== undefined && row.version !== input.expectedVersion) {
    throw new SessionConflictError('version', row);
  }
  return row;
}

async function asResult(run: () => Promise<Session>): Promise<SessionUpdateResult> {
  try {
    return { ok: true, session: await run() };
  } catch (err) {
    if (err instanceof SessionConflictError)
      return { ok: false, conflict: err.conflict, session: err.session };
    throw err;
  }
}

/**
 * Raise the session's fence to the caller's lease token (a turn does this when it starts), so that
 * from now on a worker holding an older token can write nothing. Refused when the row holds a newer fence.
 */
export async function claimSessionFence(
  db: Db,
  sessionId: string,
  fence: number,
): Promise<SessionUpdateResult> {
  // One statement in the usual case (a fresh lease token is newer than the row's fence); the row lock
  // an UPDATE takes is the lock the check needs. Nothing updated: read the row to say why.
  const raise = prepared(db, 'claim_session_fence', (d) =>
    d
      .update(sessions)
      .set({ fence: sql`${sql.placeholder('fence')}`, updatedAt: sql`now()` })
      .where(
        and(
          eq(sessions.id, sql.placeholder('id')),
          eq(sessions.status, 'active'),
          sql`${sessions.fence} < ${sql.placeholder('fence')}`,
        ),
      )
      .returning()
      .prepare('claim_session_fence'),
  );
  const [raised] = await raise.execute({ id: sessionId, fence });
  if (raised) return { ok: true, session: raised };
  const [row] = await db.select().from(sessions).where(eq(sessions.id, sessionId));
  if (!row) return { ok: false, conflict: 'not_found', session: null };
  if (row.status !== 'active') return { ok: false, conflict: 'not_active', session: row };
  if (row.fence > fence) return { ok: false, conflict: 'fence', session: row };
  return { ok: true, session: row };
}

/**
 * The atomic, nullable session update: set `assistant_session_id` to an id or to NULL only if
 * `version` matches what the caller read and the caller's fence is not older than the row's.
 * Bumps `version`. Clearing (NULL) tombstones the previous transcript in the same transaction;
 * setting an id whose transcript is tombstoned is refused.
 */
export async function setAssistantSession(
  db: Db,
  input: {
    sessionId: string;
    expectedVersion: number;
    fence: number;
    assistantSessionId: string | null;
    /** Recorded on the tombstone when clearing. */
    reason?: string;
  },
): Promise<SessionUpdateResult> {
  return asResult(() =>
    db.transaction(async (tx) => {
      const row = await lockSessionForWrite(tx, input);
      if (input.assistantSessionId !== null) {
        const [t] = await tx
          .select({ status: assistantTranscripts.status })
          .from(assistantTranscripts)
          .where(eq(assistantTranscripts.id, input.assistantSessionId))
          .for('share');
        if (t?.status === 'cleared') throw new SessionConflictError('tombstoned', row);
      }
      if (row.assistantSessionId && row.assistantSessionId !== input.assistantSessionId) {
        const reason = input.reason ?? 'replaced';
        if (!(await tombstoneTranscript(tx, row.assistantSessionId, reason))) {
          // The transcript row is gone (retention): leave a tombstone so the id stays unusable.
          await tx
            .insert(assistantTranscripts)
            .values({
              id: row.assistantSessionId,
              tenantId: row.tenantId,
              conversationId: row.conversationId,
              model: 'unknown',
              status: 'cleared',
              clearedReason: reason,
              clearedAt: new Date(),
            })
            .onConflictDoNothing();
        }
      }
      const [updated] = await tx
        .update(sessions)
        .set({
          assistantSessionId: input.assistantSessionId,
          version: sql`${sessions.version} + 1`,
          fence: input.fence,
          updatedAt: new Date(),
        })
        .where(eq(sessions.id, input.sessionId))
        .returning();
      return updated!;
    }),
  );
}

/** Longest a reset waits for another reset (or a message being stored) of the same conversation. */
const RESET_LOCK_TIMEOUT = '5s';

/**
 * A reset that could not be serialised with a concurrent one (the conversation stayed locked past
 * the lock timeout, or an active session appeared underneath). Nothing was changed; the caller may retry.
 */
export class ResetConflictError extends Error {
  override name = 'ResetConflictError';
}

/**
 * End the active session and open a new one whose parent is the old one (a user "reset").
 * The old transcript is tombstoned: a fresh session never inherits a Claude-side transcript.
 * Resets of one conversation are serialised on its row (`FOR UPDATE`): each ends the session the
 * previous one created. The new session's `startSeq` is the conversation's last seq: nothing stored
 * before the reset belongs to it. Throws {@link ResetConflictError} when that cannot happen in time.
 */
export async function resetSession(
  db: Db,
  input: { tenantId: string; conversationId: string; reason: string },
): Promise<Session> {
  try {
    return await db.transaction(async (tx) => {
      await tx.execute(sql.raw(`set local lock_timeout = '${RESET_LOCK_TIMEOUT}'`));
      // Locking the row also orders the reset with every message insert (they allocate seqs on it).
      const [conv] = await tx
        .select({ lastSeq: conversations.lastSeq })
        .from(conversations)
        .where(eq(conversations.id, input.conversationId))
        .for('update');
      const [old] = await tx
        .select()
        .from(sessions)
        .where(and(eq(sessions.conversationId, input.conversationId), eq(sessions.status, 'active')))
        .for('update');
      if (old) {
        // One time for the clear and the end: the ended row was last written when its transcript was cleared.
        const at = new Date();
        if (old.assistantSessionId) await tombstoneTranscript(tx, old.assistantSessionId, input.reason, at);
        await tx
          .update(sessions)
          .set({ status: 'ended', endedReason: input.reason, endedAt: at, updatedAt: at })
          .where(eq(sessions.id, old.id));
      }
      const [created] = await tx
        .insert(sessions)
        .values({
          tenantId: input.tenantId,
          conversationId: input.conversationId,
          parentSessionId: old?.id ?? null,
          // Keep the fence monotonic across sessions of a conversation.
          fence: old?.fence ?? 0,
          // Everything stored so far came before the reset.
          startSeq: conv?.lastSeq ?? 0,
        })
        .returning();
      return created!;
    });
  } catch (err) {
    if (isUniqueViolation(err) || pgCode(err) === LOCK_NOT_AVAILABLE)
      throw new ResetConflictError('another reset of this conversation is in progress', { cause: err });
    throw err;
  }
}

const LOCK_NOT_AVAILABLE = '55P03';

function pgCode(err: unknown): string | undefined {
  const e = err as { code?: string; cause?: { code?: string } } | null;
  return e?.code ?? e?.cause?.code;
}
