import {
  type ClaudeProvider,
  createClaudeProvider,
  estimateTokens,
  type TranscriptMessage,
} from '@turnstream/claude';
import { waitFor } from '@turnstream/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { collect, completed, MODEL, type RunningSimulator, startSimulator } from './support/sim.ts';

let sim: RunningSimulator;
let provider: ClaudeProvider;

beforeAll(async () => {
  sim = await startSimulator({ tokenDelayMs: 0, replyWords: 12, minCacheableTokens: 200 });
  provider = createClaudeProvider({ apiKey: 'sk-test', baseURL: sim.url });
});
beforeEach(() => {
  sim.clearRequests();
});
afterAll(async () => {
  await sim.close();
});

const SYSTEM = 'You are the assistant of a queue-based chat service. Be brief and kind. '.repeat(12);

describe('stream', () => {
  it('yields thinking deltas, then text deltas, then one message_completed', async () => {
    const { chunks, error } = await collect(provider, {
      model: MODEL,
      messages: [{ role: 'user', content: 'Hi' }],
      maxTokens: 4096,
      thinking: { budgetTokens: 1024 },
    });
    expect(error).toBeUndefined();
    const types = chunks.map((c) => c.type);
    const firstText = types.indexOf('text_delta');
    expect(firstText).toBeGreaterThan(0);
    expect(types.slice(0, firstText).every((t) => t === 'thinking_delta')).toBe(true);
    expect(types.slice(firstText, -1).every((t) => t === 'text_delta')).toBe(true);
    const done = completed(chunks);
    expect(done.stopReason).toBe('end_turn');
    expect(done.requestId).toMatch(/^req_/);
    expect(done.requestId).toBe(sim.requests().at(-1)?.requestId);
    expect(done.usage.outputTokens).toBeGreaterThan(0);
  });

  it('puts cache breakpoints on the system prompt and the last message only, without mutating the input', async () => {
    const messages: TranscriptMessage[] = [
      { role: 'user', content: [{ type: 'text', text: 'Earlier', cache_control: { type: 'ephemeral' } }] },
      { role: 'assistant', content: 'Earlier answer' },
      { role: 'user', content: 'Now this' },
    ];
    const snapshot = structuredClone(messages);
    const { error } = await collect(provider, { model: MODEL, system: SYSTEM, messages, maxTokens: 500 });
    expect(error).toBeUndefined();
    expect(messages).toEqual(snapshot);

    const sent = sim.requests({ full: true }).at(-1)?.body;
    expect(sent?.system).toEqual([{ type: 'text', text: SYSTEM, cache_control: { type: 'ephemeral' } }]);
    expect(sent?.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Earlier' }] },
      { role: 'assistant', content: 'Earlier answer' },
      { role: 'user', content: [{ type: 'text', text: 'Now this', cache_control: { type: 'ephemeral' } }] },
    ]);
  });

  it('reports cache writes on the first turn and cache reads on the next', async () => {
    const system = `${SYSTEM} This conversation is about caching.`; // not cached by an earlier test
    const turn1: TranscriptMessage[] = [{ role: 'user', content: 'Caching turn one, unique 6f1c.' }];
    const first = completed(
      (await collect(provider, { model: MODEL, system, messages: turn1, maxTokens: 500 })).chunks,
    );
    expect(first.usage.cacheCreationInputTokens).toBeGreaterThan(0);
    expect(first.usage.cacheReadInputTokens).toBe(0);

    const turn2: TranscriptMessage[] = [
      ...turn1,
      { role: 'assistant', content: first.content },
      { role: 'user', content: 'Caching turn two.' },
    ];
    const second = completed(
      (await collect(provider, { model: MODEL, system, messages: turn2, maxTokens: 500 })).chunks,
    );
    const total = estimateTokens({ system, messages: turn2 });
    expect(second.usage.cacheReadInputTokens).toBe(estimateTokens({ system, messages: turn1 }));
    expect(
      second.usage.inputTokens + second.usage.cacheReadInputTokens + second.usage.cacheCreationInputTokens,
    ).toBe(total);
  });

  it('aborts the request when the consumer stops early', async () => {
    const iterator = provider
      .stream({
        model: MODEL,
        messages: [{ role: 'user', content: 'long [[sim words=2000 delay=1]]' }],
        maxTokens: 20_000,
      })
      [Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.value?.type).toBe('text_delta');
    expect(sim.requests().at(-1)?.closedEarly).toBe(false);
    await iterator.return?.();
    // The simulator sees its client go away long before the 2000 words are out.
    await waitFor(() => sim.requests().at(-1)?.closedEarly === true);
    expect(sim.requests().at(-1)?.status).toBe(200);
  });
});

describe('countTokens', () => {
  it('matches estimateTokens (calibrated to the simulator)', async () => {
    const cases: Array<{ system?: string; messages: TranscriptMessage[] }> = [
      { messages: [{ role: 'user', content: 'Hello, world!' }] },
      {
        system: 'Short system prompt with numbers 12345 and symbols #!',
        messages: [
          { role: 'user', content: 'Über café — naïve façade? ✓' },
          {
            role: 'assistant',
            content: [
              { type: 'thinking', thinking: 'Considering the accents.', signature: 'sig' },
              { type: 'text', text: 'They are French & German.' },
            ],
          },
          { role: 'user', content: [{ type: 'text', text: 'Thanks!' }] },
        ],
      },
      {
        messages: [
          { role: 'user', content: 'look it up' },
          {
            role: 'assistant',
            content: [{ type: 'tool_use', id: 'toolu_1', name: 'search', input: { q: 'rivers', n: 3 } }],
          },
          {
            role: 'user',
            content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'Nile, Amazon, Yangtze' }],
          },
        ],
      },
    ];
    for (const input of cases) {
      expect(await provider.countTokens({ model: MODEL, ...input })).toBe(estimateTokens(input));
    }
  });
});
