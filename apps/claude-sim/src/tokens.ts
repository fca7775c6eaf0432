/**
 * Deterministic token counting for the simulator.
 *
 * Not Claude's tokenizer: a word-piece approximation calibrated on English text (a run of letters
 * costs one token per 4 letters, every digit and every punctuation/symbol character one token),
 * plus small fixed overheads per message and block. `@turnstream/claude`'s `estimateTokens` uses the
 * same algorithm, so a client can budget a transcript exactly against this simulator.
 */

const PIECE = /\p{L}+|\p{N}|[^\s\p{L}\p{N}]/gu;

/** Fixed cost of a request (start/end markers). */
export const REQUEST_OVERHEAD = 3;
/** Fixed cost of each message (role marker). */
export const MESSAGE_OVERHEAD = 4;
/** Fixed cost of a non-empty system prompt. */
export const SYSTEM_OVERHEAD = 3;
/** Cost of an image or document block (the sim does not look inside). */
export const MEDIA_BLOCK_TOKENS = 1600;

/** Tokens in a piece of text. */
export function countTextTokens(text: string): number {
  let tokens = 0;
  for (const match of text.matchAll(PIECE)) {
    const piece = match[0];
    tokens += /^\p{L}/u.test(piece) ? Math.ceil(piece.length / 4) : 1;
  }
  return tokens;
}

type Block = Record<string, unknown>;

function toolResultContentTokens(content: unknown): number {
  if (typeof content === 'string') return countTextTokens(content);
  if (Array.isArray(content)) return content.reduce((n: number, b) => n + countBlockTokens(b as Block), 0);
  return 0;
}

/** Tokens of one content block, as sent in a request. */
export function countBlockTokens(block: Block): number {
  switch (block.type) {
    case 'text':
      return countTextTokens(String(block.text ?? ''));
    case 'thinking':
      return countTextTokens(String(block.thinking ?? ''));
    case 'redacted_thinking':
      return Math.ceil(String(block.data ?? '').length / 8);
    case 'tool_use':
      return countTextTokens(String(block.name ?? '')) + countTextTokens(JSON.stringify(block.input ?? {}));
    case 'tool_result':
      return 3 + toolResultContentTokens(block.content);
    case 'image':
    case 'document':
      return MEDIA_BLOCK_TOKENS;
    default:
      return countTextTokens(JSON.stringify(block));
  }
}

/** Tokens of a message's `content` (string or blocks), without the message overhead. */
export function countContentTokens(content: unknown): number {
  if (typeof content === 'string') return countTextTokens(content);
  if (Array.isArray(content)) return content.reduce((n: number, b) => n + countBlockTokens(b as Block), 0);
  return 0;
}

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
