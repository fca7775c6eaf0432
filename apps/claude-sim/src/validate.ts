import { invalidRequest, SimApiError } from './api-error.ts';
import type { ThinkingSigner } from './signing.ts';
import { countRequestTokens } from './tokens.ts';

/**
 * Request validation with the real API's messages, for the errors a stored transcript can cause
 * (and the few structural ones a client can hit). Not a full schema: unknown fields pass.
 */

type Block = Record<string, unknown>;
export interface SimMessage {
  role: string;
  content: unknown;
}

/** A `POST /v1/messages` body that passed validation. */
export interface MessagesRequest {
  model: string;
  maxTokens: number;
  stream: boolean;
  system: unknown;
  messages: SimMessage[];
  /** Present when thinking is enabled (`enabled` or `adaptive`). */
  thinking: { budgetTokens: number } | null;
  /** Input tokens of the whole request (the deterministic estimate). */
  inputTokens: number;
}

export interface ValidationContext {
  signer: ThinkingSigner;
  contextLimitTokens: number;
  /** Largest `max_tokens` of any model (the real API's limit depends on the model). */
  maxOutputTokens: number;
}

const MAX_CACHE_BREAKPOINTS = 4;
const MIN_THINKING_BUDGET = 1024;
const DEFAULT_ADAPTIVE_BUDGET = 2048;

function blocksOf(content: unknown): Block[] {
  return Array.isArray(content) ? (content as Block[]) : [];
}

/** Model names the simulator serves: anything `claude-*`; others are a 404 like an unknown model. */
export function checkModel(model: unknown): string {
  if (typeof model !== 'string' || model.length === 0) throw invalidRequest('model: Field required');
  if (!model.startsWith('claude-')) throw new SimApiError('not_found_error', `model: ${model}`);
  return model;
}

function checkMessagesShape(messages: unknown): SimMessage[] {
  if (!Array.isArray(messages)) throw invalidRequest('messages: Field required');
  messages.forEach((message: unknown, i) => {
    const role = (message as { role?: unknown } | null)?.role;
    if (role !== 'user' && role !== 'assistant' && role !== 'system') {
      throw invalidRequest(`messages.${i}.role: Input should be 'user' or 'assistant'`);
    }
    const content = (message as { content?: unknown }).content;
    if (typeof content !== 'string' && !Array.isArray(content)) {
      throw invalidRequest(`messages.${i}.content: Field required`);
    }
  });
  return messages as SimMessage[];
}

function checkNonEmpty(messages: SimMessage[]): void {
  messages.forEach((message, i) => {
    const isFinalAssistant = i === messages.length - 1 && message.role === 'assistant';
    const { content } = message;
    const empty = typeof content === 'string' ? content.length === 0 : blocksOf(content).length === 0;
    if (empty && !isFinalAssistant) {
      throw invalidRequest(
        `messages.${i}: all messages must have non-empty content except for the optional final assistant message`,
      );
    }
    const texts =
      typeof content === 'string'
        ? empty
          ? []
          : [content]
        : blocksOf(content)
            .filter((b) => b.type === 'text')
            .map((b) => String(b.text ?? ''));
    for (const text of texts) {
      if (text.length === 0) throw invalidRequest('messages: text content blocks must be non-empty');
      if (text.trim().length === 0) {
        throw invalidRequest('messages: text content blocks must contain non-whitespace text');
      }
    }
  });
}

function toolUseIds(message: SimMessage | undefined): string[] {
  if (message?.role !== 'assistant') return [];
  return blocksOf(message.content)
    .filter((b) => b.type === 'tool_use')
    .map((b) => String(b.id));
}

function checkToolPairing(messages: SimMessage[]): void {
  messages.forEach((message, i) => {
    const ids = toolUseIds(message);
    if (ids.length > 0) {
      const next = messages[i + 1];
      const answered = new Set(
        next?.role === 'user'
          ? blocksOf(next.content)
              .filter((b) => b.type === 'tool_result')
              .map((b) => String(b.tool_use_id))
          : [],
      );
      const missing = ids.filter((id) => !answered.has(id));
      if (missing.length > 0) {
        throw invalidRequest(
          `messages.${i}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ` +
            `${missing.join(', ')}. Each \`tool_use\` block must have a corresponding \`tool_result\` block ` +
            'in the next message.',
        );
      }
    }
    if (message.role === 'user') {
      const previous = new Set(toolUseIds(messages[i - 1]));
      blocksOf(message.content).forEach((block, j) => {
        if (block.type === 'tool_result' && !previous.has(String(block.tool_use_id))) {
          throw invalidRequest(
            `messages.${i}.content.${j}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ` +
              `${String(block.tool_use_id)}. Each \`tool_result\` block must have a corresponding ` +
              '`tool_use` block in the previous message.',
          );
        }
      });
    }
  });
}

