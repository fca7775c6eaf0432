import { MIN_THINKING_BUDGET, type ModelSpec, maxThinkingBudget } from '@turnstream/contracts';
import type { AppConfig } from './context.ts';
import type { CreateConversationBody } from './schemas.ts';
import { type ValidationIssue, validationError } from './validation.ts';

/**
 * A conversation's model and thinking budget, checked against the configured models when it is
 * created: a turn must never fail on a model the provider does not serve or a budget it refuses.
 * Returns the model to store; throws `validation_failed` naming `model` or `thinking.budgetTokens`.
 */
export function checkModelChoice(body: CreateConversationBody, config: AppConfig): ModelSpec {
  const id = body.model ?? config.defaultModel;
  const model = config.models.find((m) => m.id === id);
  if (!model) {
    throw validationError([
      { location: 'body', field: 'model', message: 'must be one of the available models (GET /v1/models)' },
    ]);
  }
  const budget = body.thinking?.budgetTokens;
  if (budget === undefined) return model;
  const issue = budgetIssue(model, budget);
  if (issue) throw validationError([issue]);
  return model;
}

function budgetIssue(model: ModelSpec, budget: number): ValidationIssue | null {
  const max = maxThinkingBudget(model);
  const field = 'thinking.budgetTokens';
  if (max === null) {
    return {
      location: 'body',
      field,
      message: `${model.id} takes no thinking budget (it decides how much to think); omit thinking`,
    };
  }
  if (budget > max) {
    return {
      location: 'body',
      field,
      message: `must be from ${MIN_THINKING_BUDGET} to ${max} for ${model.id} (its output limit is ${model.maxOutputTokens} tokens, ${model.maxOutputTokens - max} kept for the reply)`,
    };
  }
  return null;
}

/** `GET /v1/models`: what clients may choose from. */
export function modelsJson(config: AppConfig) {
  return {
    defaultModel: config.defaultModel,
    models: config.models.map((m) => {
      const max = maxThinkingBudget(m);
      return {
        id: m.id,
        maxOutputTokens: m.maxOutputTokens,
        thinkingBudget: max === null ? null : { min: MIN_THINKING_BUDGET, max },
      };
    }),
  };
}
