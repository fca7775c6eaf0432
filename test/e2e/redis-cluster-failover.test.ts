import { conversationKeys, TURNS_QUEUE } from '@turnstream/contracts';
import { createTurnStreams } from '@turnstream/streams';
import { freePort, type RedisCluster, startRedisCluster, waitFor, withTimeout } from '@turnstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConversationFollower } from '../support/conversation-follower.ts';
import {
  compareEventIds,
  fromLog,
  isTerminal,
  type ReceivedEvent,
  renderReply,
} from '../support/stream-events.ts';
import { TestSystem } from '../support/system.ts';
import { createConversation, history, postMessage, session, waitForTurn } from '../support/turns.ts';

// Scale-out on a real Redis Cluster (docs/deployment.md): six redis-server processes (three masters,
// three replicas), two API and two worker processes pointed at it with REDIS_CLUSTER_NODES only (their
// REDIS_URL goes nowhere), readers on SSE. The master serving the BullMQ queues and live conversation
// logs is SIGKILLed while their turns stream, without any pause: its replica is promoted. Every turn
// still completes once, in order, every reader rebuilds every reply from what it received, reset
// sessions stay cleared, and a turn is cancelled after the failover (cancels are plain pub/sub).

/** Conversations streaming through the failover on the killed master, and on the others. */
const PER_SIDE = 3;
/** Slow-ish replies, ~2.5 s each: a failover (a 1.5 s node timeout, then the election) lands inside one. */
const SLOW = '[[sim words=50 delay=50]]';

let cluster: RedisCluster;
let sys: TestSystem;
beforeAll(async () => {
  cluster = await startRedisCluster({ nodeTimeoutMs: 1500 });
  // Nothing listens there: a connection that ignores the cluster fails instead of using another Redis.
  const env = { REDIS_URL: `redis://127.0.0.1:${await freePort()}` };
  sys = await new TestSystem({
    apis: 2,
    workers: 2,
    redisClusterNodes: cluster.seedList,
    apiEnv: env,
    workerEnv: env,
  }).start();
}, 90_000);
afterAll(async () => {
  await sys?.stop();
  await cluster?.stop();
});

/** A conversation's log as the master serving its slot holds it now (a plain connection to that node). */
async function logOf(conversationId: string): Promise<ReceivedEvent[]> {
  const owner = await cluster.masterOf(conversationKeys(sys.redisPrefix, conversationId).log);
  return cluster.withNode(owner.port, async (node) =>
    (await createTurnStreams({ redis: node, keyPrefix: sys.redisPrefix }).read(conversationId)).map(fromLog),
  );
}

async function logLengthOn(port: number, conversationId: string): Promise<number> {
  return cluster.withNode(port, (node) => node.xlen(conversationKeys(sys.redisPrefix, conversationId).log));
}

/** The port of the master serving a conversation's keys (they share one hash slot). */
async function masterPortOf(conversationId: string): Promise<number> {
  return (await cluster.masterOf(conversationKeys(sys.redisPrefix, conversationId).log)).port;
}

/**
 * `PER_SIDE` conversations on the master at `victimPort` and as many on the others, `first` among them
 * (conversation ids are random: create until both sides are full).
 */
async function conversationsAround(victimPort: number, first: string): Promise<[string[], string[]]> {
  const onVictim: string[] = [];
  const elsewhere: string[] = [];
  for (let created = 0; onVictim.length < PER_SIDE || elsewhere.length < PER_SIDE; created++) {
    if (created > 100) throw new Error('no conversation landed on the victim master in 100 tries');
    const c = created === 0 ? first : await createConversation(sys);
    const side = (await masterPortOf(c)) === victimPort ? onVictim : elsewhere;
    if (side.length < PER_SIDE || c === first) side.push(c);
  }
  return [onVictim, elsewhere];
}

/** A turn whose reply is streaming now, as the follower sees it: chunks, no terminal event yet. */
function streamingTurn(f: ConversationFollower, messageIds: string[]): string | undefined {
  return messageIds.find((m) => {
    const events = f.eventsOf(m);
    return events.some((e) => e.type === 'chunk') && !events.some(isTerminal);
  });
}

/** A conversation whose only turn completed (so its session has an assistant session id), then reset. */
async function resetAfterATurn(conv: string, apiIndex: number): Promise<string> {
  const before = await session(sys, conv);
  expect(before.assistantSessionId).not.toBeNull();
  const res = await sys.api('POST', `/v1/conversations/${conv}/reset`, {}, apiIndex);
  expect(res.status).toBe(200);
  return before.assistantSessionId!;
}

