import { and, asc, eq, isNull, or } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { turnAttempts } from '../schema/index.ts';

export type TurnAttempt = typeof turnAttempts.$inferSelect;
export type TurnOutcome =
  | 'completed'
  | 'failed'
  | 'retrying'
  | 'cancelled'
  | 'interrupted'
  | 'superseded'
  | 'rate_limited'
  | 'session_invalid'
  /** The worker died (or froze) without recording an outcome; closed when the next attempt started. */
  | 'lost';

/**
 * Open an attempt row. Earlier attempts of the message still without an outcome belonged to a worker
 * that died or froze: they are closed as `lost` in the same transaction.
 */
export async function startAttempt(
  db: Db,
  input: {
    tenantId: string;
    conversationId: string;
    messageId: string;
    jobId: string | null;
    attempt: number;
    workerId: string;
    fence: number;
    sessionId: string | null;
    assistantSessionId: string | null;
  },
): Promise<TurnAttempt> {
  return db.transaction(async (tx) => {
    await tx
      .update(turnAttempts)
      .set({ outcome: 'lost', endedAt: new Date() })
      .where(and(eq(turnAttempts.messageId, input.messageId), isNull(turnAttempts.outcome)));
    const [row] = await tx.insert(turnAttempts).values(input).returning();
    return row!;
  });
}

/**
 * Record an attempt's outcome. The first outcome recorded stands (later calls change nothing), except
 * `lost`, which is presumed by the next attempt and replaced if the worker comes back and reports.
 */
export async function finishAttempt(
  db: Db,
  id: string,
  input: { outcome: TurnOutcome; errorCode?: string | null; errorMessage?: string | null; usage?: unknown },
): Promise<void> {
  await db
    .update(turnAttempts)
    .set({
      outcome: input.outcome,
      errorCode: input.errorCode ?? null,
      errorMessage: input.errorMessage ?? null,
      usage: input.usage ?? null,
      endedAt: new Date(),
    })
    .where(and(eq(turnAttempts.id, id), or(isNull(turnAttempts.outcome), eq(turnAttempts.outcome, 'lost'))));
}

export async function listAttempts(db: Db, tenantId: string, messageId: string): Promise<TurnAttempt[]> {
  return db
    .select()
    .from(turnAttempts)
    .where(and(eq(turnAttempts.tenantId, tenantId), eq(turnAttempts.messageId, messageId)))
    .orderBy(asc(turnAttempts.startedAt));
}

export async function listConversationAttempts(db: Db, conversationId: string): Promise<TurnAttempt[]> {
  return db
    .select()
    .from(turnAttempts)
    .where(eq(turnAttempts.conversationId, conversationId))
    .orderBy(asc(turnAttempts.startedAt));
}
