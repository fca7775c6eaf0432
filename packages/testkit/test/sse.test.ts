import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followSse, parseSseFrame, parseSseText, SseReader } from '../src/index.ts';

// A numbered event source: ids 1..TOTAL, resuming after Last-Event-ID; each response carries at most
// PER_RESPONSE events, then ends (`?drop=end`) or breaks the connection (`?drop=destroy`).
const TOTAL = 10;
const PER_RESPONSE = 3;
let server: Server;
let base: string;
const seenLastEventIds: Array<string | undefined> = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const last = req.headers['last-event-id'] as string | undefined;
    seenLastEventIds.push(last);
    if (url.pathname === '/missing') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":"not_found"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let body = ': connected\n\n';
    const from = Number(last ?? 0) + 1;
    const to = Math.min(TOTAL, from + PER_RESPONSE - 1);
    for (let id = from; id <= to; id++) {
      body += `id: ${id}\nevent: tick\ndata: {"n":${id},\ndata:  "two": "lines"}\n\n`;
    }
    if (to < TOTAL && url.searchParams.get('drop') === 'destroy') res.write(body, () => res.destroy());
    else res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('parsing', () => {
  it('reads ids, event names, multi-line data, retry and comments, LF or CRLF', () => {
    expect(parseSseFrame('id: 5\r\nevent: x\r\ndata: a\r\ndata: b\r\nretry: 300\r\n: hi')).toEqual({
      id: '5',
      event: 'x',
      data: 'a\nb',
      retry: 300,
      comments: ['hi'],
    });
    const frames = parseSseText(': heartbeat\n\nevent: e\ndata:{"k":1}\n\n\n');
    expect(frames).toEqual([{ comments: ['heartbeat'] }, { event: 'e', data: '{"k":1}', comments: [] }]);
  });
});

describe('SseReader', () => {
  it('reads events, collects comments, tracks the last id and resumes after it on reconnect', async () => {
    const sse = new SseReader(`${base}/events?drop=end`);
    expect(await sse.open()).toBe(200);
    const first = await sse.rest();
    expect(first.map((f) => f.id)).toEqual(['1', '2', '3']);
    expect(JSON.parse(first[0]!.data!)).toEqual({ n: 1, two: 'lines' });
    expect(sse.comments).toContain('connected');
    expect(sse.ended).toBe(true);
    expect(sse.lastEventId).toBe('3');

    seenLastEventIds.length = 0;
    expect(await sse.reconnect()).toBe(200);
    expect((await sse.rest()).map((f) => f.id)).toEqual(['4', '5', '6']);
    expect(seenLastEventIds).toEqual(['3']);
    expect(sse.events.map((f) => f.id)).toEqual(['1', '2', '3', '4', '5', '6']);
    expect(sse.connections).toBe(2);
  });

  it('keeps a non-2xx answer readable', async () => {
    const sse = new SseReader(`${base}/missing`);
    expect(await sse.open()).toBe(404);
    expect(sse.errorBody).toContain('not_found');
    expect(await sse.next()).toBeNull();
  });
});

describe('followSse', () => {
  it.each(['end', 'destroy'])(
    'follows through dropped connections (%s) to the last event, each once',
    async (drop) => {
      const frames = await followSse(`${base}/events?drop=${drop}`, { until: (f) => f.id === String(TOTAL) });
      expect(frames.map((f) => Number(f.id))).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
    },
  );

  it('gives up after maxReconnects', async () => {
    await expect(
      followSse(`${base}/events?drop=end`, { until: () => false, maxReconnects: 2 }),
    ).rejects.toThrow('gave up after 2 reconnects');
  });
});
