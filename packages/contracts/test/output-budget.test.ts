import { describe, expect, it } from 'vitest';
import { MIN_THINKING_BUDGET, type ModelSpec, outputBudget } from '../src/models.ts';

const budgeted: ModelSpec = { id: 'claude-sonnet-4-5', maxOutputTokens: 64_000, thinkingBudget: true };
const adaptive: ModelSpec = { id: 'claude-opus-5', maxOutputTokens: 128_000, thinkingBudget: false };
const tiny: ModelSpec = { id: 'small', maxOutputTokens: 1500, thinkingBudget: true };

describe('outputBudget: max_tokens within the model output limit', () => {
  it('asks for the reply budget plus the thinking budget when they fit', () => {
    expect(outputBudget(budgeted, 1024, null)).toEqual({ maxTokens: 1024, thinkingBudget: null });
    expect(outputBudget(budgeted, 4096, 10_000)).toEqual({ maxTokens: 14_096, thinkingBudget: 10_000 });
  });

  it('never asks for more than the model gives, and keeps max_tokens above the thinking budget', () => {
    // The largest budget the API lets a conversation take, with a large MAX_TOKENS.
    const out = outputBudget(budgeted, 8192, 62_976);
    expect(out).toEqual({ maxTokens: 64_000, thinkingBudget: 62_976 });
    expect(out.maxTokens).toBeGreaterThan(out.thinkingBudget!);
    expect(outputBudget(budgeted, 100_000, null)).toEqual({ maxTokens: 64_000, thinkingBudget: null });
  });

  it('lowers a budget past the model largest, drops one the model no longer takes', () => {
    // MODELS changed after the conversation was created.
    expect(outputBudget(budgeted, 1024, 100_000)).toEqual({ maxTokens: 64_000, thinkingBudget: 62_976 });
    expect(outputBudget(adaptive, 1024, 20_000)).toEqual({ maxTokens: 1024, thinkingBudget: null });
    expect(outputBudget(tiny, 1024, 2048)).toEqual({ maxTokens: 1024, thinkingBudget: null });
    expect(outputBudget(budgeted, 1024, 10)).toEqual({
      maxTokens: 1024 + MIN_THINKING_BUDGET,
      thinkingBudget: MIN_THINKING_BUDGET,
    });
  });

  it('a model missing from the list gets what was asked', () => {
    expect(outputBudget(undefined, 4096, 200_000)).toEqual({ maxTokens: 204_096, thinkingBudget: 200_000 });
  });
});
