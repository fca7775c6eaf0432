import { and, asc, eq, isNull, or, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { turnAttempts } from '../schema/index.ts';
import { prepared } from './prepared.ts';

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
  // One statement: the UPDATE in the CTE runs to completion whether or not the INSERT reads it.
  const query = prepared(db, 'start_attempt', (d) => {
    const lost = d.$with('lost').as(
      d
        .update(turnAttempts)
        .set({ outcome: 'lost', endedAt: sql`now()` })
        .where(and(eq(turnAttempts.messageId, sql.placeholder('messageId')), isNull(turnAttempts.outcome)))
        .returning({ id: turnAttempts.id }),
    );
    return d
      .with(lost)
      .insert(turnAttempts)
      .values({
        tenantId: sql.placeholder('tenantId'),
        conversationId: sql.placeholder('conversationId'),
        messageId: sql.placeholder('messageId'),
        jobId: sql.placeholder('jobId'),
        attempt: sql.placeholder('attempt'),
        workerId: sql.placeholder('workerId'),
        fence: sql.placeholder('fence'),
        sessionId: sql.placeholder('sessionId'),
        assistantSessionId: sql.placeholder('assistantSessionId'),
      })
      .returning()
      .prepare('start_attempt');
  });
  const [row] = await query.execute(input);
  return row!;
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
  const query = prepared(db, 'finish_attempt', (d) =>
    d
      .update(turnAttempts)
      .set({
        outcome: sql`${sql.placeholder('outcome')}`,
        errorCode: sql`${sql.placeholder('errorCode')}`,
        errorMessage: sql`${sql.placeholder('errorMessage')}`,
        // JSON text or SQL NULL (the column's encoder would turn null into JSON null).
        usage: sql`${sql.placeholder('usage')}::jsonb`,
        endedAt: sql`now()`,
      })
      .where(
        and(
          eq(turnAttempts.id, sql.placeholder('id')),
          or(isNull(turnAttempts.outcome), eq(turnAttempts.outcome, 'lost')),
        ),
      )
      .prepare('finish_attempt'),
  );
  await query.execute({
    id,
    outcome: input.outcome,
    errorCode: input.errorCode ?? null,
    errorMessage: input.errorMessage ?? null,
    usage: input.usage == null ? null : JSON.stringify(input.usage),
  });
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
