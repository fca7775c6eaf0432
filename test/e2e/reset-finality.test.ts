import { duplicateRedis } from '@turnstream/config';
import { TURNS_QUEUE, turnJobId } from '@turnstream/contracts';
import { createTurnStreams } from '@turnstream/streams';
import { waitFor } from '@turnstream/testkit';
import { Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { setFaults } from '../support/sim-faults.ts';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, postMessage, session, waitForTurn } from '../support/turns.ts';

// A reset is final: nothing stored before it reaches Claude afterwards, whatever the running turn does.
// Retries wait 50-100 s: a retry that happens at all within a test's time is one the reset woke.
const sys = systemFixture({ workerEnv: { RETRY_BACKOFF_SCALE: '50' } });

// biome-ignore lint/suspicious/noExplicitAny: the simulator's request log, asserted field by field
type Req = any;

async function requestsWith(text: string): Promise<Req[]> {
  return (await sys.simRequests()).filter((r: Req) => JSON.stringify(r.body?.messages ?? []).includes(text));
}

/** The simulator request whose last message is the given user text. */
async function requestFor(text: string): Promise<Req> {
  return waitFor(
    async () =>
      (await sys.simRequests()).find((r: Req) => JSON.stringify(r.body?.messages?.at(-1)).includes(text)) ??
      null,
    { message: `request for "${text}"` },
  );
}

async function reset(conv: string): Promise<number> {
  const res = await sys.api('POST', `/v1/conversations/${conv}/reset`, {});
  expect(res.status).toBe(200);
  return Date.now();
}

const faults = (rules: unknown[]) => setFaults(sys, rules);

