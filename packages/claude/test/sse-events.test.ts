import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { AnthropicError, APIError } from '@anthropic-ai/sdk';
import { Stream } from '@anthropic-ai/sdk/core/streaming';
import { describe, expect, it } from 'vitest';
import { SSEDecoder, sseEvents } from '../src/sse-events.ts';

type Message = { event: string | null; data: string };

const utf8 = new TextEncoder();

/** Every case the decoder knows, in one body (BOM, comments, CRLF, CR, multi-line data, UTF-8). */
const SAMPLE = [
  '\uFEFFevent: message_start\ndata: {"type":"message_start"}\n\n',
  ': a comment\n\n',
  'event: ping\ndata: {"type": "ping"}\r\n\r\n',
  'event: content_block_delta\r\ndata: {"text":"héllo — 日本 🎉"}\r\n\r\n',
  'event: multi\rdata: line one\rdata:line two\rdata\r\r',
  'id: 7\nretry: 100\nevent: unknown_event\ndata:  {"x":1}\n\n',
  'data: {"no":"event"}\n\n',
  'event:\n\n',
  'event: tail\ndata: {"end":true}\n\n',
  'event: unfinished\ndata: {}',
].join('');

const SAMPLE_MESSAGES: Message[] = [
  { event: 'message_start', data: '{"type":"message_start"}' },
  { event: 'ping', data: '{"type": "ping"}' },
  { event: 'content_block_delta', data: '{"text":"héllo — 日本 🎉"}' },
  { event: 'multi', data: 'line one\nline two\n' },
  { event: 'unknown_event', data: ' {"x":1}' },
  { event: null, data: '{"no":"event"}' },
  { event: 'tail', data: '{"end":true}' },
];

function decode(chunks: Uint8Array[]): Message[] {
  const decoder = new SSEDecoder();
  const out: Message[] = [];
  const onMessage = (event: string | null, data: string) => out.push({ event, data });
  for (const chunk of chunks) decoder.push(chunk, onMessage);
  decoder.end(onMessage);
  return out;
}

/** What the SDK's own decoder makes of the same chunks. */
async function decodeWithSdk(chunks: Uint8Array[]): Promise<Message[]> {
  async function* body() {
    yield* chunks;
  }
  const out: Message[] = [];
  for await (const m of Stream.rawEvents({ body: body() } as unknown as Response)) {
    out.push({ event: m.event, data: m.data });
  }
  return out;
}

describe('SSEDecoder', () => {
  const bytes = utf8.encode(SAMPLE);

  it('decodes every field, line ending and comment as the SDK does', async () => {
    expect(decode([bytes])).toEqual(SAMPLE_MESSAGES);
    expect(await decodeWithSdk([bytes])).toEqual(SAMPLE_MESSAGES);
  });

  it('gives the same messages whatever byte the body is split at (CRLF and UTF-8 split too)', async () => {
    for (let at = 0; at <= bytes.length; at++) {
      const chunks = [bytes.subarray(0, at), bytes.subarray(at)];
      expect(decode(chunks), `split at ${at}`).toEqual(SAMPLE_MESSAGES);
    }
    // The oracle agrees on the same splits (a sample of them: it is slower).
    for (let at = 0; at <= bytes.length; at += 7) {
      expect(await decodeWithSdk([bytes.subarray(0, at), bytes.subarray(at)])).toEqual(SAMPLE_MESSAGES);
    }
  });

  it('gives the same messages one byte at a time', () => {
    const chunks = Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
    expect(decode(chunks)).toEqual(SAMPLE_MESSAGES);
  });

  it('takes a trailing CR at the end of the body as the end of its line', async () => {
    for (const body of ['event: a\ndata: 1\n\r', 'event: a\ndata: 1\r\r', 'event: a\ndata: 1\r']) {
      const chunks = [utf8.encode(body)];
      expect(decode(chunks), JSON.stringify(body)).toEqual(await decodeWithSdk(chunks));
    }
    expect(decode([utf8.encode('event: a\ndata: 1\r\r')])).toEqual([{ event: 'a', data: '1' }]);
  });
});

/** A Node body (what the node:http client gives) that the test writes. */
function nodeBody(): PassThrough {
  return new PassThrough();
}

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
}

const headers = new Headers({ 'request-id': 'req_sse_1' });

async function drain(events: AsyncIterator<unknown>): Promise<{ values: unknown[]; error: unknown }> {
  const values: unknown[] = [];
  try {
    for (;;) {
      const step = await events.next();
      if (step.done) return { values, error: undefined };
      values.push(step.value);
    }
  } catch (error) {
    return { values, error };
  }
}

