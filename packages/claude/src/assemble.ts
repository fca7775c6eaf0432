import type Anthropic from '@anthropic-ai/sdk';
import type { ClaudeChunk, ClaudeUsage, TranscriptContentBlock } from './types.ts';

/** Deltas appended to a block's text between two flattenings (see {@link append}). */
const FLATTEN_EVERY = 32;

/**
 * `text + delta`, flattened every {@link FLATTEN_EVERY} deltas (`count` is the delta's number). A
 * string grown by `+=` is a rope: a node of about 32 bytes plus a leaf per delta (about 6 KB for a
 * 200-token reply, against under 1 KB flat), held for the whole stream. Reading one of its characters
 * makes V8 flatten it in place.
 */
function append(text: string, delta: string, count: number): string {
  const grown = text + delta;
  if (count % FLATTEN_EVERY === 0) grown.charCodeAt(0);
  return grown;
}

type Assembling =
  | { type: 'text'; text: string; deltas: number }
  | { type: 'thinking'; thinking: string; signature: string; deltas: number }
  | { type: 'redacted_thinking'; data: string }
  | { type: 'tool_use'; id: string; name: string; json: string }
  | { type: 'other'; block: TranscriptContentBlock };

/**
 * Builds the assistant message from raw stream events (the same accumulation the SDK's MessageStream
 * does), and turns content deltas into normalized chunks.
 */
export class MessageAssembler {
  readonly #blocks: Assembling[] = [];
  #usage: ClaudeUsage = {
    inputTokens: 0,
    outputTokens: 0,
    cacheCreationInputTokens: 0,
    cacheReadInputTokens: 0,
  };
  #stopReason: string | null = null;
  #stopped = false;
  #lastEvent: string | null = null;

  /** Whether `message_stop` arrived. */
  get stopped(): boolean {
    return this.#stopped;
  }

  get lastEvent(): string | null {
    return this.#lastEvent;
  }

  /** Applies one event; returns the chunk it yields, if any. */
  apply(event: Anthropic.RawMessageStreamEvent): ClaudeChunk | null {
    this.#lastEvent = event.type;
    switch (event.type) {
      case 'message_start':
        this.#mergeUsage(event.message.usage);
        return null;
      case 'content_block_start':
        this.#blocks[event.index] = start(event.content_block);
        return null;
      case 'content_block_delta':
        return this.#delta(event.index, event.delta);
      case 'message_delta':
        this.#stopReason = event.delta.stop_reason ?? this.#stopReason;
        this.#mergeUsage(event.usage);
        return null;
      case 'message_stop':
        this.#stopped = true;
        return null;
      default:
        return null;
    }
  }

  /** The completed message: content ready for a transcript, text, stop reason, usage. */
  result(): {
    content: TranscriptContentBlock[];
    text: string;
    stopReason: string | null;
    usage: ClaudeUsage;
  } {
    const content: TranscriptContentBlock[] = [];
    for (const block of this.#blocks) {
      if (!block) continue;
      if (block.type === 'text') {
        if (block.text.length > 0) content.push({ type: 'text', text: block.text });
      } else if (block.type === 'thinking') {
        content.push({ type: 'thinking', thinking: block.thinking, signature: block.signature });
      } else if (block.type === 'redacted_thinking') {
        content.push({ type: 'redacted_thinking', data: block.data });
      } else if (block.type === 'tool_use') {
        content.push({ type: 'tool_use', id: block.id, name: block.name, input: parseInput(block.json) });
      } else {
        content.push(block.block);
      }
    }
    const text = this.#blocks.map((b) => (b?.type === 'text' ? b.text : '')).join('');
    return { content, text, stopReason: this.#stopReason, usage: { ...this.#usage } };
  }

  #delta(index: number, delta: Anthropic.RawContentBlockDelta): ClaudeChunk | null {
    const block = this.#blocks[index];
    if (!block) return null;
    if (delta.type === 'text_delta' && block.type === 'text') {
      block.text = append(block.text, delta.text, ++block.deltas);
      return delta.text ? { type: 'text_delta', text: delta.text } : null;
    }
    if (delta.type === 'thinking_delta' && block.type === 'thinking') {
      block.thinking = append(block.thinking, delta.thinking, ++block.deltas);
      return delta.thinking ? { type: 'thinking_delta', text: delta.thinking } : null;
    }
    if (delta.type === 'signature_delta' && block.type === 'thinking') {
      block.signature = delta.signature;
      return null;
    }
    if (delta.type === 'input_json_delta' && block.type === 'tool_use') {
      block.json += delta.partial_json;
    }
    return null;
  }

  #mergeUsage(usage: {
    input_tokens?: number | null;
    output_tokens?: number | null;
    cache_creation_input_tokens?: number | null;
    cache_read_input_tokens?: number | null;
  }): void {
    // message_delta carries cumulative totals, omitted when they don't apply: overwrite, never add.
    if (usage.input_tokens != null) this.#usage.inputTokens = usage.input_tokens;
    if (usage.output_tokens != null) this.#usage.outputTokens = usage.output_tokens;
    if (usage.cache_creation_input_tokens != null) {
      this.#usage.cacheCreationInputTokens = usage.cache_creation_input_tokens;
    }
    if (usage.cache_read_input_tokens != null)
      this.#usage.cacheReadInputTokens = usage.cache_read_input_tokens;
  }
}

function start(block: Anthropic.RawContentBlockStartEvent['content_block']): Assembling {
  switch (block.type) {
    case 'text':
      return { type: 'text', text: block.text ?? '', deltas: 0 };
    case 'thinking':
      return {
        type: 'thinking',
        thinking: block.thinking ?? '',
        signature: block.signature ?? '',
        deltas: 0,
      };
    case 'redacted_thinking':
      return { type: 'redacted_thinking', data: block.data };
    case 'tool_use':
      return { type: 'tool_use', id: block.id, name: block.name, json: '' };
    default:
      return { type: 'other', block: block as unknown as TranscriptContentBlock };
  }
}

function parseInput(json: string): unknown {
  if (json.trim() === '') return {};
  try {
    return JSON.parse(json);
  } catch {
    return {};
  }
}
