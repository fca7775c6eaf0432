import { describe, expect, it } from 'vitest';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, postMessage, session, waitForTurn } from '../support/turns.ts';

// A conversation that outgrows the model's window recovers: the rebuilt transcript keeps only the most
// recent history that fits the budget, so the rebuild does not hit "prompt is too long" again.
const sys = systemFixture({
  simEnv: { SIM_CONTEXT_LIMIT: '600', SIM_REPLY_WORDS: '40' },
  workerEnv: { REBUILD_TOKEN_BUDGET: '300' },
});

describe('a conversation past the context window', () => {
  it('recovers with the most recent history that fits the budget', async () => {
    const conv = await createConversation(sys);
    let overflowAt = -1;
    for (let n = 0; n < 30 && overflowAt < 0; n++) {
      await sys.sim_('/__sim/requests', { method: 'DELETE' });
      const id = await postMessage(sys, conv, `message number ${n} with a few more words of padding`);
      const t = await waitForTurn(sys, conv, id);
      expect(t.user.status).toBe('completed');
      const statuses = (await sys.simRequests()).map((r) => r.status);
      if (statuses[0] === 400) {
        overflowAt = n;
        expect(statuses).toEqual([400, 200]);
        const rebuilt = (await sys.simRequests())[1].body.messages as Array<{
          role: string;
          content: unknown;
        }>;
        // Fewer messages than the whole history, ending with the new message, the latest exchange kept.
        expect(rebuilt.length).toBeLessThan(2 * n + 1);
        expect(rebuilt.length).toBeGreaterThan(1);
        expect(JSON.stringify(rebuilt.at(-1))).toContain(`message number ${n} `);
        expect(JSON.stringify(rebuilt.at(-3))).toContain(`message number ${n - 1} `);
        expect(rebuilt[0]!.role).toBe('user');
      }
    }
    expect(overflowAt).toBeGreaterThan(0);
    expect((await session(sys, conv)).assistantSessionId).toMatch(/^asst_/);
  });

  it('a transcript that cannot be loaded is recovered without a failed Claude call', async () => {
    const conv = await createConversation(sys);
    await waitForTurn(sys, conv, await postMessage(sys, conv, 'short one'));
    const before = await session(sys, conv);
    // Retention removed the transcript row.
    await sys.tdb.sql`delete from assistant_transcripts where id = ${before.assistantSessionId}`;
    await sys.sim_('/__sim/requests', { method: 'DELETE' });
    const id = await postMessage(sys, conv, 'short two');
    expect((await waitForTurn(sys, conv, id)).user.status).toBe('completed');
    const requests = await sys.simRequests();
    expect(requests.map((r) => r.status)).toEqual([200]);
    expect(JSON.stringify(requests[0].body.messages[0])).toContain('short one');
    const after = await session(sys, conv);
    expect(after.assistantSessionId).not.toBe(before.assistantSessionId);
    expect(after.assistantSessionId).toMatch(/^asst_/);
    // The vanished id is now a tombstone: it can never be set again.
    const [tomb] = await sys.tdb
      .sql`select status, cleared_reason from assistant_transcripts where id = ${before.assistantSessionId}`;
    expect(tomb).toMatchObject({ status: 'cleared', cleared_reason: 'transcript_missing' });
  });
});
