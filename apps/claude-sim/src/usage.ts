import type { CacheUsage } from './prompt-cache.ts';

/** Input-side usage of a request: uncached input, cache reads and cache writes. */
export interface InputUsage extends CacheUsage {
  inputTokens: number;
}

export function inputUsage(totalInputTokens: number, cache: CacheUsage): InputUsage {
  return {
    ...cache,
    inputTokens: Math.max(0, totalInputTokens - cache.cacheReadInputTokens - cache.cacheCreationInputTokens),
  };
}

/** `usage` as in a Message (and `message_start`). */
export function messageUsage(usage: InputUsage, outputTokens: number): Record<string, unknown> {
  return {
    input_tokens: usage.inputTokens,
    cache_creation_input_tokens: usage.cacheCreationInputTokens,
    cache_read_input_tokens: usage.cacheReadInputTokens,
    cache_creation: {
      ephemeral_5m_input_tokens: usage.ephemeral5mInputTokens,
      ephemeral_1h_input_tokens: usage.ephemeral1hInputTokens,
    },
    output_tokens: outputTokens,
    service_tier: 'standard',
  };
}

/** `usage` as in `message_delta`: cumulative totals. */
export function deltaUsage(usage: InputUsage, outputTokens: number): Record<string, unknown> {
  return {
    input_tokens: usage.inputTokens,
    cache_creation_input_tokens: usage.cacheCreationInputTokens,
    cache_read_input_tokens: usage.cacheReadInputTokens,
    output_tokens: outputTokens,
  };
}