function checkSignatures(messages: SimMessage[], signer: ThinkingSigner): void {
  messages.forEach((message, i) => {
    if (message.role !== 'assistant') return;
    blocksOf(message.content).forEach((block, j) => {
      if (block.type !== 'thinking') return;
      if (block.signature === undefined) {
        throw invalidRequest(`messages.${i}.content.${j}.thinking.signature: Field required`);
      }
      if (!signer.verify(String(block.thinking ?? ''), block.signature)) {
        throw invalidRequest(`messages.${i}.content.${j}: Invalid \`signature\` in \`thinking\` block`);
      }
    });
  });
}

function countBreakpoints(body: Record<string, unknown>): number {
  const marked = (b: unknown) => Boolean((b as Block | null)?.cache_control);
  let count = 0;
  if (Array.isArray(body.tools)) count += body.tools.filter(marked).length;
  if (Array.isArray(body.system)) count += body.system.filter(marked).length;
  for (const message of (body.messages as SimMessage[]) ?? [])
    count += blocksOf(message.content).filter(marked).length;
  return count;
}

function checkThinking(thinking: unknown, maxTokens: number): { budgetTokens: number } | null {
  const config = thinking as { type?: unknown; budget_tokens?: unknown } | undefined;
  if (!config || config.type === 'disabled') return null;
  if (config.type === 'adaptive') return { budgetTokens: Math.min(DEFAULT_ADAPTIVE_BUDGET, maxTokens) };
  if (config.type !== 'enabled') {
    throw invalidRequest("thinking.type: Input should be 'enabled', 'disabled' or 'adaptive'");
  }
  const budget = config.budget_tokens;
  if (typeof budget !== 'number' || !Number.isInteger(budget)) {
    throw invalidRequest('thinking.enabled.budget_tokens: Field required');
  }
  if (budget < MIN_THINKING_BUDGET) {
    throw invalidRequest(
      `thinking.enabled.budget_tokens: Input should be greater than or equal to ${MIN_THINKING_BUDGET}`,
    );
  }
  if (maxTokens <= budget) {
    throw invalidRequest(
      '`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at ' +
        'https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size',
    );
  }
  return { budgetTokens: budget };
}

/** Validates a `POST /v1/messages` body; throws a {@link SimApiError} with the real message. */
export function validateMessagesRequest(raw: unknown, ctx: ValidationContext): MessagesRequest {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw invalidRequest('Input should be a valid dictionary or object to extract fields from');
  }
  const body = raw as Record<string, unknown>;
  const model = checkModel(body.model);
  const maxTokens = body.max_tokens;
  if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens)) {
    throw invalidRequest('max_tokens: Field required');
  }
  if (maxTokens < 1) throw invalidRequest('max_tokens: Input should be greater than or equal to 1');
  if (maxTokens > ctx.maxOutputTokens) {
    throw invalidRequest(
      `max_tokens: ${maxTokens} > ${ctx.maxOutputTokens}, which is the maximum allowed number of output tokens for ${model}`,
    );
  }
  const messages = checkMessagesShape(body.messages);
  checkNonEmpty(messages);
  checkToolPairing(messages);
  checkSignatures(messages, ctx.signer);
  const breakpoints = countBreakpoints(body);
  if (breakpoints > MAX_CACHE_BREAKPOINTS) {
    throw invalidRequest(
      `A maximum of ${MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. Found ${breakpoints}.`,
    );
  }
  const thinking = checkThinking(body.thinking, maxTokens);
  const inputTokens = countRequestTokens(body);
  if (inputTokens > ctx.contextLimitTokens) {
    throw invalidRequest(`prompt is too long: ${inputTokens} tokens > ${ctx.contextLimitTokens} maximum`);
  }
  return {
    model,
    maxTokens,
    stream: body.stream === true,
    system: body.system,
    messages,
    thinking,
    inputTokens,
  };
}

/** Validates a `POST /v1/messages/count_tokens` body and returns its input tokens. */
export function countTokensOf(raw: unknown): number {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw invalidRequest('Input should be a valid dictionary or object to extract fields from');
  }
  const body = raw as Record<string, unknown>;
  checkModel(body.model);
  checkNonEmpty(checkMessagesShape(body.messages));
  return countRequestTokens(body);
}

/** Text of the last user message (string content, or its text blocks joined). */
export function lastUserText(messages: unknown): string {
  if (!Array.isArray(messages)) return '';
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i] as SimMessage | undefined;
    if (message?.role !== 'user') continue;
    if (typeof message.content === 'string') return message.content;
    return blocksOf(message.content)
      .filter((b) => b.type === 'text')
      .map((b) => String(b.text ?? ''))
      .join('\n');
  }
  return '';
}

/** Whether the messages carry thinking or redacted thinking blocks. */
export function carriesThinking(messages: unknown): boolean {
  if (!Array.isArray(messages)) return false;
  return messages.some((m: SimMessage) =>
    blocksOf(m?.content).some((b) => b.type === 'thinking' || b.type === 'redacted_thinking'),
  );
}
