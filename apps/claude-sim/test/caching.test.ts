import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRequestTokens, type RunningSimulator, startSimulator } from '../src/index.ts';
import { postMessages } from './support/http.ts';

let sim: RunningSimulator;

beforeAll(async () => {
  sim = await startSimulator({ tokenDelayMs: 0, replyWords: 5, minCacheableTokens: 50 });
});
afterAll(async () => {
  await sim.close();
});

const SYSTEM = [
  { type: 'text', text: 'You are a patient assistant. '.repeat(20), cache_control: { type: 'ephemeral' } },
];

function turn(messages: Array<{ role: string; content: string }>) {
  const last = messages.at(-1);
  const marked = messages.slice(0, -1).concat(
    last
      ? [
          {
            ...last,
            content: [{ type: 'text', text: last.content, cache_control: { type: 'ephemeral' } }],
          } as never,
        ]
      : [],
  );
  return { model: 'claude-sonnet-4-6', max_tokens: 1000, system: SYSTEM, messages: marked };
}

interface Usage {
  input_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  cache_creation: { ephemeral_5m_input_tokens: number; ephemeral_1h_input_tokens: number };
}

async function usageOf(body: unknown): Promise<Usage> {
  const res = await postMessages(sim.url, body);
  expect(res.status).toBe(200);
  return ((await res.json()) as { usage: Usage }).usage;
}

describe('prompt caching', () => {
  it('writes a prefix on first sight, reads it when repeated, and reads the previous turn on the next one', async () => {
    const first = turn([{ role: 'user', content: 'First question about caching please.' }]);
    const total1 = countRequestTokens(first);
    const u1 = await usageOf(first);
    expect(u1.cache_read_input_tokens).toBe(0);
    expect(u1.cache_creation_input_tokens).toBe(total1);
    expect(u1.cache_creation.ephemeral_5m_input_tokens).toBe(total1);
    expect(u1.input_tokens).toBe(0);

    const u2 = await usageOf(first);
    expect(u2).toMatchObject({
      cache_read_input_tokens: total1,
      cache_creation_input_tokens: 0,
      input_tokens: 0,
    });

    const second = turn([
      { role: 'user', content: 'First question about caching please.' },
      { role: 'assistant', content: 'An answer.' },
      { role: 'user', content: 'A follow-up.' },
    ]);
    const total2 = countRequestTokens(second);
    const u3 = await usageOf(second);
    expect(u3.cache_read_input_tokens).toBe(total1);
    expect(u3.cache_creation_input_tokens).toBe(total2 - total1);
    expect(u3.input_tokens + u3.cache_read_input_tokens + u3.cache_creation_input_tokens).toBe(total2);
  });

  it('reads the system prefix when only the conversation differs', async () => {
    const a = turn([{ role: 'user', content: 'Conversation A opens.' }]);
    const b = turn([{ role: 'user', content: 'Conversation B opens differently.' }]);
    await usageOf(a);
    const u = await usageOf(b);
    const systemOnly = countRequestTokens({ system: SYSTEM, messages: [] });
    expect(u.cache_read_input_tokens).toBe(systemOnly);
    expect(u.cache_creation_input_tokens).toBe(countRequestTokens(b) - systemOnly);
  });

  it('caches nothing without cache_control or below the minimum cacheable length', async () => {
    const plain = {
      model: 'claude-sonnet-4-6',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'no marks' }],
    };
    expect(await usageOf(plain)).toMatchObject({
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
    });
    const tiny = {
      ...plain,
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'tiny', cache_control: { type: 'ephemeral' } }] },
      ],
    };
    expect(await usageOf(tiny)).toMatchObject({ cache_creation_input_tokens: 0, cache_read_input_tokens: 0 });
  });

  it('reports 1h writes separately', async () => {
    const body = {
      model: 'claude-sonnet-4-6',
      max_tokens: 100,
      system: [
        {
          type: 'text',
          text: 'Hour long cache prefix. '.repeat(20),
          cache_control: { type: 'ephemeral', ttl: '1h' },
        },
      ],
      messages: [{ role: 'user', content: 'hi' }],
    };
    const u = await usageOf(body);
    expect(u.cache_creation.ephemeral_1h_input_tokens).toBe(u.cache_creation_input_tokens);
    expect(u.cache_creation_input_tokens).toBeGreaterThan(0);
  });
});
