import {
  type ClaudeProvider,
  classifyClaudeError,
  createClaudeProvider,
  type TranscriptMessage,
} from '@turnstream/claude';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, completed, MODEL, type RunningSimulator, startSimulator } from './support/sim.ts';

let sim: RunningSimulator;
let provider: ClaudeProvider;

beforeAll(async () => {
  sim = await startSimulator({ tokenDelayMs: 0, replyWords: 10 });
  provider = createClaudeProvider({ apiKey: 'sk-test', baseURL: sim.url });
});
afterAll(async () => {
  await sim.close();
});

describe('thinking signatures and key rotation', () => {
  it('a transcript with thinking is accepted until the signing key rotates, then is session_invalid', async () => {
    const thinking = { budgetTokens: 1024 };
    const first = await collect(provider, {
      model: MODEL,
      messages: [{ role: 'user', content: 'Question one' }],
      maxTokens: 4096,
      thinking,
    });
    const reply = completed(first.chunks);
    expect(reply.content.map((b) => b.type)).toEqual(['thinking', 'text']);

    const transcript: TranscriptMessage[] = [
      { role: 'user', content: 'Question one' },
      { role: 'assistant', content: reply.content },
      { role: 'user', content: 'Question two' },
    ];
    const second = await collect(provider, { model: MODEL, messages: transcript, maxTokens: 4096, thinking });
    expect(second.error).toBeUndefined();
    expect(sim.requests().at(-1)).toMatchObject({ hasThinking: true, status: 200 });

    const rotated = await fetch(`${sim.url}/__sim/rotate-signing-key`, { method: 'POST' });
    expect(rotated.status).toBe(200);

    const third = await collect(provider, { model: MODEL, messages: transcript, maxTokens: 4096, thinking });
    expect(third.chunks).toEqual([]);
    expect(classifyClaudeError(third.error)).toEqual({
      kind: 'session_invalid',
      reason: 'thinking_signature_invalid',
    });
    expect(sim.requests().at(-1)).toMatchObject({ hasThinking: true, status: 400 });
  });
});
