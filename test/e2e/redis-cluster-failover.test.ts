import { conversationKeys } from '@turnstream/contracts';
import { type RedisCluster, SseReader, startRedisCluster, waitFor, withTimeout } from '@turnstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTerminal, parseSse, type ReceivedEvent, renderReply } from '../support/stream-events.ts';
import { TestSystem } from '../support/system.ts';
import { createConversation, history, postMessage, waitForTurn } from '../support/turns.ts';

// Turnstream on a real Redis Cluster (three masters, three replicas): two API processes and two workers,
// SSE readers attached, one master killed mid-run so that its replica is promoted.
const CONVERSATIONS = 6;
const TURNS = 3;

let cluster: RedisCluster;
let sys: TestSystem;

beforeAll(async () => {
  cluster = await startRedisCluster();
  sys = await new TestSystem({ apis: 2, workers: 2, redisClusterNodes: cluster.seedList }).start();
}, 180_000);

afterAll(async () => {
  await sys?.stop();
  await cluster?.stop();
}, 60_000);

/**
 * Follows a conversation's events through one API replica until `turns` terminal events arrived,
 * reconnecting with `Last-Event-ID` (on the other replica) whenever a response ends or fails.
 */
async function follow(conversationId: string, apiIndex: number, turns: number, received: ReceivedEvent[]) {
  let api = apiIndex;
  let reader = new SseReader(`${sys.apis[api]!.url}/v1/conversations/${conversationId}/events`, {
    headers: { authorization: `Bearer ${sys.apiKey}` },
  });
  let reconnects = 0;
  const terminals = () => received.filter(isTerminal).length;
  try {
    await reader.open();
    while (terminals() < turns) {
      const frame = await withTimeout(reader.next(), 60_000, 'an SSE event').catch(() => null);
      if (frame?.event !== undefined && frame.id !== undefined) {
        received.push(parseSse(frame));
        continue;
      }
      if (frame) continue; // a comment
      // The response ended (or failed): resume after the last event, on the other replica.
      reconnects++;
      const lastEventId = reader.lastEventId;
      reader.close();
      api = (api + 1) % sys.apis.length;
      reader = new SseReader(`${sys.apis[api]!.url}/v1/conversations/${conversationId}/events`, {
        headers: { authorization: `Bearer ${sys.apiKey}` },
        ...(lastEventId ? { lastEventId } : {}),
      });
      await reader.open().catch(() => undefined);
    }
  } finally {
    reader.close();
  }
  return reconnects;
}

describe('a Redis Cluster master fails over mid-run', () => {
  it('every turn completes once, in order; SSE readers rebuild every reply; no cleared session id is set again', async () => {
    const conversations: string[] = [];
    for (let i = 0; i < CONVERSATIONS; i++) conversations.push(await createConversation(sys));
    // The master to kill: the one holding the BullMQ queues' slot, so jobs, leases and live events all
    // fail over, with at least one conversation on it.
    const bullMaster = await cluster.masterOf(`${sys.effectiveBullPrefix}:turns:wait`);
    while (
      (
        await Promise.all(
          conversations.map((c) => cluster.masterOf(conversationKeys(sys.redisPrefix, c).log)),
        )
      ).every((owner) => owner.port !== bullMaster.port)
    ) {
      conversations.push(await createConversation(sys));
    }

    const received = new Map(conversations.map((c) => [c, [] as ReceivedEvent[]]));
    const readers = conversations.map((c, i) => follow(c, i % 2, TURNS, received.get(c)!));
    const posted = new Map<string, string[]>();
    for (const [i, c] of conversations.entries()) {
      const ids: string[] = [];
      for (let t = 0; t < TURNS; t++) {
        ids.push(
          await postMessage(sys, c, `[[sim words=60 delay=8]] conversation ${i} turn ${t}`, {}, (i + t) % 2),
        );
      }
      posted.set(c, ids);
    }
    // Mid-run: every conversation has streamed part of its first reply.
    await waitFor(() => conversations.every((c) => received.get(c)!.some((e) => e.type === 'chunk')), {
      timeoutMs: 60_000,
      message: 'every conversation streaming',
    });
    const killed = await cluster.killMasterOf(`${sys.effectiveBullPrefix}:turns:wait`);
    const promoted = await cluster.waitForFailover(killed);
    expect(promoted.port).not.toBe(killed.port);
    expect(conversations.some((c) => received.get(c)!.filter(isTerminal).length < TURNS)).toBe(true);

    const reconnects = await withTimeout(
      Promise.all(readers),
      180_000,
      'every SSE reader to see every turn end',
    );
    for (const c of conversations) {
      const ids = posted.get(c)!;
      for (const id of ids) await waitForTurn(sys, c, id, 60_000);
      const messages = await history(sys, c);
      const events = received.get(c)!;
      // Every turn completed, once, in the order posted.
      const completions = events.filter((e) => e.type === 'turn.completed').map((e) => e.data.messageId);
      expect(completions, c).toEqual(ids);
      for (const id of ids) {
        const replies = messages.filter((m) => m.replyTo === id);
        expect(
          replies.map((r) => r.status),
          `${c} ${id}`,
        ).toEqual(['completed']);
        // The reader rebuilt each reply exactly (no chunk lost or repeated across the failover).
        expect(renderReply(events, id), `${c} ${id}`).toBe(replies[0]!.content);
      }
      // Event ids strictly increase for each reader (resumes neither repeat nor skip back).
      const seen = events.map((e) => e.id);
      expect(new Set(seen).size, c).toBe(seen.length);
    }
    const { sql } = sys.tdb;
    const attemptsOnCleared = await sql`
      select a.message_id from turn_attempts a join assistant_transcripts t on t.id = a.assistant_session_id
      where t.status = 'cleared' and t.cleared_at < a.started_at`;
    const sessionsOnCleared = await sql`
      select s.id from sessions s join assistant_transcripts t on t.id = s.assistant_session_id
      where t.status = 'cleared' and (s.status = 'active' or s.updated_at > t.cleared_at)`;
    expect(attemptsOnCleared).toHaveLength(0);
    expect(sessionsOnCleared).toHaveLength(0);
    // Both workers ran turns; a failover happened while readers were attached.
    const attempts = await sql<{ worker_id: string }[]>`select distinct worker_id from turn_attempts`;
    expect(attempts.length).toBe(2);
    console.info(
      `redis-cluster-failover: killed ${killed.port} (slot ${killed.slot}), promoted ${promoted.port}; ` +
        `${conversations.length} conversations x ${TURNS} turns; SSE reconnects ${reconnects.reduce((a, b) => a + b, 0)}`,
    );
  }, 300_000);
});