describe('sseEvents', () => {
  it('parses events, skipping pings and messages without an event name', async () => {
    const body = nodeBody();
    const events = sseEvents({ body, headers }, new AbortController());
    body.write(sse('message_start', { type: 'message_start' }) + sse('ping', { type: 'ping' }));
    body.write(`data: {"type":"nameless"}\n\n${sse('something_new', { type: 'something_new' })}event: empty`);
    body.end('\ndata:\n\n');
    expect(await drain(events)).toEqual({
      values: [{ type: 'message_start' }, { type: 'something_new' }],
      error: undefined,
    });
  });

  it('throws the APIError the SDK throws for an error event, after the events before it', async () => {
    const error = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } };
    const wire = sse('message_start', { type: 'message_start' }) + sse('error', error);

    const body = nodeBody();
    const controller = new AbortController();
    const ours = drain(sseEvents({ body, headers }, controller));
    body.end(wire);
    const { values, error: thrown } = await ours;
    expect(values).toEqual([{ type: 'message_start' }]);
    expect(controller.signal.aborted).toBe(true);

    const sdk = await drain(
      Stream.fromSSEResponse(
        { body: PassThrough.from([wire]), headers } as unknown as Response,
        new AbortController(),
      )[Symbol.asyncIterator](),
    );
    expect(thrown).toBeInstanceOf(APIError);
    for (const err of [thrown, sdk.error] as APIError[]) {
      expect(err.status).toBeUndefined();
      expect(err.type).toBe('overloaded_error');
      expect(err.requestID).toBe('req_sse_1');
    }
    expect((thrown as APIError).message).toBe((sdk.error as APIError).message);
    expect((thrown as APIError).error).toEqual((sdk.error as APIError).error);
  });

  it('throws on malformed JSON and aborts the request', async () => {
    const body = nodeBody();
    const controller = new AbortController();
    const events = sseEvents({ body, headers }, controller);
    body.write(sse('message_start', { type: 'message_start' }) + sse('content_block_delta', '{"type":'));
    const { values, error } = await drain(events);
    expect(values).toEqual([{ type: 'message_start' }]);
    expect(error).toBeInstanceOf(SyntaxError);
    expect(controller.signal.aborted).toBe(true);
    expect(body.destroyed).toBe(true);
  });

  it('ends quietly when the body fails with an abort', async () => {
    const body = nodeBody();
    const events = sseEvents({ body, headers }, new AbortController());
    body.write(sse('message_start', { type: 'message_start' }));
    expect(await events.next()).toEqual({ done: false, value: { type: 'message_start' } });
    const pending = events.next();
    body.destroy(new DOMException('This operation was aborted', 'AbortError'));
    expect(await pending).toEqual({ done: true, value: undefined });
  });

  it('throws a body failure that is no abort, after the events read before it', async () => {
    const body = nodeBody();
    const events = sseEvents({ body, headers }, new AbortController());
    body.write(sse('message_start', { type: 'message_start' }) + sse('a', { type: 'a' }));
    expect(await events.next()).toEqual({ done: false, value: { type: 'message_start' } });
    body.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    const { values, error } = await drain(events);
    expect(values).toEqual([{ type: 'a' }]);
    expect(error).toMatchObject({ code: 'ECONNRESET' });
  });

  it('a body closed before its end fails (premature close), not ends', async () => {
    const body = nodeBody();
    const events = sseEvents({ body, headers }, new AbortController());
    const pending = events.next();
    body.destroy();
    await expect(pending).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
  });

  it('return() aborts the request and destroys the body', async () => {
    const body = nodeBody();
    const controller = new AbortController();
    const events = sseEvents({ body, headers }, controller);
    body.write(sse('message_start', { type: 'message_start' }));
    await events.next();
    expect(await events.return?.()).toEqual({ done: true, value: undefined });
    expect(controller.signal.aborted).toBe(true);
    expect(body.destroyed).toBe(true);
    expect(await events.next()).toEqual({ done: true, value: undefined });
  });

  it('pauses the body while 64 events wait to be taken, and resumes it once they are', async () => {
    const body = nodeBody();
    const events = sseEvents({ body, headers }, new AbortController());
    const paused = once(body, 'pause');
    for (let i = 0; i < 100; i++) body.write(sse('n', { i }));
    body.end();
    await paused;
    expect(body.isPaused()).toBe(true);
    const resumed = once(body, 'resume');
    const { values } = await drain(events);
    await resumed;
    expect(values).toEqual(Array.from({ length: 100 }, (_, i) => ({ i })));
  });

  it('fails a response without a body as the SDK does', async () => {
    const controller = new AbortController();
    const events = sseEvents({ body: null, headers }, controller);
    await expect(events.next()).rejects.toThrow(AnthropicError);
    expect(controller.signal.aborted).toBe(true);
  });

  it('reads a web ReadableStream (the platform fetch) the same way, and ends quietly on its abort', async () => {
    let stream!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        stream = c;
      },
    });
    const events = sseEvents({ body, headers }, new AbortController());
    const wire = utf8.encode(sse('message_start', { type: 'message_start' }) + sse('b', { text: 'é' }));
    stream.enqueue(wire.subarray(0, wire.length - 20));
    stream.enqueue(wire.subarray(wire.length - 20));
    expect(await events.next()).toEqual({ done: false, value: { type: 'message_start' } });
    expect(await events.next()).toEqual({ done: false, value: { text: 'é' } });
    const pending = events.next();
    stream.error(new DOMException('This operation was aborted', 'AbortError'));
    expect(await pending).toEqual({ done: true, value: undefined });
  });
});
