import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRequestTokens, type RunningSimulator, startSimulator } from '../src/index.ts';
import { API_HEADERS, parseSse, postMessages, request, textOf } from './support/http.ts';

const SIGNING_KEY = 'wire-test-key';
let sim: RunningSimulator;

beforeAll(async () => {
  sim = await startSimulator({ tokenDelayMs: 0, replyWords: 12, seed: 7, signingKey: SIGNING_KEY });
});
afterAll(async () => {
  await sim.close();
});

describe('POST /v1/messages (SSE)', () => {
  it('streams the real event sequence with usage and a request-id header', async () => {
    const res = await postMessages(sim.url, request('Hello there', { stream: true }));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const requestId = res.headers.get('request-id');
    expect(requestId).toMatch(/^req_/);
    const events = parseSse(await res.text());
    const names = events.map((e) => e.event);
    expect(names.slice(0, 3)).toEqual(['message_start', 'content_block_start', 'ping']);
    expect(names.filter((n) => n === 'content_block_delta')).toHaveLength(12);
    expect(names.slice(-3)).toEqual(['content_block_stop', 'message_delta', 'message_stop']);

    const start = events[0]?.data.message as Record<string, unknown>;
    expect(start).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-6',
      content: [],
    });
    expect(start.stop_reason).toBeNull();
    expect(start.usage).toMatchObject({
      input_tokens: countRequestTokens(request('Hello there')),
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      output_tokens: 1,
    });
    const delta = events.find((e) => e.event === 'message_delta')?.data as Record<string, unknown>;
    expect(delta.delta).toEqual({ stop_reason: 'end_turn', stop_sequence: null });
    expect((delta.usage as { output_tokens: number }).output_tokens).toBeGreaterThan(1);
    const text = textOf(events);
    expect(text).toMatch(/^[A-Z][a-z]+( [a-z]+){10} [a-z]+\.$/);

    const log = sim.requests();
    expect(log.at(-1)).toMatchObject({ requestId, status: 200, stream: true, messageCount: 1, fault: null });
  });

  it('streams thinking (thinking_delta then signature_delta = HMAC of the text) before the text', async () => {
    const body = request('Think first', { stream: true, thinking: { type: 'enabled', budget_tokens: 2048 } });
    const events = parseSse(await (await postMessages(sim.url, body)).text());
    const starts = events.filter((e) => e.event === 'content_block_start').map((e) => e.data.content_block);
    expect(starts).toEqual([
      { type: 'thinking', thinking: '', signature: '' },
      { type: 'text', text: '' },
    ]);
    const deltas = events
      .filter((e) => e.event === 'content_block_delta')
      .map((e) => e.data.delta as Record<string, string>);
    const kinds = deltas.map((d) => d.type);
    const firstSignature = kinds.indexOf('signature_delta');
    expect(kinds.slice(0, firstSignature).every((k) => k === 'thinking_delta')).toBe(true);
    expect(kinds.slice(firstSignature + 1).every((k) => k === 'text_delta')).toBe(true);
    const thinking = deltas
      .filter((d) => d.type === 'thinking_delta')
      .map((d) => d.thinking)
      .join('');
    const expected = createHmac('sha256', SIGNING_KEY).update(thinking).digest('base64');
    expect(deltas[firstSignature]?.signature).toBe(expected);
  });

  it('is deterministic per (seed, last user message) and honours [[sim words=N]]', async () => {
    const a = textOf(parseSse(await (await postMessages(sim.url, request('same', { stream: true }))).text()));
    const b = textOf(parseSse(await (await postMessages(sim.url, request('same', { stream: true }))).text()));
    const c = textOf(
      parseSse(await (await postMessages(sim.url, request('other', { stream: true }))).text()),
    );
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    const other = await startSimulator({ tokenDelayMs: 0, replyWords: 12, seed: 8 });
    try {
      const d = textOf(
        parseSse(await (await postMessages(other.url, request('same', { stream: true }))).text()),
      );
      expect(d).not.toBe(a);
    } finally {
      await other.close();
    }
    const short = parseSse(
      await (await postMessages(sim.url, request('hi [[sim words=3]]', { stream: true }))).text(),
    );
    expect(short.filter((e) => e.event === 'content_block_delta')).toHaveLength(3);
  });

  it('waits [[sim delay=N]] ms before each chunk', async () => {
    const started = performance.now();
    await (await postMessages(sim.url, request('slow [[sim words=4 delay=40]]', { stream: true }))).text();
    expect(performance.now() - started).toBeGreaterThanOrEqual(4 * 40 - 5);
  });

  it('stops at max_tokens with stop_reason max_tokens', async () => {
    const res = await postMessages(sim.url, {
      ...request('cut [[sim words=200]]', { stream: true }),
      max_tokens: 10,
    });
    const events = parseSse(await res.text());
    const delta = events.find((e) => e.event === 'message_delta')?.data as Record<
      string,
      Record<string, unknown>
    >;
    expect(delta.delta?.stop_reason).toBe('max_tokens');
    expect(delta.usage?.output_tokens).toBeLessThanOrEqual(10);
  });
});

