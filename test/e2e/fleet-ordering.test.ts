import { describe, expect, it } from 'vitest';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, postMessage, waitForTurn } from '../support/turns.ts';

// Two worker processes, many conversations, interleaved messages.
const sys = systemFixture({ workers: 2, simEnv: { SIM_TOKEN_DELAY_MS: '3' } });

describe('a fleet of workers', () => {
  it('keeps per-conversation order and never overlaps two turns of one conversation', async () => {
    const conversations = await Promise.all(Array.from({ length: 6 }, () => createConversation(sys)));
    const posted: Array<{ conv: string; id: string; n: number }> = [];
    // Interleave: message n of every conversation before message n+1 of any.
    for (let n = 0; n < 4; n++) {
      const ids = await Promise.all(
        conversations.map((c) => postMessage(sys, c, `conversation message ${n}`)),
      );
      ids.forEach((id, i) => {
        posted.push({ conv: conversations[i]!, id, n });
      });
    }
    for (const p of posted)
      expect((await waitForTurn(sys, p.conv, p.id, 60_000)).user.status).toBe('completed');

    const attempts = await sys.tdb.sql<
      {
        conversation_id: string;
        message_id: string;
        worker_id: string;
        started_at: Date;
        ended_at: Date;
        outcome: string;
        seq: number;
      }[]
    >`select a.conversation_id, a.message_id, a.worker_id, a.started_at, a.ended_at, a.outcome, m.seq
      from turn_attempts a join messages m on m.id = a.message_id order by a.started_at`;
    expect(attempts.filter((a) => a.outcome === 'completed')).toHaveLength(posted.length);
    for (const conv of conversations) {
      const turns = attempts.filter((a) => a.conversation_id === conv);
      for (let i = 1; i < turns.length; i++) {
        // No overlap: each attempt ended before the next one of the conversation started...
        expect(new Date(turns[i - 1]!.ended_at).getTime()).toBeLessThanOrEqual(
          new Date(turns[i]!.started_at).getTime(),
        );
        // ...and they ran in the order the messages were accepted.
        expect(turns[i]!.seq).toBeGreaterThan(turns[i - 1]!.seq);
      }
    }
    // Each transcript carries its conversation's messages in order.
    for (const conv of conversations) {
      const [row] = await sys.tdb.sql<
        { messages: Array<{ role: string; content: Array<{ text?: string }> }> }[]
      >`
        select t.messages from sessions s join assistant_transcripts t on t.id = s.assistant_session_id
        where s.conversation_id = ${conv} and s.status = 'active'`;
      const userTexts = row!.messages.filter((m) => m.role === 'user').map((m) => m.content[0]?.text);
      expect(userTexts).toEqual([0, 1, 2, 3].map((n) => `conversation message ${n}`));
    }
  });
});
