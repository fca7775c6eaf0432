import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { TurnEvent } from '@turnstream/contracts';
import { createEventSubscriber } from '@turnstream/streams';
import { parseSseText, type SseFrame, SseReader, waitFor } from '@turnstream/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { createApiMetrics } from '../src/metrics.ts';
import { harnessFixture, tenantFixture } from './helpers.ts';

const HIGH_WATER_MARK = 50;
const h = harnessFixture({ highWaterMark: HIGH_WATER_MARK });
const t = tenantFixture(h);
let base: string;

beforeAll(async () => {
  base = await h.listen();
});

async function newConversation(): Promise<string> {
  return (await h.request('POST', '/v1/conversations', { key: t.keys.client, body: {} })).body.id;
}

function reader(
  conversationId: string,
  query = '',
  headers: Record<string, string> = {},
  url = base,
): SseReader {
  return new SseReader(`${url}/v1/conversations/${conversationId}/events${query}`, {
    headers: { authorization: `Bearer ${t.keys.viewer}`, ...headers },
  });
}

const chunk = (messageId: string, text: string): TurnEvent => ({ type: 'chunk', messageId, text });
const completed = (messageId: string, content: string): TurnEvent => ({
  type: 'turn.completed',
  messageId,
  replyId: randomUUID(),
  content,
  stopReason: 'end_turn',
});

async function publish(conversationId: string, events: TurnEvent[]): Promise<string[]> {
  const res = await h.streams.publish(conversationId, null, events);
  if (!res.ok) throw new Error('publish refused');
  return res.ids;
}

// biome-ignore lint/suspicious/noExplicitAny: test assertions read arbitrary event fields
function data(frame: SseFrame): any {
  return JSON.parse(frame.data!);
}