describe('POST /v1/messages (JSON)', () => {
  it('answers a Message with content, stop_reason and usage', async () => {
    const res = await postMessages(
      sim.url,
      request('Hello there', { thinking: { type: 'enabled', budget_tokens: 1024 } }),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('request-id')).toMatch(/^req_/);
    const message = (await res.json()) as Record<string, unknown>;
    expect(message).toMatchObject({
      type: 'message',
      role: 'assistant',
      stop_reason: 'end_turn',
      stop_sequence: null,
    });
    const content = message.content as Array<Record<string, string>>;
    expect(content.map((b) => b.type)).toEqual(['thinking', 'text']);
    expect(content[0]?.signature).toBe(
      createHmac('sha256', SIGNING_KEY)
        .update(content[0]?.thinking ?? '')
        .digest('base64'),
    );
    expect(message.usage).toMatchObject({ cache_read_input_tokens: 0, service_tier: 'standard' });
  });
});

describe('auth, routing and errors', () => {
  it('accepts x-api-key and Authorization: Bearer, ignores unknown query strings', async () => {
    const bearer = { authorization: 'Bearer sk-test', 'content-type': 'application/json' };
    const res = await fetch(`${sim.url}/v1/messages?beta=true&whatever=1`, {
      method: 'POST',
      headers: bearer,
      body: JSON.stringify(request('hi')),
    });
    expect(res.status).toBe(200);
    expect((await postMessages(sim.url, request('hi'))).status).toBe(200);
  });

  it('answers 401 authentication_error without a key, in the real error shape', async () => {
    const res = await postMessages(sim.url, request('hi'), { 'content-type': 'application/json' });
    expect(res.status).toBe(401);
    const requestId = res.headers.get('request-id');
    expect(await res.json()).toEqual({
      type: 'error',
      error: { type: 'authentication_error', message: 'x-api-key header is required' },
      request_id: requestId,
    });
  });

  it('rejects other keys when apiKey is configured', async () => {
    const strict = await startSimulator({ apiKey: 'sk-right' });
    try {
      const res = await postMessages(strict.url, request('hi'), { ...API_HEADERS, 'x-api-key': 'sk-wrong' });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { message: string } }).error.message).toBe('invalid x-api-key');
    } finally {
      await strict.close();
    }
  });

  it('answers 404 not_found_error for a model it does not serve and for unknown routes', async () => {
    const res = await postMessages(sim.url, { ...request('hi'), model: 'gpt-4' });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: unknown }).error).toEqual({
      type: 'not_found_error',
      message: 'model: gpt-4',
    });
    const route = await fetch(`${sim.url}/v1/nothing`, { method: 'POST', headers: API_HEADERS, body: '{}' });
    expect(route.status).toBe(404);
  });

  it('answers 413 request_too_large over maxRequestBytes', async () => {
    const small = await startSimulator({ maxRequestBytes: 1000 });
    try {
      const res = await postMessages(small.url, request('x'.repeat(2000)));
      expect(res.status).toBe(413);
      expect(((await res.json()) as { error: { type: string } }).error.type).toBe('request_too_large');
    } finally {
      await small.close();
    }
  });
});

describe('POST /v1/messages/count_tokens', () => {
  it('counts input tokens with the same estimate that usage reports', async () => {
    const body = {
      model: 'claude-sonnet-4-6',
      system: 'You are terse.',
      messages: [
        { role: 'user', content: 'What is 2 + 2?' },
        { role: 'assistant', content: [{ type: 'text', text: 'Four.' }] },
        { role: 'user', content: 'And 3 + 3?' },
      ],
    };
    const res = await fetch(`${sim.url}/v1/messages/count_tokens`, {
      method: 'POST',
      headers: API_HEADERS,
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ input_tokens: countRequestTokens(body) });
  });
});
