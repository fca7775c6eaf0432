import Anthropic from '@anthropic-ai/sdk';
import {
  buildParams,
  type ClaudeChunk,
  createClaudeProvider,
  type StreamRequest,
  type TranscriptMessage,
} from '@turnstream/claude';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { collect, completed, MODEL, type RunningSimulator, startSimulator } from './support/sim.ts';

/**
 * The SDK's MessageStream helper and the provider's normalized chunks agree on text, thinking and
 * usage for the same request. Each side gets its own simulator with the same seed and signing key,
 * so both see the same fresh prompt cache and the same replies.
 */

const options = {
  tokenDelayMs: 0,
  replyWords: 15,
  seed: 'parity',
  signingKey: 'parity-key',
  minCacheableTokens: 0,
};
let forSdk: RunningSimulator;
let forProvider: RunningSimulator;

beforeAll(async () => {
  [forSdk, forProvider] = await Promise.all([startSimulator(options), startSimulator(options)]);
});
afterAll(async () => {
  await Promise.all([forSdk.close(), forProvider.close()]);
});

interface Observed {
  text: string;
  thinking: string;
  signature: string | null;
  usage: {
    inputTokens: number;
    outputTokens: number;
    cacheCreationInputTokens: number;
    cacheReadInputTokens: number;
  };
  stopReason: string | null;
  content: unknown[];
}

async function viaMessageStream(req: StreamRequest): Promise<Observed> {
  const client = new Anthropic({ apiKey: 'sk-test', baseURL: forSdk.url, maxRetries: 0 });
  const { stream: _stream, ...params } = buildParams(req);
  let text = '';
  let thinking = '';
  let signature: string | null = null;
  const stream = client.messages
    .stream(params)
    .on('text', (delta) => {
      text += delta;
    })
    .on('thinking', (delta) => {
      thinking += delta;
    })
    .on('signature', (s) => {
      signature = s;
    });
  const message = await stream.finalMessage();
  const content = message.content.map((block) =>
    block.type === 'text' ? { type: 'text', text: block.text } : block,
  );
  return {
    text,
    thinking,
    signature,
    stopReason: message.stop_reason,
    content,
    usage: {
      inputTokens: message.usage.input_tokens,
      outputTokens: message.usage.output_tokens,
      cacheCreationInputTokens: message.usage.cache_creation_input_tokens ?? 0,
      cacheReadInputTokens: message.usage.cache_read_input_tokens ?? 0,
    },
  };
}

async function viaProvider(req: StreamRequest): Promise<{ observed: Observed; chunks: ClaudeChunk[] }> {
  const provider = createClaudeProvider({ apiKey: 'sk-test', baseURL: forProvider.url });
  const { chunks, error } = await collect(provider, req);
  expect(error).toBeUndefined();
  const done = completed(chunks);
  const thinkingBlock = done.content.find((b) => b.type === 'thinking');
  const pick = (type: 'text_delta' | 'thinking_delta') =>
    chunks
      .filter((c): c is Extract<ClaudeChunk, { type: typeof type }> => c.type === type)
      .map((c) => c.text)
      .join('');
  expect(done.text).toBe(pick('text_delta'));
  return {
    chunks,
    observed: {
      text: pick('text_delta'),
      thinking: pick('thinking_delta'),
      signature: thinkingBlock?.type === 'thinking' ? thinkingBlock.signature : null,
      usage: done.usage,
      stopReason: done.stopReason,
      content: done.content,
    },
  };
}

describe('MessageStream vs provider chunks', () => {
  it('agree on text, thinking, signature, usage and content across two turns with caching', async () => {
    const system = 'You answer in a calm voice. '.repeat(10);
    const turn1: TranscriptMessage[] = [{ role: 'user', content: 'Tell me about rivers.' }];
    const req1: StreamRequest = {
      model: MODEL,
      system,
      messages: turn1,
      maxTokens: 4096,
      thinking: { budgetTokens: 2048 },
    };

    const sdk1 = await viaMessageStream(req1);
    const { observed: ours1 } = await viaProvider(req1);
    expect(ours1).toEqual(sdk1);
    expect(sdk1.thinking.length).toBeGreaterThan(0);
    expect(sdk1.signature).not.toBeNull();
    expect(sdk1.usage.cacheCreationInputTokens).toBeGreaterThan(0);

    const turn2: TranscriptMessage[] = [
      ...turn1,
      { role: 'assistant', content: ours1.content as TranscriptMessage['content'] },
      { role: 'user', content: 'And mountains?' },
    ];
    const req2: StreamRequest = { ...req1, messages: turn2 };
    const sdk2 = await viaMessageStream(req2);
    const { observed: ours2 } = await viaProvider(req2);
    expect(ours2).toEqual(sdk2);
    expect(sdk2.usage.cacheReadInputTokens).toBeGreaterThan(0);
  });

  it('agree without thinking', async () => {
    const req: StreamRequest = {
      model: MODEL,
      messages: [{ role: 'user', content: 'Plain [[sim words=30]]' }],
      maxTokens: 500,
    };
    const sdk = await viaMessageStream(req);
    const { observed: ours, chunks } = await viaProvider(req);
    expect(ours).toEqual(sdk);
    expect(chunks.filter((c) => c.type === 'text_delta')).toHaveLength(30);
    expect(chunks.filter((c) => c.type === 'message_completed')).toHaveLength(1);
  });
});
