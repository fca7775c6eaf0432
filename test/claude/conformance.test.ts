import {
  type ClaudeErrorClass,
  type ClaudeProvider,
  classifyClaudeError,
  createClaudeProvider,
  type TranscriptMessage,
} from '@turnstream/claude';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  abortMidStream,
  collect,
  type FaultRule,
  MODEL,
  type RunningSimulator,
  startSimulator,
} from './support/sim.ts';

/**
 * Conformance table: every simulator fault and validation error, driven through the real SDK over
 * HTTP by the provider, lands in the right class with the right retry hint.
 */

let sim: RunningSimulator;
let provider: ClaudeProvider;

beforeAll(async () => {
  sim = await startSimulator({ tokenDelayMs: 0, replyWords: 8, contextLimitTokens: 2000 });
  // Long enough that a loaded CI machine never trips the idle watchdog before a fault answers; the two
  // stall rows wait it out once each.
  provider = createClaudeProvider({ apiKey: 'sk-test', baseURL: sim.url, idleTimeoutMs: 1500 });
});
afterEach(() => {
  sim.clearFaults();
});
afterAll(async () => {
  await sim.close();
});

const hello: TranscriptMessage[] = [{ role: 'user', content: 'Hello' }];

async function classOf(messages: TranscriptMessage[], thinking = false): Promise<ClaudeErrorClass> {
  const { chunks, error } = await collect(provider, {
    model: MODEL,
    messages,
    maxTokens: 4096,
    ...(thinking ? { thinking: { budgetTokens: 1024 } } : {}),
  });
  expect(error, `expected the stream to fail, got ${chunks.length} chunks`).toBeDefined();
  return classifyClaudeError(error);
}

const faultTable: Array<[string, FaultRule, (c: ClaudeErrorClass) => void]> = [
  [
    'overloaded (529)',
    { fault: 'overloaded' },
    (c) => expect(c).toEqual({ kind: 'transient', backoffMs: 2000, reason: 'overloaded' }),
  ],
  [
    'server_error (500)',
    { fault: 'server_error' },
    (c) => expect(c).toEqual({ kind: 'transient', backoffMs: 1000, reason: 'http_500' }),
  ],
  [
    'rate_limited (429)',
    { fault: 'rate_limited', retryAfterMs: 1500 },
    (c) => expect(c).toEqual({ kind: 'rate_limited', retryAfterMs: 1500 }),
  ],
  [
    'rate_limited, enforced_spend_limit_reached',
    { fault: 'rate_limited', errorCode: 'enforced_spend_limit_reached' },
    (c) => expect(c).toMatchObject({ kind: 'fatal', code: 'claude_billing' }),
  ],
  [
    'auth (401)',
    { fault: 'auth' },
    (c) => expect(c).toEqual({ kind: 'fatal', code: 'claude_auth', message: 'invalid x-api-key' }),
  ],
  [
    'permission (403)',
    { fault: 'permission' },
    (c) => expect(c).toMatchObject({ kind: 'fatal', code: 'claude_permission' }),
  ],
  [
    'billing (402)',
    { fault: 'billing' },
    (c) => expect(c).toMatchObject({ kind: 'fatal', code: 'claude_billing' }),
  ],
  [
    'not_found (404)',
    { fault: 'not_found' },
    (c) => expect(c).toMatchObject({ kind: 'fatal', code: 'claude_not_found', message: `model: ${MODEL}` }),
  ],
  [
    'invalid_request (400)',
    { fault: 'invalid_request' },
    (c) => expect(c).toMatchObject({ kind: 'fatal', code: 'claude_invalid_request' }),
  ],
  [
    'invalid_request carrying a transcript message',
    { fault: 'invalid_request', message: 'messages.3.content.0: Invalid `signature` in `thinking` block' },
    (c) => expect(c).toEqual({ kind: 'session_invalid', reason: 'thinking_signature_invalid' }),
  ],
  [
    'request_too_large (413)',
    { fault: 'request_too_large' },
    (c) => expect(c).toEqual({ kind: 'session_invalid', reason: 'request_too_large' }),
  ],
  [
    'overloaded_midstream (SSE error event)',
    { fault: 'overloaded_midstream', afterChunks: 3 },
    (c) => expect(c).toEqual({ kind: 'transient', backoffMs: 2000, reason: 'midstream_error' }),
  ],
  [
    'disconnect_midstream',
    { fault: 'disconnect_midstream', afterChunks: 3 },
    (c) => expect(c).toEqual({ kind: 'transient', backoffMs: 500, reason: 'stream_incomplete' }),
  ],
  [
    'stall (idle watchdog)',
    { fault: 'stall', afterChunks: 3 },
    (c) => expect(c).toEqual({ kind: 'transient', backoffMs: 1000, reason: 'stream_idle' }),
  ],
  [
    'stall before any chunk',
    { fault: 'stall' },
    (c) => expect(c).toEqual({ kind: 'transient', backoffMs: 1000, reason: 'stream_idle' }),
  ],
];

