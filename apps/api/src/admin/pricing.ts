import { z } from 'zod';

/** USD per million tokens of each kind. Cache reads and cache writes are priced on their own. */
export const modelPriceSchema = z.strictObject({
  input: z.number().nonnegative(),
  output: z.number().nonnegative(),
  cacheRead: z.number().nonnegative(),
  cacheWrite: z.number().nonnegative(),
});
export type ModelPrice = z.infer<typeof modelPriceSchema>;
export type PriceTable = Record<string, ModelPrice>;
export const priceTableSchema = z.record(z.string().min(1), modelPriceSchema);

/**
 * List prices (USD per million tokens; 5-minute cache writes) of current Claude models. Override or
 * extend with `MODEL_PRICES` (JSON, same shape). A model missing here is reported with cost `null`.
 */
export const DEFAULT_PRICES: PriceTable = {
  'claude-opus-4-5': { input: 5, output: 25, cacheRead: 0.5, cacheWrite: 6.25 },
  'claude-opus-4-1': { input: 15, output: 75, cacheRead: 1.5, cacheWrite: 18.75 },
  'claude-opus-4': { input: 15, output: 75, cacheRead: 1.5, cacheWrite: 18.75 },
  'claude-sonnet-4-6': { input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75 },
  'claude-sonnet-4-5': { input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75 },
  'claude-sonnet-4': { input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75 },
  'claude-haiku-4-5': { input: 1, output: 5, cacheRead: 0.1, cacheWrite: 1.25 },
};

export interface TokenCounts {
  inputTokens: number;
  outputTokens: number;
  cacheReadInputTokens: number;
  cacheCreationInputTokens: number;
}

/** Price for a model: exact name first, then the longest configured name it starts with (dated ids). */
export function priceFor(prices: PriceTable, model: string): ModelPrice | null {
  if (prices[model]) return prices[model];
  const match = Object.keys(prices)
    .filter((name) => model.startsWith(`${name}-`))
    .sort((a, b) => b.length - a.length)[0];
  return match ? prices[match]! : null;
}

/** Cost in USD of token counts at a model's price; null when the model has no price. */
export function costUsd(prices: PriceTable, model: string, t: TokenCounts): number | null {
  const p = priceFor(prices, model);
  if (!p) return null;
  const usd =
    (t.inputTokens * p.input +
      t.outputTokens * p.output +
      t.cacheReadInputTokens * p.cacheRead +
      t.cacheCreationInputTokens * p.cacheWrite) /
    1_000_000;
  return Math.round(usd * 1e6) / 1e6;
}
