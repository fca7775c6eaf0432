import { describe, expect, it } from 'vitest';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, loggedTurn, postMessage, session, waitForTurn } from '../support/turns.ts';

// The stale-session scenario (a dead session after a provider-side restart), in stream and in batch mode.
describe.each(['stream', 'batch'] as const)('session recovery (%s mode)', (mode) => {
  const sys = systemFixture();

  it('a rotated signing key is recovered: cleared, tombstoned, rebuilt, answered', async () => {
    const conv = await createConversation(sys, { thinking: { budgetTokens: 1024 }, mode });
    const first = await postMessage(sys, conv, 'first question');
    const t1 = await waitForTurn(sys, conv, first);
    expect(t1.reply?.status).toBe('completed');
    const before = await session(sys, conv);
    expect(before.assistantSessionId).toMatch(/^asst_/);
    const [stored] = await sys.tdb
      .sql`select messages from assistant_transcripts where id = ${before.assistantSessionId}`;
    expect(JSON.stringify(stored!.messages)).toContain('"signature"');

    expect((await sys.sim_('/__sim/rotate-signing-key', { method: 'POST' })).ok).toBe(true);
    await sys.sim_('/__sim/requests', { method: 'DELETE' });

    const second = await postMessage(sys, conv, 'second question');
    const t2 = await waitForTurn(sys, conv, second);
    expect(t2.user.status).toBe('completed');
    expect(t2.reply).toMatchObject({ role: 'assistant', status: 'completed' });

    const after = await session(sys, conv);
    expect(after.assistantSessionId).toMatch(/^asst_/);
    expect(after.assistantSessionId).not.toBe(before.assistantSessionId);
    const [old] = await sys.tdb
      .sql`select status, cleared_reason from assistant_transcripts where id = ${before.assistantSessionId}`;
    expect(old!.status).toBe('cleared');

    // Subscribers were told the session was cleared, during the turn and before its end.
    const types = (await loggedTurn(sys, conv, second)).map((e) =>
      e.type === 'session.cleared' ? `${e.type}:${e.reason}` : e.type,
    );
    const cleared = types.findIndex((t) => t.startsWith('session.cleared:'));
    expect(cleared).toBeGreaterThan(types.indexOf('turn.started'));
    expect(types[cleared]).toBe(`session.cleared:${old!.cleared_reason}`);
    expect(types.at(-1)).toBe('turn.completed');

    const requests = await sys.simRequests();
    expect(requests.map((r) => r.status)).toEqual([400, 200]);
    // The retried request's context is the rebuilt, text-only history plus the new message.
    const body = requests[1].body;
    expect(body.messages.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect(JSON.stringify(body.messages)).not.toContain('"thinking"');
    expect(JSON.stringify(body.messages[0])).toContain('first question');
    expect(JSON.stringify(body.messages[1])).toContain(t1.reply!.content.slice(0, 20));
    expect(JSON.stringify(body.messages[2])).toContain('second question');

    // A third message continues on the new session (no further rejection).
    const third = await postMessage(sys, conv, 'third question');
    expect((await waitForTurn(sys, conv, third)).user.status).toBe('completed');
    expect((await sys.simRequests()).map((r) => r.status)).toEqual([400, 200, 200]);
  });
});

describe('session recovery switched off', () => {
  const sys = systemFixture({ workerEnv: { SESSION_RECOVERY: 'false' } });

  it('fails the message readably, leaves the session NULL, and the next message is answered', async () => {
    const conv = await createConversation(sys, { thinking: { budgetTokens: 1024 } });
    await waitForTurn(sys, conv, await postMessage(sys, conv, 'first'));
    const before = await session(sys, conv);
    await sys.sim_('/__sim/rotate-signing-key', { method: 'POST' });

    const second = await postMessage(sys, conv, 'second');
    const t2 = await waitForTurn(sys, conv, second);
    expect(t2.user.status).toBe('failed');
    expect(t2.reply).toMatchObject({ role: 'error', status: 'failed', errorCode: 'session_invalid' });
    expect(t2.reply!.content).toMatch(/next message/i);
    const cleared = await session(sys, conv);
    expect(cleared.assistantSessionId).toBeNull();
    const [old] = await sys.tdb
      .sql`select status from assistant_transcripts where id = ${before.assistantSessionId}`;
    expect(old!.status).toBe('cleared');

    const third = await postMessage(sys, conv, 'third');
    const t3 = await waitForTurn(sys, conv, third);
    expect(t3.user.status).toBe('completed');
    const now = await session(sys, conv);
    expect(now.assistantSessionId).toMatch(/^asst_/);
    expect(now.assistantSessionId).not.toBe(before.assistantSessionId);
  });
});
