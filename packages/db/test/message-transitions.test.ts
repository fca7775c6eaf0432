import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  insertUserMessage,
  isLegalTransition,
  MESSAGE_STATUSES,
  type MessageKind,
  startReply,
} from '../src/index.ts';
import { createTestDatabase, seedConversation, seedTenant, type TestDatabase } from '../src/testing/index.ts';

let tdb: TestDatabase;
let tenantId: string;
let conversationId: string;

beforeAll(async () => {
  tdb = await createTestDatabase({ max: 4 });
  tenantId = (await seedTenant(tdb.db)).tenant.id;
  conversationId = (await seedConversation(tdb.db, tenantId)).id;
});
afterAll(async () => {
  await tdb.drop();
});

/** A fresh row of `kind`, forced (triggers off for this one write) into status `from`. */
async function rowIn(kind: MessageKind, from: string): Promise<string> {
  const user = await insertUserMessage(tdb.db, { tenantId, conversationId, content: 'q' });
  if (!user.ok) throw new Error('insert failed');
  let id = user.message.id;
  if (kind === 'reply') {
    const started = await startReply(tdb.db, {
      tenantId,
      conversationId,
      userMessageId: id,
      fence: 1,
      mode: 'stream',
    });
    if (started.kind !== 'started') throw new Error('reply not started');
    id = started.reply.id;
  }
  await tdb.sql.begin(async (tx) => {
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
      const update = tdb.sql`update messages set status = ${to} where id = ${id}`;
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