describe('simulator faults', () => {
  it.each(faultTable)('%s', async (_name, rule, check) => {
    sim.addFaults([{ ...rule, times: 1 }]);
    check(await classOf(hello));
  });

  it('scales the transient backoff with the attempt', async () => {
    sim.addFaults([{ fault: 'overloaded', times: 1 }]);
    const { error } = await collect(provider, { model: MODEL, messages: hello, maxTokens: 100 });
    expect(classifyClaudeError(error, { attempt: 2 })).toEqual({
      kind: 'transient',
      backoffMs: 8000,
      reason: 'overloaded',
    });
  });
});

describe('validation errors', () => {
  it('invalid thinking signature -> session_invalid', async () => {
    const messages: TranscriptMessage[] = [
      { role: 'user', content: 'q' },
      {
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: 'I pondered.', signature: 'c2lnbmVkIGJ5IHNvbWVvbmUgZWxzZQ==' },
          { type: 'text', text: 'a' },
        ],
      },
      { role: 'user', content: 'next' },
    ];
    expect(await classOf(messages, true)).toEqual({
      kind: 'session_invalid',
      reason: 'thinking_signature_invalid',
    });
  });

  it('tool_use without tool_result -> session_invalid', async () => {
    const messages: TranscriptMessage[] = [
      { role: 'user', content: 'q' },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_01X', name: 'search', input: {} }] },
      { role: 'user', content: 'next' },
    ];
    expect(await classOf(messages)).toEqual({ kind: 'session_invalid', reason: 'tool_use_without_result' });
  });

  it('tool_result without tool_use -> session_invalid', async () => {
    const messages: TranscriptMessage[] = [
      { role: 'user', content: 'q' },
      { role: 'assistant', content: 'a' },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01Y', content: 'r' }] },
    ];
    expect(await classOf(messages)).toEqual({ kind: 'session_invalid', reason: 'tool_result_without_use' });
  });

  it('empty text block -> session_invalid', async () => {
    const messages: TranscriptMessage[] = [
      { role: 'user', content: 'q' },
      { role: 'assistant', content: [{ type: 'text', text: '' }] },
      { role: 'user', content: 'next' },
    ];
    expect(await classOf(messages)).toEqual({ kind: 'session_invalid', reason: 'empty_text_block' });
  });

  it('prompt too long -> session_invalid', async () => {
    const messages: TranscriptMessage[] = [{ role: 'user', content: 'lorem ipsum '.repeat(1500) }];
    expect(await classOf(messages)).toEqual({ kind: 'session_invalid', reason: 'prompt_too_long' });
  });

  it('unknown model (404) -> fatal claude_not_found', async () => {
    const { error } = await collect(provider, { model: 'not-a-claude', messages: hello, maxTokens: 100 });
    expect(classifyClaudeError(error)).toEqual({
      kind: 'fatal',
      code: 'claude_not_found',
      message: 'model: not-a-claude',
    });
  });

  it('thinking budget >= max_tokens (other 400) -> fatal claude_invalid_request', async () => {
    const { error } = await collect(provider, {
      model: MODEL,
      messages: hello,
      maxTokens: 1024,
      thinking: { budgetTokens: 1024 },
    });
    expect(classifyClaudeError(error)).toMatchObject({ kind: 'fatal', code: 'claude_invalid_request' });
  });
});

describe('connection errors and cancellation', () => {
  it('connection refused -> transient connection', async () => {
    const dead = await startSimulator();
    const url = dead.url;
    await dead.close();
    const offline = createClaudeProvider({ apiKey: 'k', baseURL: url });
    const { error } = await collect(offline, { model: MODEL, messages: hello, maxTokens: 100 });
    expect(classifyClaudeError(error)).toEqual({ kind: 'transient', backoffMs: 500, reason: 'connection' });
  });

  it("the caller's abort mid-stream -> cancelled", async () => {
    const { received: chunks, caught, signal } = await abortMidStream(provider);
    expect(chunks).toHaveLength(2);
    expect(classifyClaudeError(caught)).toEqual({ kind: 'cancelled' });
    expect(classifyClaudeError(new Error('anything'), { signal: signal })).toEqual({
      kind: 'cancelled',
    });
  });

  it('an already aborted signal -> cancelled, and no request is sent', async () => {
    sim.clearRequests();
    const { error } = await collect(provider, {
      model: MODEL,
      messages: hello,
      maxTokens: 100,
      signal: AbortSignal.abort(),
    });
    expect(classifyClaudeError(error)).toEqual({ kind: 'cancelled' });
    expect(sim.requests()).toHaveLength(0);
  });
});