/** Every turn of `conv` completed exactly once, one after the other; the stored replies, in order. */
async function expectCompletedInOrder(conv: string, messageIds: string[]): Promise<string[]> {
  const rows = await sys.tdb.sql<
    { id: string; seq: number; role: string; status: string; reply_to: string | null; content: string }[]
  >`
    select id, seq, role, status, reply_to, content from messages where conversation_id = ${conv} order by seq`;
  const replies: string[] = [];
  let lastReplySeq = -1;
  for (const id of messageIds) {
    expect(rows.find((r) => r.id === id)?.status, id).toBe('completed');
    const answers = rows.filter((r) => r.reply_to === id);
    expect(
      answers.map((r) => [r.role, r.status]),
      id,
    ).toEqual([['assistant', 'completed']]);
    expect(answers[0]!.seq).toBeGreaterThan(lastReplySeq);
    lastReplySeq = answers[0]!.seq;
    replies.push(answers[0]!.content);
  }
  const attempts = await sys.tdb.sql<{ message_id: string; n: number }[]>`
    select message_id, count(*)::int as n from turn_attempts
    where conversation_id = ${conv} and outcome = 'completed' group by message_id`;
  for (const id of messageIds) expect(attempts.find((a) => a.message_id === id)?.n, id).toBe(1);
  return replies;
}

/** Per message in posting order: one turn.completed, and nothing but its queued event before the previous one ended. */
function expectLogInOrder(log: ReceivedEvent[], messageIds: string[]): void {
  const types = (m: string) => log.filter((e) => e.data.messageId === m).map((e) => e.type);
  for (const m of messageIds) {
    expect(
      types(m).filter((t) => t === 'turn.completed'),
      m,
    ).toHaveLength(1);
    expect(
      types(m).some((t) => t === 'turn.failed' || t === 'turn.cancelled'),
      m,
    ).toBe(false);
  }
  for (let i = 1; i < messageIds.length; i++) {
    const previousEnd = log.findIndex((e) => e.data.messageId === messageIds[i - 1] && isTerminal(e));
    const firstWork = log.findIndex((e) => e.data.messageId === messageIds[i] && e.type !== 'turn.queued');
    expect(firstWork, messageIds[i]).toBeGreaterThan(previousEnd);
  }
}

function streamIdTime(id: string): number {
  return Number(id.split('-')[0]);
}

function expectStrictlyIncreasing(events: ReceivedEvent[]): void {
  for (let i = 1; i < events.length; i++) {
    expect(compareEventIds(events[i - 1]!.id, events[i]!.id), events[i]!.id).toBeLessThan(0);
  }
}