describe('GET /v1/conversations/:id/events', () => {
  it('streams live events with id:, event: and data: lines, in order', async () => {
    const conv = await newConversation();
    const sse = reader(conv);
    expect(await sse.open()).toBe(200);
    expect(sse.headers!.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(sse.headers!.get('cache-control')).toContain('no-cache');
    expect(sse.headers!.get('x-accel-buffering')).toBe('no');
    expect(sse.headers!.get('connection')).toBe('keep-alive');
    await waitFor(() => h.metrics.sseClientsOpen >= 1);

    const m = randomUUID();
    const ids = await publish(conv, [{ type: 'turn.queued', messageId: m }]);
    ids.push(...(await publish(conv, [chunk(m, 'Hel'), chunk(m, 'lo')])));
    ids.push(...(await publish(conv, [completed(m, 'Hello')])));

    const frames = await sse.take(4);
    expect(frames.map((f) => f.id)).toEqual(ids);
    expect(frames.map((f) => f.event)).toEqual(['turn.queued', 'chunk', 'chunk', 'turn.completed']);
    expect(frames.map((f) => data(f).type)).toEqual(['turn.queued', 'chunk', 'chunk', 'turn.completed']);
    expect(data(frames[1]!)).toEqual({ type: 'chunk', messageId: m, text: 'Hel' });
    sse.close();
    await waitFor(() => h.metrics.sseClientsOpen === 0, { message: 'stream closed after client disconnect' });
  });

  it('replays the log to a late subscriber, then goes live', async () => {
    const conv = await newConversation();
    const m = randomUUID();
    const early = await publish(conv, [chunk(m, 'a'), chunk(m, 'b'), chunk(m, 'c')]);
    const sse = reader(conv);
    await sse.open();
    const late = await publish(conv, [chunk(m, 'd')]);
    const frames = await sse.take(4);
    expect(frames.map((f) => f.id)).toEqual([...early, ...late]);
    expect(frames.map((f) => data(f).text).join('')).toBe('abcd');
    sse.close();
  });

  it('resumes exactly after Last-Event-ID (header or ?lastEventId=)', async () => {
    for (const variant of ['header', 'query'] as const) {
      const conv = await newConversation();
      const m = randomUUID();
      const ids = await publish(
        conv,
        ['a', 'b', 'c', 'd', 'e'].map((x) => chunk(m, x)),
      );
      const sse =
        variant === 'header'
          ? reader(conv, '', { 'last-event-id': ids[1]! })
          : reader(conv, `?lastEventId=${ids[1]}`);
      await sse.open();
      const frames = await sse.take(3);
      expect(frames.map((f) => f.id)).toEqual(ids.slice(2));
      expect(frames.map((f) => data(f).text)).toEqual(['c', 'd', 'e']);
      const more = await publish(conv, [chunk(m, 'f')]);
      expect((await sse.take(1))[0]!.id).toBe(more[0]);
      sse.close();
    }
  });

  it('announces stream.gap when Last-Event-ID is older than what a trimmed log still holds', async () => {
    const conv = await newConversation();
    const m = randomUUID();
    const ids = await publish(
      conv,
      ['a', 'b', 'c', 'd', 'e'].map((x) => chunk(m, x)),
    );
    // What MAXLEN trimming does to a long conversation's log.
    await h.redis.xtrim(h.streams.keys(conv).log, 'MAXLEN', 2);
    const gapped = reader(conv, '', { 'last-event-id': ids[0]! });
    await gapped.open();
    const [first, ...rest] = await gapped.take(3);
    expect(first!.event).toBe('stream.gap');
    expect(data(first!)).toMatchObject({ type: 'stream.gap', after: ids[0], oldestId: ids[3] });
    expect(rest.map((f) => f.id)).toEqual(ids.slice(3));
    gapped.close();
    // Resuming from an id the log still reaches: no gap.
    const fine = reader(conv, '', { 'last-event-id': ids[3]! });
    await fine.open();
    const [next] = await fine.take(1);
    expect(next!.id).toBe(ids[4]);
    fine.close();
  });

  it('ends ?messageId=&until=turn with the turn end read from the database when the log no longer has it', async () => {
    const conv = await newConversation();
    const posted = await h.request('POST', `/v1/conversations/${conv}/messages`, {
      key: t.keys.client,
      body: { content: 'long ago' },
    });
    const messageId = posted.body.messageId as string;
    // The turn ended a while ago and its events have left the log (expired).
    await h.tdb.sql`
      insert into messages (tenant_id, conversation_id, seq, role, content, status, reply_to, stop_reason, completed_at)
      values (${t.tenantId}, ${conv}, 99, 'assistant', 'the old reply', 'completed', ${messageId}, 'end_turn', now() - interval '1 hour')`;
    await h.tdb
      .sql`update messages set status = 'completed', completed_at = now() - interval '1 hour' where id = ${messageId}`;
    await h.redis.del(h.streams.keys(conv).log);
    const sse = reader(conv, `?messageId=${messageId}&until=turn`);
    await sse.open();
    const frames = await sse.rest();
    expect(frames.map((f) => f.event)).toEqual(['turn.completed']);
    expect(data(frames[0]!)).toMatchObject({ messageId, content: 'the old reply', stopReason: 'end_turn' });
  });

  it('with ?until=turn ends cleanly after the first terminal event (a retry announcement is not one)', async () => {
    const conv = await newConversation();
    const m = randomUUID();
    const sse = reader(conv, '?until=turn');
    await sse.open();
    await publish(conv, [
      chunk(m, 'x'),
      {
        type: 'turn.retrying',
        messageId: m,
        code: 'overloaded',
        attempt: 1,
        retryAt: new Date().toISOString(),
      },
      { type: 'turn.rate_limited', messageId: m, retryAt: new Date().toISOString() },
      { type: 'turn.reset', messageId: m, reason: 'overloaded' },
      chunk(m, 'y'),
      completed(m, 'y'),
      chunk(randomUUID(), 'after the end'),
    ]);
    const frames = await sse.rest();
    expect(frames.map((f) => f.event)).toEqual([
      'chunk',
      'turn.retrying',
      'turn.rate_limited',
      'turn.reset',
      'chunk',
      'turn.completed',
    ]);
    expect(sse.ended).toBe(true);
  });

  it('with ?messageId= sends only that turn and ends on its terminal event', async () => {
    const conv = await newConversation();
    const other = randomUUID();
    const posted = await h.request('POST', `/v1/conversations/${conv}/messages`, {
      key: t.keys.client,
      body: { content: 'x' },
    });
    const mine: string = posted.body.messageId;
    const sse = reader(conv, `?messageId=${mine}&until=turn`);
    await sse.open();
    await publish(conv, [
      chunk(other, 'no'),
      chunk(mine, 'yes'),
      completed(other, 'no'),
      completed(mine, 'yes'),
    ]);
    const frames = await sse.rest();
    expect(frames.map((f) => [f.event, data(f).messageId])).toEqual([
      ['turn.queued', mine],
      ['chunk', mine],
      ['turn.completed', mine],
    ]);
  });

  it('ends a ?until=turn stream on turn.cancelled', async () => {
    const conv = await newConversation();
    const m = randomUUID();
    const sse = reader(conv, `?until=turn`);
    await sse.open();
    await publish(conv, [{ type: 'turn.cancelled', messageId: m, replyId: null }]);
    expect((await sse.rest()).map((f) => f.event)).toEqual(['turn.cancelled']);
  });

  it('sends heartbeat comments', async () => {
    const app = h.build({ config: { sseHeartbeatMs: 30 } });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const conv = await newConversation();
    const sse = reader(conv, '', {}, url);
    await sse.open();
    await sse.waitForComment((c) => c === 'heartbeat');
    expect(sse.comments[0]).toBe('connected');
    sse.close();
    await app.close();
  });

  it('answers errors as JSON before the stream starts', async () => {
    const conv = await newConversation();
    const badId = await h.request('GET', `/v1/conversations/${conv}/events`, {
      key: t.keys.viewer,
      headers: { 'last-event-id': 'yesterday' },
    });
    expect(badId.status).toBe(400);
    expect(badId.body.error).toMatchObject({ code: 'validation_failed' });
    expect(badId.body.error.message).toContain('must be an event id');
    expect(badId.body.error.details.issues[0].location).toBe('headers');

    const badQuery = await h.request('GET', `/v1/conversations/${conv}/events?until=forever`, {
      key: t.keys.viewer,
    });
    expect(badQuery.status).toBe(400);
    expect(badQuery.body.error.message).toContain('until: must be one of "turn"');

    const unknownConv = await h.request('GET', `/v1/conversations/${randomUUID()}/events`, {
      key: t.keys.viewer,
    });
    expect(unknownConv.body.error.code).toBe('conversation_not_found');

    const unknownMessage = await h.request(
      'GET',
      `/v1/conversations/${conv}/events?messageId=${randomUUID()}`,
      {
        key: t.keys.viewer,
      },
    );
    expect(unknownMessage.status).toBe(404);
    expect(unknownMessage.body.error.code).toBe('message_not_found');

    const noKey = await h.request('GET', `/v1/conversations/${conv}/events`);
    expect(noKey.status).toBe(401);
  });

  it('serves the same events with the same ids from two API replicas', async () => {
    const subscriber2 = createEventSubscriber({ redis: h.connection(), streams: h.streams });
    const replica = h.build({ subscriber: subscriber2, metrics: createApiMetrics() });
    const url2 = await replica.listen({ port: 0, host: '127.0.0.1' });
    const conv = await newConversation();
    const a = reader(conv, '?until=turn');
    const b = reader(conv, '?until=turn', {}, url2);
    await Promise.all([a.open(), b.open()]);
    const m = randomUUID();
    for (let i = 0; i < 20; i++) await publish(conv, [chunk(m, `${i} `)]);
    await publish(conv, [completed(m, 'done')]);
    const [fa, fb] = await Promise.all([a.rest(), b.rest()]);
    expect(fa).toHaveLength(21);
    expect(fb.map((f) => [f.id, f.event, f.data])).toEqual(fa.map((f) => [f.id, f.event, f.data]));
    await replica.close();
    await subscriber2.close();
  });

  it('disconnects a client that cannot keep up with stream.overflow and a resumable id', async () => {
    const conv = await newConversation();
    const m = randomUUID();
    const overflowsBefore = h.metrics.sseOverflows;

    // A client that stops reading: its socket fills, the server stops writing (backpressure), the
    // subscription's buffer reaches the high-water mark and the server ends the response.
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.get(
        `${base}/v1/conversations/${conv}/events`,
        { headers: { authorization: `Bearer ${t.keys.viewer}` } },
        (r) => {
          r.pause();
          resolve(r);
        },
      );
      req.on('error', reject);
    });
    expect(res.statusCode).toBe(200);

    const big = 'x'.repeat(64 * 1024);
    const published: string[] = [];
    while (h.metrics.sseOverflows === overflowsBefore) {
      published.push(...(await publish(conv, [chunk(m, big)])));
      if (published.length > 5000) throw new Error('no overflow after 5000 events');
    }
    published.push(...(await publish(conv, [completed(m, 'end')])));

    // Now read what the slow client got: a prefix of the log, then stream.overflow naming the last id sent.
    let text = '';
    res.setEncoding('utf8');
    for await (const part of res) text += part;
    const frames = parseSseText(text).filter((f) => f.event !== undefined);
    const last = frames.at(-1)!;
    expect(last.event).toBe('stream.overflow');
    const delivered = frames.slice(0, -1);
    expect(delivered.length).toBeGreaterThan(0);
    expect(delivered.length).toBeLessThan(published.length);
    expect(delivered.map((f) => f.id)).toEqual(published.slice(0, delivered.length));
    const lastEventId = delivered.at(-1)!.id!;
    expect(data(last)).toEqual({ type: 'stream.overflow', lastEventId });
    expect(last.id).toBe(lastEventId);

    // The client resumes with that id and gets exactly the rest.
    const resumed = reader(conv, '?until=turn', { 'last-event-id': lastEventId });
    await resumed.open();
    const rest = await resumed.rest();
    expect([...delivered, ...rest].map((f) => f.id)).toEqual(published);
  });

  it('ends open streams with a final comment when the app closes', async () => {
    const app = h.build({ metrics: createApiMetrics() });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const conv = await newConversation();
    const sse = reader(conv, '', {}, url);
    await sse.open();
    await sse.waitForComment((c) => c === 'connected');
    const m = randomUUID();
    await publish(conv, [chunk(m, 'before')]);
    expect((await sse.take(1))[0]!.event).toBe('chunk');
    await app.close();
    expect(await sse.rest()).toEqual([]);
    expect(sse.ended).toBe(true);
    expect(sse.comments.at(-1)).toBe('server shutting down; reconnect with Last-Event-ID');
  });
});
