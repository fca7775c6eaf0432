import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRequestTokens, type RunningSimulator, startSimulator } from '../src/index.ts';
import { postMessages, request } from './support/http.ts';

let sim: RunningSimulator;

beforeAll(async () => {
  sim = await startSimulator({ tokenDelayMs: 0, replyWords: 5, contextLimitTokens: 300 });
});
afterAll(async () => {
  await sim.close();
});

async function rejection(body: unknown): Promise<{ status: number; type: string; message: string }> {
  const res = await postMessages(sim.url, body);
  const json = (await res.json()) as { error: { type: string; message: string } };
  return { status: res.status, ...json.error };
}

function withMessages(messages: unknown[], extra: Record<string, unknown> = {}) {
  return { model: 'claude-sonnet-4-6', max_tokens: 4096, messages, ...extra };
}

/** A signed thinking block, taken from a real answer of this simulator. */
async function signedThinking(): Promise<{ type: 'thinking'; thinking: string; signature: string }> {
  const res = await postMessages(
    sim.url,
    request('think', { thinking: { type: 'enabled', budget_tokens: 1024 } }),
  );
  const message = (await res.json()) as {
    content: Array<{ type: string; thinking: string; signature: string }>;
  };
  const block = message.content.find((b) => b.type === 'thinking');
  if (!block) throw new Error('no thinking block');
  return { type: 'thinking', thinking: block.thinking, signature: block.signature };
}

describe('validation errors (real messages)', () => {
  it('accepts a thinking block it signed, rejects a tampered one', async () => {
    const thinking = await signedThinking();
    const ok = withMessages([
      { role: 'user', content: 'think' },
      { role: 'assistant', content: [thinking, { type: 'text', text: 'Done.' }] },
      { role: 'user', content: 'again' },
    ]);
    expect((await postMessages(sim.url, ok)).status).toBe(200);

    const tampered = withMessages([
      { role: 'user', content: 'think' },
      {
        role: 'assistant',
        content: [
          { ...thinking, thinking: `${thinking.thinking}!` },
          { type: 'text', text: 'Done.' },
        ],
      },
      { role: 'user', content: 'again' },
    ]);
    expect(await rejection(tampered)).toEqual({
      status: 400,
      type: 'invalid_request_error',
      message: 'messages.1.content.0: Invalid `signature` in `thinking` block',
    });
  });

  it('rejects every signature issued before a key rotation', async () => {
    const thinking = await signedThinking();
    const transcript = withMessages([
      { role: 'user', content: 'think' },
      { role: 'assistant', content: [thinking, { type: 'text', text: 'Done.' }] },
      { role: 'user', content: 'again' },
    ]);
    expect((await postMessages(sim.url, transcript)).status).toBe(200);
    const rotated = await fetch(`${sim.url}/__sim/rotate-signing-key`, { method: 'POST' });
    expect(rotated.status).toBe(200);
    expect((await rejection(transcript)).message).toBe(
      'messages.1.content.0: Invalid `signature` in `thinking` block',
    );
  });

  it('rejects a tool_use without a tool_result right after', async () => {
    const body = withMessages([
      { role: 'user', content: 'weather?' },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: 'toolu_01A', name: 'weather', input: { city: 'Oslo' } },
        ],
      },
      { role: 'user', content: 'hello?' },
    ]);
    expect(await rejection(body)).toEqual({
      status: 400,
      type: 'invalid_request_error',
      message:
        'messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_01A. ' +
        'Each `tool_use` block must have a corresponding `tool_result` block in the next message.',
    });
  });

  it('accepts a tool_use answered by its tool_result, rejects an orphan tool_result', async () => {
    const paired = withMessages([
      { role: 'user', content: 'weather?' },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_01A', name: 'weather', input: {} }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01A', content: 'sunny' }] },
    ]);
    expect((await postMessages(sim.url, paired)).status).toBe(200);
    const orphan = withMessages([
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'hello' },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01B', content: 'x' }] },
    ]);
    expect((await rejection(orphan)).message).toMatch(
      /^messages\.2\.content\.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_01B\./,
    );
  });

  it('rejects empty and whitespace-only text blocks and empty messages', async () => {
    const empty = withMessages([
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: [{ type: 'text', text: '' }] },
      { role: 'user', content: 'again' },
    ]);
    expect(await rejection(empty)).toEqual({
      status: 400,
      type: 'invalid_request_error',
      message: 'messages: text content blocks must be non-empty',
    });
    const blank = withMessages([{ role: 'user', content: [{ type: 'text', text: '  \n' }] }]);
    expect((await rejection(blank)).message).toBe(
      'messages: text content blocks must contain non-whitespace text',
    );
    const none = withMessages([
      { role: 'user', content: '' },
      { role: 'assistant', content: 'x' },
      { role: 'user', content: 'y' },
    ]);
    expect((await rejection(none)).message).toBe(
      'messages.0: all messages must have non-empty content except for the optional final assistant message',
    );
  });

  it('rejects a prompt over the context limit with the real wording', async () => {
    const long = request('word '.repeat(400));
    const tokens = countRequestTokens(long);
    expect(tokens).toBeGreaterThan(300);
    expect(await rejection(long)).toEqual({
      status: 400,
      type: 'invalid_request_error',
      message: `prompt is too long: ${tokens} tokens > 300 maximum`,
    });
  });

  it('checks thinking budgets and cache_control breakpoints', async () => {
    expect(
      (
        await rejection(
          request('x', { max_tokens: 1024, thinking: { type: 'enabled', budget_tokens: 1024 } }),
        )
      ).message,
    ).toMatch(/^`max_tokens` must be greater than `thinking.budget_tokens`/);
    expect(
      (await rejection(request('x', { thinking: { type: 'enabled', budget_tokens: 100 } }))).message,
    ).toBe('thinking.enabled.budget_tokens: Input should be greater than or equal to 1024');
    expect((await rejection(request('x', { max_tokens: 128_001 }))).message).toBe(
      'max_tokens: 128001 > 128000, which is the maximum allowed number of output tokens for claude-sonnet-4-6',
    );
    const marked = { type: 'text', text: 'x', cache_control: { type: 'ephemeral' } };
    const five = withMessages([{ role: 'user', content: [marked, marked, marked, marked, marked] }]);
    expect((await rejection(five)).message).toBe(
      'A maximum of 4 blocks with cache_control may be provided. Found 5.',
    );
  });

  it('requires model, max_tokens and messages', async () => {
    expect((await rejection({ max_tokens: 1, messages: [] })).message).toBe('model: Field required');
    expect((await rejection({ model: 'claude-sonnet-4-6', messages: [] })).message).toBe(
      'max_tokens: Field required',
    );
    expect((await rejection({ model: 'claude-sonnet-4-6', max_tokens: 5 })).message).toBe(
      'messages: Field required',
    );
  });
});
