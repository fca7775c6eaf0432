import { z } from 'zod';

/**
 * The models a deployment serves, with their output limits. Conversations are created only with one
 * of them (the API checks the model and its thinking budget), so a turn never fails on a model name
 * the provider does not know or on a budget it refuses. Apps take the list from `MODELS`
 * ({@link parseModelList}); {@link DEFAULT_MODELS} is used when it is unset.
 */
export interface ModelSpec {
  /** The provider's model id, e.g. `claude-sonnet-4-6`. */
  id: string;
  /** Largest `max_tokens` the model accepts (thinking included). */
  maxOutputTokens: number;
  /**
   * Whether the model takes a fixed thinking budget (`thinking: { type: "enabled", budget_tokens }`).
   * Newer models think adaptively and refuse one with a 400.
   */
  thinkingBudget: boolean;
}

/** Smallest thinking budget the provider accepts. */
export const MIN_THINKING_BUDGET = 1024;
/** Output tokens always left to the visible reply when thinking uses its whole budget. */
export const MIN_REPLY_TOKENS = 1024;

const extended = (id: string, maxOutputTokens: number): ModelSpec => ({
  id,
  maxOutputTokens,
  thinkingBudget: true,
});
const adaptive = (id: string, maxOutputTokens: number): ModelSpec => ({
  id,
  maxOutputTokens,
  thinkingBudget: false,
});

/** Current Claude models (Anthropic's model overview, late 2026). */
export const DEFAULT_MODELS: readonly ModelSpec[] = [
  adaptive('claude-fable-5-1', 128_000),
  adaptive('claude-fable-5', 128_000),
  adaptive('claude-opus-5-5', 128_000),
  adaptive('claude-opus-5', 128_000),
  adaptive('claude-sonnet-5-5', 128_000),
  adaptive('claude-sonnet-5', 128_000),
  adaptive('claude-haiku-5-5', 128_000),
  adaptive('claude-opus-4-8', 128_000),
  adaptive('claude-opus-4-7', 128_000),
  extended('claude-opus-4-6', 128_000),
  extended('claude-sonnet-4-6', 128_000),
  extended('claude-opus-4-5', 64_000),
  extended('claude-opus-4-5-20251101', 64_000),
  extended('claude-sonnet-4-5', 64_000),
  extended('claude-sonnet-4-5-20250929', 64_000),
  extended('claude-haiku-4-5', 64_000),
  extended('claude-haiku-4-5-20251001', 64_000),
];

/** The largest thinking budget a conversation on `model` may ask for, or null when it takes none. */
export function maxThinkingBudget(model: ModelSpec): number | null {
  if (!model.thinkingBudget) return null;
  const max = model.maxOutputTokens - MIN_REPLY_TOKENS;
  return max >= MIN_THINKING_BUDGET ? max : null;
}

/** What one Claude request asks for: `max_tokens` and the fixed thinking budget (null: none). */
export interface OutputBudget {
  /** `max_tokens` of the request: the reply budget plus the thinking budget, at most the model's limit. */
  maxTokens: number;
  /** `thinking.budget_tokens` of the request, or null for no fixed thinking budget. */
  thinkingBudget: number | null;
}

/**
 * `max_tokens` and thinking budget of a turn on `model`: `replyTokens` for the visible reply plus the
 * conversation's thinking budget, never past the model's output limit, so no request fails on it. A
 * budget the model no longer takes (the list changed after the conversation was created) is dropped,
 * one past the model's largest is lowered to it. A model missing from the list (unknown limits) gets
 * `replyTokens` plus the budget as asked.
 */
export function outputBudget(
  model: ModelSpec | undefined,
  replyTokens: number,
  thinkingBudget: number | null,
): OutputBudget {
  if (!model) return { maxTokens: replyTokens + (thinkingBudget ?? 0), thinkingBudget };
  let budget: number | null = null;
  if (thinkingBudget !== null) {
    const max = maxThinkingBudget(model);
    budget = max === null ? null : Math.min(Math.max(thinkingBudget, MIN_THINKING_BUDGET), max);
  }
  return { maxTokens: Math.min(model.maxOutputTokens, replyTokens + (budget ?? 0)), thinkingBudget: budget };
}

const MODEL_ID = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,199}$/;

/**
 * Parse a model list: comma-separated `id:maxOutputTokens[:budget]` entries, where `:budget` marks a
 * model that takes a fixed thinking budget. Example:
 * `claude-sonnet-4-6:128000:budget,claude-opus-5-5:128000`. Throws a `RangeError` naming the entry.
 */
export function parseModelList(spec: string): ModelSpec[] {
  const models: ModelSpec[] = [];
  for (const raw of spec.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const match = /^(.+?):(\d{1,9})(?::(budget))?$/.exec(entry);
    if (!match || !MODEL_ID.test(match[1]!)) {
      throw new RangeError(`"${entry}" is not id:maxOutputTokens[:budget]`);
    }
    const maxOutputTokens = Number(match[2]);
    if (maxOutputTokens < 1) throw new RangeError(`"${entry}": maxOutputTokens must be at least 1`);
    if (models.some((m) => m.id === match[1])) throw new RangeError(`"${match[1]}" is listed twice`);
    models.push({ id: match[1]!, maxOutputTokens, thinkingBudget: match[3] === 'budget' });
  }
  if (models.length === 0) throw new RangeError('the list names no model');
  return models;
}

/**
 * `MODELS` as an environment variable: `id:maxOutputTokens[:budget],...` ({@link parseModelList});
 * unset or empty: {@link DEFAULT_MODELS}. The API and every worker read the same list.
 */
export const modelListEnvSchema = z
  .string()
  .optional()
  .transform((value, ctx): readonly ModelSpec[] => {
    if (value === undefined || value.trim() === '') return DEFAULT_MODELS;
    try {
      return parseModelList(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
      return z.NEVER;
    }
  });
