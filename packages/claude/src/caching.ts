import type Anthropic from '@anthropic-ai/sdk';
import type { TranscriptContentBlock, TranscriptMessage } from './types.ts';

/**
 * Prompt caching the way production clients do it: one breakpoint on the system prompt (stable for a
 * conversation) and one on the last block of the last message (the latest turn boundary), so the next
 * turn reads everything up to here from the cache. Other `cache_control` marks in the transcript are
 * removed, so a request never carries more than two of the API's four allowed breakpoints.
 */

const EPHEMERAL: Anthropic.CacheControlEphemeral = { type: 'ephemeral' };

/** Blocks that may not carry `cache_control` (the API rejects it, or it is meaningless). */
function cacheable(block: TranscriptContentBlock): boolean {
  if (block.type === 'thinking' || block.type === 'redacted_thinking') return false;
  if (block.type === 'text' && block.text.length === 0) return false;
  return true;
}

function withoutCacheControl(block: TranscriptContentBlock): TranscriptContentBlock {
  if (!('cache_control' in block) || block.cache_control == null) return block;
  const { cache_control: _drop, ...rest } = block;
  return rest as TranscriptContentBlock;
}

function withCacheControl(block: TranscriptContentBlock): TranscriptContentBlock {
  return { ...block, cache_control: EPHEMERAL } as TranscriptContentBlock;
}

/** The system prompt as one text block with a cache breakpoint (undefined when empty). */
export function cachedSystem(system: string | undefined): Anthropic.TextBlockParam[] | undefined {
  if (!system) return undefined;
  return [{ type: 'text', text: system, cache_control: EPHEMERAL }];
}

/** A copy of the messages with a breakpoint on the last cacheable block of the last message. */
export function withTurnBreakpoint(messages: TranscriptMessage[]): TranscriptMessage[] {
  const out = messages.map((message): TranscriptMessage => {
    if (typeof message.content === 'string') return message;
    return { ...message, content: message.content.map(withoutCacheControl) } as TranscriptMessage;
  });
  const last = out.at(-1);
  if (!last) return out;
  const blocks: TranscriptContentBlock[] =
    typeof last.content === 'string'
      ? last.content.length > 0
        ? [{ type: 'text', text: last.content }]
        : []
      : [...last.content];
  for (let i = blocks.length - 1; i >= 0; i--) {
    const block = blocks[i];
    if (block && cacheable(block)) {
      blocks[i] = withCacheControl(block);
      out[out.length - 1] = { ...last, content: blocks } as TranscriptMessage;
      break;
    }
  }
  return out;
}
