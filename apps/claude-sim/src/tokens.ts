/**
 * Token counting for the simulator: the estimate `@turnstream/claude` budgets with, so a client can
 * budget a transcript exactly against this simulator. Not Claude's tokenizer (see that module).
 */
import {
  estimateBlockTokens,
  estimateContentTokens,
  estimateTextTokens,
  TOKEN_OVERHEADS,
} from '@turnstream/claude';

/** Fixed cost of a request (start/end markers). */
export const REQUEST_OVERHEAD = TOKEN_OVERHEADS.request;
/** Fixed cost of each message (role marker). */
export const MESSAGE_OVERHEAD = TOKEN_OVERHEADS.message;
/** Fixed cost of a non-empty system prompt. */
export const SYSTEM_OVERHEAD = TOKEN_OVERHEADS.system;

/** Tokens in a piece of text. */
export const countTextTokens = estimateTextTokens;
/** Tokens of one content block, as sent in a request. */
export const countBlockTokens = estimateBlockTokens;
/** Tokens of a message's `content` (string or blocks), without the message overhead. */
export const countContentTokens = estimateContentTokens;

/** Tokens of the `system` field (string or text blocks), including its overhead when present. */
export function countSystemTokens(system: unknown): number {
  if (system === undefined || system === null) return 0;
  if (typeof system === 'string' && system.length === 0) return 0;
  return SYSTEM_OVERHEAD + countContentTokens(system);
}

/** Total input tokens of a request body (system, tools, messages). */
export function countRequestTokens(body: { system?: unknown; messages?: unknown; tools?: unknown }): number {
  let tokens = REQUEST_OVERHEAD + countSystemTokens(body.system);
  if (Array.isArray(body.tools) && body.tools.length > 0)
    tokens += countTextTokens(JSON.stringify(body.tools));
  if (Array.isArray(body.messages)) {
    for (const message of body.messages as Array<{ content?: unknown }>) {
      tokens += MESSAGE_OVERHEAD + countContentTokens(message?.content);
    }
  }
  return tokens;
}