describe('reset finality', () => {
  it('a reset during a streaming turn: the reply finishes, but nothing from before the reset reaches Claude afterwards', async () => {
    const conv = await createConversation(sys);
    const alpha = await postMessage(sys, conv, 'alpha-marker question');
    expect((await waitForTurn(sys, conv, alpha)).user.status).toBe('completed');

    const beta = await postMessage(sys, conv, 'beta-marker long answer [[sim words=300 delay=20]]');
    const streams = createTurnStreams({ redis: sys.redis, keyPrefix: sys.redisPrefix });
    await waitFor(
      async () =>
        (await streams.read(conv)).some((e) => e.event.type === 'chunk' && e.event.messageId === beta),
      { message: 'first chunk of the long turn' },
    );
    const resetAt = await reset(conv);
    const betaTurn = await waitForTurn(sys, conv, beta);
    // The turn running at the reset finishes its reply (visible in the history)...
    expect(betaTurn.user.status).toBe('completed');
    expect(betaTurn.reply?.status).toBe('completed');
    expect(Date.parse((await requestFor('beta-marker')).endTime)).toBeGreaterThan(resetAt);
    // ...but its transcript (with the pre-reset context) is not attached to the new session.
    expect((await session(sys, conv)).assistantSessionId).toBeNull();

    const gamma = await postMessage(sys, conv, 'gamma after the reset');
    expect((await waitForTurn(sys, conv, gamma)).user.status).toBe('completed');
    const gammaReq = await requestFor('gamma after the reset');
    expect(gammaReq.body.messages).toHaveLength(1);
    const delta = await postMessage(sys, conv, 'delta after the reset');
    expect((await waitForTurn(sys, conv, delta)).user.status).toBe('completed');
    const deltaReq = await requestFor('delta after the reset');
    // The new session carries on with what came after the reset only.
    expect(deltaReq.body.messages).toHaveLength(3);
    for (const req of [gammaReq, deltaReq]) {
      const sent = JSON.stringify(req.body.messages);
      expect(sent).not.toContain('alpha-marker');
      expect(sent).not.toContain('beta-marker');
      expect(sent).not.toContain(betaTurn.reply!.content.slice(0, 40));
    }
  });

  it('a session cleared by recovery after a reset is rebuilt from post-reset history only', async () => {
    const conv = await createConversation(sys, { thinking: { budgetTokens: 1024 } });
    const before = await postMessage(sys, conv, 'epsilon-marker before');
    expect((await waitForTurn(sys, conv, before)).user.status).toBe('completed');
    await reset(conv);
    const after = await postMessage(sys, conv, 'zeta after');
    expect((await waitForTurn(sys, conv, after)).user.status).toBe('completed');
    // The signing key changes: the stored transcript is rejected, cleared and rebuilt from history.
    expect((await sys.sim_('/__sim/rotate-signing-key', { method: 'POST' })).ok).toBe(true);
    const next = await postMessage(sys, conv, 'eta rebuilt');
    expect((await waitForTurn(sys, conv, next)).user.status).toBe('completed');
    const sent = (await requestsWith('eta rebuilt')).map((r: Req) => JSON.stringify(r.body.messages));
    expect(sent).toHaveLength(2);
    expect(sent[1]).toContain('zeta after');
    for (const body of sent) expect(body).not.toContain('epsilon-marker');
  });

  it('a turn from before the reset waiting to retry is cancelled at once, without calling Claude again', async () => {
    await faults([{ fault: 'overloaded', times: 1, match: { contains: 'theta-marker' } }]);
    const conv = await createConversation(sys);
    const theta = await postMessage(sys, conv, 'theta-marker retried later');
    await waitFor(
      async () =>
        (await sys.tdb.sql`select 1 from turn_attempts where message_id = ${theta} and outcome = 'retrying'`)
          .length > 0,
      { message: 'the first attempt to fail and wait for its retry' },
    );
    // Reset once the job sits in the delayed set, waiting out its backoff.
    const delayedKey = `${sys.bullPrefix}:${TURNS_QUEUE}:delayed`;
    await waitFor(async () => (await sys.redis.zscore(delayedKey, turnJobId(theta))) !== null, {
      intervalMs: 5,
      message: 'the retry to be delayed by its backoff',
    });
    await reset(conv);
    const iota = await postMessage(sys, conv, 'iota after the reset');
    // Both end long before the retry's backoff would have: the reset woke the waiting turn.
    const thetaTurn = await waitForTurn(sys, conv, theta);
    expect(thetaTurn.user.status).toBe('cancelled');
    expect((await waitForTurn(sys, conv, iota)).user.status).toBe('completed');
    expect(await requestsWith('theta-marker')).toHaveLength(1);
    const iotaReq = await requestFor('iota after the reset');
    expect(iotaReq.body.messages).toHaveLength(1);
  });

  it('a transcript rejected after a reset during the turn costs no attempt: the job is handed back, the turn cancelled', async () => {
    // Claude rejects the request's transcript (a stale thinking signature), but only after the reset.
    await faults([
      {
        fault: 'invalid_request',
        times: 1,
        held: true,
        message: 'messages.1.content.0: Invalid `signature` in `thinking` block',
        match: { contains: 'kappa-marker' },
      },
    ]);
    const conv = await createConversation(sys);
    const kappa = await postMessage(sys, conv, 'kappa-marker rejected after the reset');
    await requestFor('kappa-marker');
    await reset(conv);
    const released = await sys.sim_('/__sim/faults/release', { method: 'POST' });
    expect(await released.json()).toEqual({ released: 1 });

    // The turn cannot clear a session the reset ended: it hands its job back, and the next run cancels
    // it as a message from before the reset, without calling Claude again.
    const kappaTurn = await waitForTurn(sys, conv, kappa);
    expect(kappaTurn.user.status).toBe('cancelled');
    expect(await requestsWith('kappa-marker')).toHaveLength(1);
    const attempts = await sys.tdb.sql<{ attempt: number; outcome: string; error_code: string | null }[]>`
      select attempt, outcome, error_code from turn_attempts where message_id = ${kappa} order by started_at`;
    expect(attempts).toEqual([{ attempt: 1, outcome: 'interrupted', error_code: 'session_reset' }]);
    // Not the turn's failure: no retry attempt used; the run that cancelled it is the job's only one
    // (BullMQ counts a finished run in attemptsMade).
    const queue = new Queue(TURNS_QUEUE, {
      connection: duplicateRedis(sys.redis, { maxRetriesPerRequest: null }),
      prefix: sys.bullPrefix,
    });
    try {
      expect((await queue.getJob(turnJobId(kappa)))?.attemptsMade).toBe(1);
    } finally {
      await queue.close();
    }
  });
});
