import { isTerminalEvent } from '@turnstream/contracts';
import { chooseSeed, SEED_ENV, testRandom } from '@turnstream/testkit';
import { describe, expect, it } from 'vitest';
import { addFaults, clearFaults } from '../support/sim-faults.ts';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, loggedTurn, postMessage, waitForTurn } from '../support/turns.ts';

// Randomized fault schedules (seeded; a failure prints its seed, TEST_SEED=<n> replays it): whatever the
// faults, every message ends in exactly one terminal state and no cleared id is ever used again.
const SEEDS = process.env[SEED_ENV] ? [chooseSeed(process.env)] : [11, 22, 33];

const TRANSIENT = [
  'overloaded',
  'server_error',
  'rate_limited',
  'overloaded_midstream',
  'disconnect_midstream',
  'stall',
];
const FATAL = ['invalid_request', 'auth'];

const sys = systemFixture({
  workers: 2,
  workerEnv: { RETRY_BACKOFF_SCALE: '0.02', CLAUDE_IDLE_TIMEOUT_MS: '800', WORKER_CONCURRENCY: '10' },
});

describe.each(SEEDS)('fault schedule, seed %i', (seed) => {
  it('ends every message in exactly one terminal state and never reuses a cleared id', async () => {
    const rnd = testRandom(seed, 'fault schedule');
    const pick = <T>(xs: T[]) => rnd.pick(xs);
    await clearFaults(sys);
    const convs = await Promise.all(
      [0, 1, 2].map((i) => createConversation(sys, i === 0 ? { thinking: { budgetTokens: 1024 } } : {})),
    );
    const expected = new Map<string, 'completed' | 'failed'>();
    const all: Array<{ conv: string; id: string }> = [];

    for (let wave = 0; wave < 4; wave++) {
      if (wave > 0 && rnd.next() < 0.4) await sys.sim_('/__sim/rotate-signing-key', { method: 'POST' });
      const rules: unknown[] = [];
      const plan = convs.map((conv, c) => {
        const tag = `s${seed}-c${c}-w${wave}`;
        const r = rnd.next();
        let outcome: 'completed' | 'failed' = 'completed';
        if (r < 0.5) {
          const fault = pick(TRANSIENT);
          rules.push({
            fault,
            times: 1 + Math.floor(rnd.next() * 3),
            match: { contains: tag },
            retryAfterMs: 100,
            afterChunks: Math.floor(rnd.next() * 5),
          });
        } else if (r < 0.65) {
          rules.push({ fault: pick(FATAL), times: 1, match: { contains: tag } });
          outcome = 'failed';
        }
        return { conv, tag, outcome };
      });
      if (rules.length) await addFaults(sys, rules);
      const ids = await Promise.all(plan.map((p) => postMessage(sys, p.conv, `message ${p.tag}`)));
      ids.forEach((id, i) => {
        expected.set(id, plan[i]!.outcome);
        all.push({ conv: plan[i]!.conv, id });
      });
      for (let i = 0; i < ids.length; i++) await waitForTurn(sys, plan[i]!.conv, ids[i]!, 60_000);
    }

    // One terminal state per message, matching the database and the expected outcome.
    for (const { conv, id } of all) {
      const rows = await sys.tdb.sql<{ role: string; status: string; reply_to: string | null }[]>`
        select role, status, reply_to from messages where id = ${id} or reply_to = ${id} order by seq`;
      const user = rows.find((r) => r.reply_to === null)!;
      const replies = rows.filter((r) => r.reply_to === id);
      expect(user.status, `message ${id}`).toBe(expected.get(id));
      expect(replies).toHaveLength(1);
      expect([replies[0]!.role, replies[0]!.status]).toEqual(
        user.status === 'completed' ? ['assistant', 'completed'] : ['error', 'failed'],
      );
      const terminal = (await loggedTurn(sys, conv, id)).filter(isTerminalEvent);
      expect(terminal.map((e) => e.type)).toEqual([
        user.status === 'completed' ? 'turn.completed' : 'turn.failed',
      ]);
    }

    // No attempt ever started with (and no session ever points at) an id cleared before.
    const reused = await sys.tdb.sql`
      select a.id from turn_attempts a join assistant_transcripts t on t.id = a.assistant_session_id
      where t.status = 'cleared' and t.cleared_at < a.started_at`;
    expect(reused).toHaveLength(0);
    const pointing = await sys.tdb.sql`
      select s.id from sessions s join assistant_transcripts t on t.id = s.assistant_session_id where t.status = 'cleared'`;
    expect(pointing).toHaveLength(0);
    const pending = await sys.tdb.sql`select id from messages where status in ('pending', 'streaming')`;
    expect(pending).toHaveLength(0);
  });
});
