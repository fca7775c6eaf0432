import { describe, expect, it } from 'vitest';
import { setFaults } from '../support/sim-faults.ts';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, loggedTurn, postMessage, waitForTurn } from '../support/turns.ts';

// Outcomes by error class, through the real worker, queue and simulator.
const sys = systemFixture({ workerEnv: { RETRY_BACKOFF_SCALE: '0.02' } });

const faults = (rules: unknown[]) => setFaults(sys, rules);

async function attempts(messageId: string) {
  return sys.tdb.sql<{ outcome: string; error_code: string | null }[]>`
    select outcome, error_code from turn_attempts where message_id = ${messageId} order by started_at`;
}

describe('retry policy', () => {
  it('rate limits do not consume attempts: 8 rate-limited calls (more than the 6 attempts) still end in a reply', async () => {
    await faults([{ fault: 'rate_limited', times: 8, retryAfterMs: 30, match: { contains: 'limited' } }]);
    const conv = await createConversation(sys);
    const id = await postMessage(sys, conv, 'rate limited please');
    expect((await waitForTurn(sys, conv, id, 60_000)).user.status).toBe('completed');
    const rows = await attempts(id);
    expect(rows.filter((r) => r.outcome === 'rate_limited')).toHaveLength(8);
    expect(rows.at(-1)?.outcome).toBe('completed');
  });

  it('transient errors back off and retry until the attempts run out, then fail readably', async () => {
    await faults([{ fault: 'overloaded', times: 20, match: { contains: 'overloaded' } }]);
    const conv = await createConversation(sys);
    const id = await postMessage(sys, conv, 'overloaded forever');
    const t = await waitForTurn(sys, conv, id, 60_000);
    expect(t.user.status).toBe('failed');
    expect(t.reply).toMatchObject({ role: 'error', status: 'failed', errorCode: 'transient_exhausted' });
    const rows = await attempts(id);
    expect(rows.map((r) => r.outcome)).toEqual([
      'retrying',
      'retrying',
      'retrying',
      'retrying',
      'retrying',
      'failed',
    ]);
    // Each failed attempt is announced as a retry (never as a failure); only the end is turn.failed.
    const events = await loggedTurn(sys, conv, id);
    const retries = events.filter((e) => e.type === 'turn.retrying');
    expect(retries.map((e) => e.attempt)).toEqual([1, 2, 3, 4, 5]);
    for (const r of retries) expect(Number.isNaN(Date.parse(r.retryAt))).toBe(false);
    expect(events.filter((e) => e.type === 'turn.failed')).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({ type: 'turn.failed', code: 'transient_exhausted' });
  });

  it('a mid-stream failure after chunks were published sends turn.reset, and the retry streams the whole reply', async () => {
    await faults([
      { fault: 'overloaded_midstream', times: 1, afterChunks: 4, match: { contains: 'midstream' } },
    ]);
    const conv = await createConversation(sys);
    const id = await postMessage(sys, conv, 'midstream trouble');
    const t = await waitForTurn(sys, conv, id, 60_000);
    expect(t.user.status).toBe('completed');
    const events = await loggedTurn(sys, conv, id);
    const types = events.map((e) => e.type);
    const reset = types.indexOf('turn.reset');
    expect(reset).toBeGreaterThan(types.indexOf('chunk'));
    const after = events.slice(types.lastIndexOf('turn.reset') + 1);
    const text = after.flatMap((e) => (e.type === 'chunk' ? [e.text] : [])).join('');
    expect(text).toBe(t.reply!.content);
    expect(types.at(-1)).toBe('turn.completed');
  });

  it('a fatal error fails at once with an error message the user can read', async () => {
    await faults([{ fault: 'auth', times: 1, match: { contains: 'fatal' } }]);
    const conv = await createConversation(sys);
    const id = await postMessage(sys, conv, 'fatal auth');
    const t = await waitForTurn(sys, conv, id);
    expect(t.reply).toMatchObject({ role: 'error', status: 'failed', errorCode: 'claude_auth' });
    expect(t.reply!.content).toMatch(/credentials/);
    expect((await attempts(id)).map((r) => r.outcome)).toEqual(['failed']);
  });

  it('an unexpected error on every attempt ends the message failed and readable, never stuck pending', async () => {
    // Break this one message's turns below the worker's error handling: its attempt rows cannot be written.
    await sys.tdb.sql.unsafe(`
      create function boom() returns trigger as $$
      begin
        if exists (select 1 from messages where id = new.message_id and content like '%kaboom%') then
          raise exception 'injected failure';
        end if;
        return new;
      end $$ language plpgsql;
      create trigger boom before insert on turn_attempts for each row execute function boom();`);
    const conv = await createConversation(sys);
    const id = await postMessage(sys, conv, 'kaboom');
    const t = await waitForTurn(sys, conv, id, 60_000);
    expect(t.user.status).toBe('failed');
    expect(t.reply).toMatchObject({ role: 'error', status: 'failed', errorCode: 'internal_error' });
    const events = await loggedTurn(sys, conv, id);
    expect(events.at(-1)).toMatchObject({ type: 'turn.failed', code: 'internal_error' });
    // The next message of the conversation is not blocked by it.
    const next = await postMessage(sys, conv, 'fine again');
    expect((await waitForTurn(sys, conv, next)).user.status).toBe('completed');
  });
});
