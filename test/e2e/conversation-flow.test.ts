import { type SseFrame, SseReader } from '@turnstream/testkit';
import { describe, expect, it } from 'vitest';
import { systemFixture } from '../support/system-fixture.ts';

// Issue 2's acceptance: the real API, worker and simulator processes against real Postgres and Redis.

/** Read SSE events until the turn of `messageId` completes (or fails for good). */
async function readTurn(sse: SseReader, messageId: string): Promise<SseFrame[]> {
  const got: SseFrame[] = [];
  for (;;) {
    const value = await sse.next();
    if (!value) throw new Error(`SSE ended before turn ${messageId} finished: ${JSON.stringify(got)}`);
    const data = JSON.parse(value.data ?? 'null');
    if (data.messageId !== messageId) continue;
    got.push(value);
    if (value.event === 'turn.completed' || value.event === 'turn.failed') return got;
  }
}

describe.each([
  ['pub/sub', 'false'],
  ['sharded pub/sub', 'true'],
])('a conversation end to end (%s)', (_name, sharded) => {
  const env = { REDIS_SHARDED_PUBSUB: sharded };
  const sys = systemFixture({ apiEnv: env, workerEnv: env });

  it('streams two replies in order, persists them, carries the transcript and sets the session', async () => {
    const created = await sys.api('POST', '/v1/conversations', { title: 'e2e' });
    expect(created.status).toBe(201);
    const convId = created.body.id as string;

    const sse = new SseReader(`${sys.apiUrl}/v1/conversations/${convId}/events`, {
      headers: { authorization: `Bearer ${sys.apiKey}` },
    });
    expect(await sse.open()).toBe(200);

    const contents = ['Hello there, first message', 'And a second one'];
    const userIds: string[] = [];
    const replies: string[] = [];
    for (const content of contents) {
      const posted = await sys.api('POST', `/v1/conversations/${convId}/messages`, { content });
      expect(posted.status).toBe(202);
      expect(posted.body).toMatchObject({ messageId: expect.any(String), jobId: expect.any(String) });
      const messageId = posted.body.messageId as string;
      userIds.push(messageId);

      const events = await readTurn(sse, messageId);
      const types = events.map((e) => e.event);
      const completedAt = types.indexOf('turn.completed');
      expect(completedAt).toBe(types.length - 1);
      const chunks = events.filter((e) => e.event === 'chunk');
      expect(chunks.length).toBeGreaterThan(1);
      expect(types.indexOf('turn.started')).toBeLessThan(types.indexOf('chunk'));
      // Every event carries an id; ids strictly increase (the durable log's order).
      const ids = events.map((e) => e.id!);
      for (let i = 1; i < ids.length; i++) expect(compareIds(ids[i - 1]!, ids[i]!)).toBeLessThan(0);
      const streamed = chunks.map((c) => JSON.parse(c.data!).text).join('');
      const final = JSON.parse(events[completedAt]!.data!).content as string;
      expect(streamed).toBe(final);
      expect(final.length).toBeGreaterThan(0);
      replies.push(final);
    }
    sse.close();

    const history = await sys.api('GET', `/v1/conversations/${convId}/messages`);
    expect(history.status).toBe(200);
    const msgs = history.body.messages as Array<Record<string, unknown>>;
    expect(msgs.map((m) => [m.role, m.status])).toEqual([
      ['user', 'completed'],
      ['assistant', 'completed'],
      ['user', 'completed'],
      ['assistant', 'completed'],
    ]);
    expect(msgs[1]).toMatchObject({ replyTo: userIds[0], content: replies[0] });
    expect(msgs[3]).toMatchObject({ replyTo: userIds[1], content: replies[1] });

    // The second request to Claude carried the first exchange.
    const requests = (await sys.simRequests()).filter((r) => r.status === 200);
    expect(requests).toHaveLength(2);
    const second = requests[1].body ?? requests[1].request ?? requests[1];
    const texts = (second.messages as Array<{ role: string; content: unknown }>).map((m) => [
      m.role,
      textOf(m.content),
    ]);
    expect(texts).toEqual([
      ['user', contents[0]],
      ['assistant', replies[0]],
      ['user', contents[1]],
    ]);

    // No message content, reply text or key in any API or worker log line.
    const logged = [...sys.workers, ...sys.apis.map((a) => a.proc)].flatMap((p) =>
      p.lines.map((l) => JSON.stringify(l)),
    );
    expect(logged.length).toBeGreaterThan(10);
    for (const secret of [...contents, ...replies.map((r) => r.slice(0, 40)), sys.apiKey]) {
      expect(logged.filter((l) => l.includes(secret))).toEqual([]);
    }

    const conv = await sys.api('GET', `/v1/conversations/${convId}`);
    expect(conv.body.session.assistantSessionId).toMatch(/^asst_/);
    expect(conv.body.session.version).toBe(2);
  });
});

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  return (content as Array<{ type: string; text?: string }>)
    .filter((b) => b.type === 'text')
    .map((b) => b.text)
    .join('');
}

function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am! - bm! || as! - bs!;
}
