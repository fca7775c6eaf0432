import type { TranscriptMessage } from './types.ts';

/**
 * Deterministic token estimate for budgeting a transcript (e.g. trimming a rebuilt one to fit the
 * context window). It is the same algorithm the simulator (`apps/claude-sim`) counts with, so against
 * the simulator it is exact. Against the real API it is an approximation shaped like English BPE
 * (about 4 letters per token) that has not been measured against the real tokenizer: budget with a
 * margin (e.g. 80% of the window), and use `countTokens` when an exact number matters.
 *
 * Letters cost one token per 4 in a run, every digit and punctuation/symbol character one token;
 * plus 3 per request, 4 per message, 3 for a system prompt, 1600 per image or document.
 */

const PIECE = /\p{L}+|\p{N}|[^\s\p{L}\p{N}]/gu;
/** Fixed costs of the estimate (the simulator counts with the same ones). */
export const TOKEN_OVERHEADS = {
  /** A request (start/end markers). */
  request: 3,
  /** Each message (role marker). */
  message: 4,
  /** A non-empty system prompt. */
  system: 3,
  /** An image or document block (not looked into). */
  mediaBlock: 1600,
} as const;

/** Estimated tokens of a piece of text. */
export function estimateTextTokens(text: string): number {
  let tokens = 0;
  for (const match of text.matchAll(PIECE)) {
    const piece = match[0];
    tokens += /^\p{L}/u.test(piece) ? Math.ceil(piece.length / 4) : 1;
  }
  return tokens;
}

/** A content block as sent (any of the API's block shapes). */
export type Block = Record<string, unknown>;

/** Estimated tokens of a message's `content` (a string or blocks), without the message overhead. */
export function estimateContentTokens(content: unknown): number {
  if (typeof content === 'string') return estimateTextTokens(content);
  if (Array.isArray(content)) return content.reduce((n: number, b) => n + estimateBlockTokens(b as Block), 0);
  return 0;
}

/** Estimated tokens of one content block, as sent in a request. */
export function estimateBlockTokens(block: Block): number {
  switch (block.type) {
    case 'text':
      return estimateTextTokens(String(block.text ?? ''));
    case 'thinking':
      return estimateTextTokens(String(block.thinking ?? ''));
    case 'redacted_thinking':
      return Math.ceil(String(block.data ?? '').length / 8);
    case 'tool_use':
      return (
        estimateTextTokens(String(block.name ?? '')) + estimateTextTokens(JSON.stringify(block.input ?? {}))
      );
    case 'tool_result':
      return 3 + estimateContentTokens(block.content);
    case 'image':
    case 'document':
      return TOKEN_OVERHEADS.mediaBlock;
    default:
      return estimateTextTokens(JSON.stringify(block));
  }
}

/** Estimated tokens of one transcript message (with its overhead). */
export function estimateMessageTokens(message: TranscriptMessage): number {
  return TOKEN_OVERHEADS.message + estimateContentTokens(message.content);
}

/** Estimated input tokens of a request made of this system prompt and these messages. */
export function estimateTokens(input: { system?: string; messages: TranscriptMessage[] }): number {
  let tokens = TOKEN_OVERHEADS.request;
  if (input.system) tokens += TOKEN_OVERHEADS.system + estimateTextTokens(input.system);
  for (const message of input.messages) tokens += estimateMessageTokens(message);
  return tokens;
}
