import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { conversations } from '../schema/index.ts';

/**
 * A CTE allocating the next `seq` of a conversation (placeholders `conversationId`, `tenantId`; it also
 * returns the conversation's `defaultMode`): the
 * UPDATE row-locks the conversation until the statement's transaction ends, so seqs are handed out
 * one at a time. Insert with `seq: sql\`(select ${cte.seq} from ${cte})\``: an unknown conversation
 * leaves it NULL, which the NOT NULL constraint refuses (see {@link isMissingSeq}).
 */
export function nextSeqCte(d: Db) {
  return d.$with('next_seq').as(
    d
      .update(conversations)
      .set({ lastSeq: sql`${conversations.lastSeq} + 1`, updatedAt: sql`now()` })
      .where(
        and(
          eq(conversations.id, sql.placeholder('conversationId')),
          eq(conversations.tenantId, sql.placeholder('tenantId')),
        ),
      )
      .returning({ seq: conversations.lastSeq, defaultMode: conversations.defaultMode }),
  );
}

/** The insert found no conversation to take a seq from (a NOT NULL violation on `seq`). */
export function isMissingSeq(err: unknown): boolean {
  const e = err as { code?: string; column_name?: string; cause?: { code?: string; column_name?: string } };
  const pg = e?.cause ?? e;
  return pg?.code === '23502' && pg.column_name === 'seq';
}
