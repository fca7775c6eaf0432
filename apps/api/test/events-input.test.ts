import { randomUUID } from 'node:crypto';
import type { TurnEvent } from '@turnstream/contracts';
import { seedTurn } from '@turnstream/db/testing';
import { type SseFrame, SseReader } from '@turnstream/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { harnessFixture, tenantFixture } from './helpers.ts';

/**
 * The event stream's inputs, checked before the stream opens: a resume id the log can never have
 * issued is a 400 (an `EventSource` does not retry a 400), never a 200 that then fails or starves;
 * a reply id as `messageId` follows its turn; HEAD is answered at once; the request id is sent.
 */
const h = harnessFixture();
const t = tenantFixture(h);
let base: string;

beforeAll(async () => {
  base = await h.listen();
});

async function newConversation(): Promise<string> {
  return (await h.request('POST', '/v1/conversations', { key: t.keys.client, body: {} })).body.id;
}

function reader(conversationId: string, query = '', headers: Record<string, string> = {}): SseReader {
  return new SseReader(`${base}/v1/conversations/${conversationId}/events${query}`, {
    headers: { authorization: `Bearer ${t.keys.viewer}`, ...headers },
  });
}

async function publish(conversationId: string, events: TurnEvent[]): Promise<string[]> {
  const res = await h.streams.publish(conversationId, null, events);
  if (!res.ok) throw new Error('publish refused');
  return res.ids;
}

// biome-ignore lint/suspicious/noExplicitAny: test assertions read arbitrary event fields
const data = (frame: SseFrame): any => JSON.parse(frame.data!);

/** A plain HTTP request to the listening server, bounded in time (a hang fails the test). */
async function fetchWithin(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${base}${path}`, { ...init, signal: AbortSignal.timeout(5_000) });
}

describe('resume ids are checked before the stream opens', () => {
  const impossible: Array<[string, string]> = [
    ['beyond 64 bits', '99999999999999999999-0'],
    ['a sequence beyond 64 bits', '1700000000000-99999999999999999999'],
    ['in the future', '9999999999999-0'],
    ['malformed', 'abc'],
    ['with a sign', '-1-0'],
  ];
  for (const [what, id] of impossible) {
    for (const via of ['header', 'query'] as const) {
      it(`a Last-Event-ID ${what} (${via}) answers 400 validation_failed, not a failing stream`, async () => {
        const conv = await newConversation();
        await publish(conv, [{ type: 'turn.queued', messageId: randomUUID() }]);
        const res = await fetchWithin(
          `/v1/conversations/${conv}/events${via === 'query' ? `?lastEventId=${encodeURIComponent(id)}` : ''}`,
          {
            headers: {
              authorization: `Bearer ${t.keys.viewer}`,
              ...(via === 'header' ? { 'last-event-id': id } : {}),
            },
          },
        );
        expect(res.status).toBe(400);
        expect(res.headers.get('content-type')).toContain('application/json');
        const body = (await res.json()) as { error: { code: string; details: { issues: unknown[] } } };
        expect(body.error.code).toBe('validation_failed');
        expect(body.error.details.issues).toEqual([
          expect.objectContaining({ location: via === 'header' ? 'headers' : 'query' }),
        ]);
      });
    }
  }

  it('an id the log never issued but not in the future announces stream.gap and replays the log', {
    timeout: 20_000,
  }, async () => {
    const conv = await newConversation();
    const m = randomUUID();
    const ids = await publish(conv, [
      { type: 'turn.queued', messageId: m },
      { type: 'chunk', messageId: m, text: 'a' },
    ]);
    const lastMs = ids[1]!.split('-')[0]!;
    const sse = reader(conv, '', { 'last-event-id': `${lastMs}-999` });
    expect(await sse.open()).toBe(200);
    const [gap, ...replayed] = await sse.take(3);
    expect(gap!.event).toBe('stream.gap');
    expect(data(gap!)).toMatchObject({ after: `${lastMs}-999`, oldestId: ids[0] });
    expect(replayed.map((f) => f.id)).toEqual(ids);
    // And it is not starved: what comes next is delivered.
    const more = await publish(conv, [{ type: 'chunk', messageId: m, text: 'b' }]);
    expect((await sse.take(1))[0]!.id).toBe(more[0]);
    sse.close();
  });

  it('the newest id of the log itself resumes normally (no gap)', async () => {
    const conv = await newConversation();
    const m = randomUUID();
    const ids = await publish(conv, [{ type: 'turn.queued', messageId: m }]);
    const sse = reader(conv, '', { 'last-event-id': ids[0]! });
    await sse.open();
    const more = await publish(conv, [{ type: 'chunk', messageId: m, text: 'x' }]);
    const [next] = await sse.take(1);
    expect(next!.id).toBe(more[0]);
    sse.close();
  });
});

describe('?messageId= names a turn by either of its messages', () => {
  it("?messageId=<reply id>&until=turn streams the reply's turn and ends on its terminal event", {
    timeout: 20_000,
  }, async () => {
    const conv = await newConversation();
    const { user, reply } = await seedTurn(h.tdb.db, {
      tenantId: t.tenantId,
      conversationId: conv,
      fence: 1,
    });
    const replyId = reply.id;
    const ids = await publish(conv, [
      { type: 'turn.started', messageId: user.id, replyId, attempt: 1 },
      { type: 'chunk', messageId: user.id, text: 'hello' },
      { type: 'turn.completed', messageId: user.id, replyId, content: 'hello', stopReason: 'end_turn' },
    ]);
    const sse = reader(conv, `?messageId=${replyId}&until=turn`);
    expect(await sse.open()).toBe(200);
    const frames = await sse.rest();
    expect(frames.map((f) => f.id)).toEqual(ids);
    expect(frames.at(-1)!.event).toBe('turn.completed');
  });
});

describe('HEAD and request ids', () => {
  it('HEAD on the event stream is answered at once with the stream headers and no body', async () => {
    const conv = await newConversation();
    const res = await fetchWithin(`/v1/conversations/${conv}/events`, {
      method: 'HEAD',
      headers: { authorization: `Bearer ${t.keys.viewer}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(await res.text()).toBe('');
    expect(h.metrics.sseClientsOpen).toBe(0);
  });

  it('HEAD is checked like GET: a missing key is 401 at once', async () => {
    const conv = await newConversation();
    const res = await fetchWithin(`/v1/conversations/${conv}/events`, { method: 'HEAD' });
    expect(res.status).toBe(401);
    expect(res.headers.get('x-request-id')).toBeTruthy();
  });

  it('HEAD of the other GET routes is answered at once', async () => {
    const conv = await newConversation();
    for (const path of ['/healthz', '/v1/conversations', `/v1/conversations/${conv}/messages`]) {
      const res = await fetchWithin(path, {
        method: 'HEAD',
        headers: { authorization: `Bearer ${t.keys.viewer}` },
      });
      expect(res.status, path).toBe(200);
      expect(res.headers.get('x-request-id'), path).toBeTruthy();
    }
  });

  it('an SSE response carries x-request-id', async () => {
    const conv = await newConversation();
    const sse = reader(conv);
    expect(await sse.open()).toBe(200);
    expect(sse.headers!.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    sse.close();
  });
});
