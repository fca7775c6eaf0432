import { describe, expect, it } from 'vitest';
import { isLegalTransition, MESSAGE_STATUSES, type MessageKind } from '../src/index.ts';
import { conversationFixture, userMessageId, userWithStartedReply } from './conversation-fixture.ts';

const f = conversationFixture();

/** A fresh row of `kind`, forced (triggers off for this one write) into status `from`. */
async function rowIn(kind: MessageKind, from: string): Promise<string> {
  const id = kind === 'reply' ? (await userWithStartedReply(f, 1)).replyId : await userMessageId(f);
  await f.tdb.sql.begin(async (tx) => {
    await tx`set local session_replication_role = replica`;
    await tx`update messages set status = ${from} where id = ${id}`;
  });
  return id;
}

const pairs = (['user', 'reply'] as const).flatMap((kind) =>
  MESSAGE_STATUSES.flatMap((from) => MESSAGE_STATUSES.map((to) => ({ kind, from, to }))),
);

describe('message status transitions', () => {
  it.each(pairs)(
    '$kind $from -> $to: the database agrees with the state machine',
    async ({ kind, from, to }) => {
      const id = await rowIn(kind, from);
      const legal = isLegalTransition(kind, from, to);
      const update = f.tdb.sql`update messages set status = ${to} where id = ${id}`;
      if (legal) await expect(update).resolves.toBeDefined();
      else await expect(update).rejects.toThrow(/cannot go from/);
    },
  );

  it('a final reply can be neither reopened nor rewritten to another outcome', () => {
    for (const final of ['completed', 'failed', 'cancelled'] as const) {
      for (const to of MESSAGE_STATUSES.filter((s) => s !== final)) {
        expect(isLegalTransition('reply', final, to)).toBe(false);
        expect(isLegalTransition('user', final, to)).toBe(false);
      }
    }
  });
});