describe('Redis Cluster: a master fails over in the middle of streaming turns', () => {
  it('every turn completes once, in order; readers rebuild every reply across the failover; cleared sessions stay cleared', async () => {
    // Two conversations with a finished turn (an assistant session): one is reset before the failover,
    // the other while it happens.
    const resetBefore = await createConversation(sys);
    const resetDuring = await createConversation(sys);
    const cancelAfter = await createConversation(sys);
    const warmups = await Promise.all(
      [resetBefore, resetDuring].map((c, i) => postMessage(sys, c, `warm-up ${i} [[sim words=8]]`, {}, i)),
    );
    await Promise.all([resetBefore, resetDuring].map((c, i) => waitForTurn(sys, c, warmups[i]!)));
    const cleared = [await resetAfterATurn(resetBefore, 1)];

    // The master to kill: the one serving the BullMQ queues' slot (jobs, their locks and the workers'
    // blocking reads fail over too); conversations streaming through the failover on it and on the
    // others, the one reset before among them. Each is followed by a reader on one API; half of them
    // post through the other API.
    const victimPort = (await cluster.masterOf(`${sys.effectiveBullPrefix}:${TURNS_QUEUE}:wait`)).port;
    const [onVictim, elsewhere] = await conversationsAround(victimPort, resetBefore);
    const streamed = [...onVictim, ...elsewhere];
    const followers = new Map(streamed.map((c, i) => [c, new ConversationFollower(sys, c, i % 2)]));
    await Promise.all([...followers.values()].map((f) => f.start()));
    const posted = new Map<string, string[]>(streamed.map((c) => [c, []]));
    const post = async (conv: string, text: string, apiIndex: number) => {
      const id = await postMessage(sys, conv, text, {}, apiIndex);
      posted.get(conv)?.push(id);
      followers.get(conv)?.expect(id);
      return id;
    };
    // Two turns each, posted at once: the second waits for the first (one turn at a time per conversation).
    for (const [i, c] of streamed.entries()) {
      for (const n of [1, 2]) await post(c, `${SLOW} ${c} turn ${n}`, i % 3 === 0 ? i % 2 : 1 - (i % 2));
    }

    // Killed once each conversation on it is in the middle of a reply.
    await waitFor(
      () => onVictim.every((c) => streamingTurn(followers.get(c)!, posted.get(c)!) !== undefined),
      {
        timeoutMs: 30_000,
        intervalMs: 20,
        message: 'every conversation on the victim master to be streaming',
      },
    );
    for (const c of onVictim) expect(await logLengthOn(victimPort, c)).toBeGreaterThan(0);
    const liveAtKill = onVictim.map((c) => ({
      conv: c,
      messageId: streamingTurn(followers.get(c)!, posted.get(c)!)!,
    }));
    // Killed as it runs: no pause first. Replication is asynchronous, so the master may die with writes
    // its replica never got; with replication waits (REDIS_WAIT_REPLICAS, 1 on a cluster) no event is
    // released to readers before the replica has it, so none a reader saw can be lost.
    const killed = await cluster.killMasterOf(conversationKeys(sys.redisPrefix, onVictim[0]!).log);
    expect(killed.port).toBe(victimPort);
    const killedAt = Date.now();

    // While the replica takes over: the second reset (Postgres only, it must not wait for Redis).
    cleared.push(await resetAfterATurn(resetDuring, 0));
    const promoted = await cluster.waitForFailover(killed);
    expect(promoted.port).not.toBe(victimPort);

    // After the failover: half the readers of the victim's conversations resume on the other API with
    // Last-Event-ID (the others stay on the connection they had through the failover); a third turn
    // each, and a turn for the conversation reset during the failover.
    const switched = onVictim.filter((_, i) => i % 2 === 0);
    for (const c of switched) followers.get(c)!.switchApi();
    for (const [i, c] of streamed.entries()) await post(c, `${SLOW} ${c} turn 3`, i % 2);
    const afterReset = await postMessage(sys, resetDuring, 'after the reset [[sim words=8]]', {}, 1);
    // A cancel after the failover: the workers' cancel subscribers (plain pub/sub, on any node) may
    // have been on the killed master. The reply would take ~10 s; the cancel must end it first.
    const toCancel = await postMessage(sys, cancelAfter, '[[sim words=200 delay=50]] cancel me', {}, 0);
    await waitFor(
      async () =>
        (await history(sys, cancelAfter)).some(
          (m) => m.replyTo === toCancel && m.status === 'streaming' && m.content !== '',
        ),
      { timeoutMs: 30_000, intervalMs: 50, message: 'the turn to cancel to be streaming' },
    );
    const cancelled = await sys.api(
      'POST',
      `/v1/conversations/${cancelAfter}/messages/${toCancel}/cancel`,
      {},
      1,
    );
    expect(cancelled.status).toBe(202);
    expect(cancelled.body.status).toBe('cancelling');

    const received = new Map<string, ReceivedEvent[]>();
    await withTimeout(
      Promise.all([...followers.entries()].map(async ([c, f]) => received.set(c, await f.finish()))),
      45_000,
      'every reader to receive the end of every turn',
    );
    await waitForTurn(sys, resetDuring, afterReset);
    const cancelledTurn = await waitForTurn(sys, cancelAfter, toCancel);
    expect([cancelledTurn.user.status, cancelledTurn.reply?.status]).toEqual(['cancelled', 'cancelled']);

    for (const c of streamed) {
      const ids = posted.get(c)!;
      const replies = await expectCompletedInOrder(c, ids);
      const log = await logOf(c);
      expectLogInOrder(log, ids);
      const events = received.get(c)!;
      expectStrictlyIncreasing(events);
      expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
      // What the reader received is the log (the same events, ids, order), and it renders the stored replies.
      expect(events).toEqual(log);
      ids.forEach((m, n) => {
        expect(renderReply(events, m), `${c} ${m}`).toBe(replies[n]);
        expect(renderReply(log, m)).toBe(replies[n]);
        expect(events.filter((e) => e.data.messageId === m && e.type === 'turn.completed')).toHaveLength(1);
      });
    }
    // The turns live at the kill really went through it: their slot moved to the promoted replica, their
    // log went on there after the kill (a stream id is its entry's time).
    for (const { conv, messageId } of liveAtKill) {
      expect((await cluster.masterOf(conversationKeys(sys.redisPrefix, conv).log)).port).toBe(promoted.port);
      const later = received
        .get(conv)!
        .filter((e) => e.data.messageId === messageId && streamIdTime(e.id) > killedAt);
      expect(later.length, messageId).toBeGreaterThan(0);
      if (switched.includes(conv)) expect(followers.get(conv)!.connections).toBeGreaterThanOrEqual(2);
    }

    // Cleared assistant sessions are never set again; both conversations went on with fresh ones.
    for (const [c, id] of [
      [resetBefore, cleared[0]!],
      [resetDuring, cleared[1]!],
    ] as const) {
      const [transcript] = await sys.tdb.sql<{ status: string; cleared_at: Date }[]>`
        select status, cleared_at from assistant_transcripts where id = ${id}`;
      expect(transcript?.status).toBe('cleared');
      const reused = await sys.tdb.sql`
        select 1 from sessions where assistant_session_id = ${id} and status = 'active'
        union all
        select 1 from turn_attempts where assistant_session_id = ${id} and started_at > ${transcript!.cleared_at}`;
      expect(reused).toHaveLength(0);
      const now = (await session(sys, c)).assistantSessionId;
      expect(now).not.toBeNull();
      expect(now).not.toBe(id);
    }

    // Nothing crashed on the way.
    for (const p of [...sys.apis.map((a) => a.proc), ...sys.workers]) expect(p.running, p.name).toBe(true);
  }, 110_000);
});
