import type Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { MessageAssembler } from '../src/assemble.ts';

const usage = {
  input_tokens: 10,
  output_tokens: 1,
  cache_creation_input_tokens: 5,
  cache_read_input_tokens: 0,
} as Anthropic.Usage;

function run(events: unknown[]) {
  const assembler = new MessageAssembler();
  const chunks = events.map((e) => assembler.apply(e as Anthropic.RawMessageStreamEvent)).filter(Boolean);
  return { assembler, chunks };
}

describe('MessageAssembler', () => {
  it('drops empty text blocks, assembles tool input, overwrites cumulative usage', () => {
    const { assembler, chunks } = run([
      { type: 'message_start', message: { usage } },
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
      { type: 'content_block_stop', index: 0 },
      {
        type: 'content_block_start',
        index: 1,
        content_block: { type: 'tool_use', id: 'toolu_1', name: 'f', input: {} },
      },
      { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"a":' } },
      { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '1}' } },
      { type: 'content_block_stop', index: 1 },
      {
        type: 'message_delta',
        delta: { stop_reason: 'tool_use', stop_sequence: null },
        usage: {
          output_tokens: 7,
          input_tokens: null,
          cache_creation_input_tokens: null,
          cache_read_input_tokens: null,
        },
      },
      { type: 'message_stop' },
    ]);
    expect(chunks).toEqual([]);
    expect(assembler.stopped).toBe(true);
    expect(assembler.result()).toEqual({
      content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: { a: 1 } }],
      text: '',
      stopReason: 'tool_use',
      usage: { inputTokens: 10, outputTokens: 7, cacheCreationInputTokens: 5, cacheReadInputTokens: 0 },
    });
  });

  it('keeps redacted thinking and thinking signatures', () => {
    const { assembler } = run([
      { type: 'message_start', message: { usage } },
      { type: 'content_block_start', index: 0, content_block: { type: 'redacted_thinking', data: 'opaque' } },
      {
        type: 'content_block_start',
        index: 1,
        content_block: { type: 'thinking', thinking: '', signature: '' },
      },
      { type: 'content_block_delta', index: 1, delta: { type: 'thinking_delta', thinking: 'hm' } },
      { type: 'content_block_delta', index: 1, delta: { type: 'signature_delta', signature: 'sig' } },
      { type: 'content_block_start', index: 2, content_block: { type: 'text', text: '' } },
      { type: 'content_block_delta', index: 2, delta: { type: 'text_delta', text: 'ok' } },
    ]);
    expect(assembler.stopped).toBe(false);
    expect(assembler.lastEvent).toBe('content_block_delta');
    expect(assembler.result().content).toEqual([
      { type: 'redacted_thinking', data: 'opaque' },
      { type: 'thinking', thinking: 'hm', signature: 'sig' },
      { type: 'text', text: 'ok' },
    ]);
  });

  it('assembles long texts and thinking exactly, across the flattening of their ropes', () => {
    const words = Array.from({ length: 201 }, (_, i) => `w${i} `);
    const { assembler, chunks } = run([
      { type: 'message_start', message: { usage } },
      {
        type: 'content_block_start',
        index: 0,
        content_block: { type: 'thinking', thinking: 'a', signature: '' },
      },
      ...words.map((w) => ({
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'thinking_delta', thinking: w },
      })),
      { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } },
      ...words.map((w) => ({
        type: 'content_block_delta',
        index: 1,
        delta: { type: 'text_delta', text: w },
      })),
    ]);
    expect(chunks).toHaveLength(402);
    const { content, text } = assembler.result();
    expect(text).toBe(words.join(''));
    expect(content).toEqual([
      { type: 'thinking', thinking: `a${words.join('')}`, signature: '' },
      { type: 'text', text: words.join('') },
    ]);
  });
});
