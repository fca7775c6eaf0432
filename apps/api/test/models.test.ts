import { DEFAULT_MODELS, parseModelList } from '@turnstream/contracts';
import { databaseDigest } from '@turnstream/db/testing';
import { describe, expect, it } from 'vitest';
import { parseEnv } from '../src/env.ts';
import { harnessFixture, tenantFixture } from './helpers.ts';

/** Models and thinking budgets are checked against the configured models when a conversation is made. */
const h = harnessFixture();
const t = tenantFixture(h);

async function createRejected(body: unknown): Promise<{ field: string; message: string }> {
  const before = await databaseDigest(h.tdb);
  const res = await h.request('POST', '/v1/conversations', { key: t.keys.client, body });
  expect(res.status).toBe(400);
  expect(res.body.error.code).toBe('validation_failed');
  expect(await databaseDigest(h.tdb)).toBe(before);
  const [issue] = res.body.error.details.issues;
  return { field: issue.field, message: res.body.error.message };
}

describe('model validation at conversation creation', () => {
  for (const model of ['   ', 'gpt-4o', 'claude-sonnet-4-6 ', 'CLAUDE-SONNET-4-6', 'claude-opus-4']) {
    it(`model ${JSON.stringify(model)} is 400 naming the field`, async () => {
      const { field, message } = await createRejected({ model });
      expect(field).toBe('model');
      expect(message).toContain('model: must be one of the available models');
    });
  }

  it('a budget beyond the model output limit is 400 naming thinking.budgetTokens', async () => {
    const { field, message } = await createRejected({
      model: 'claude-haiku-4-5',
      thinking: { budgetTokens: 1_000_000 },
    });
    expect(field).toBe('thinking.budgetTokens');
    expect(message).toContain('thinking.budgetTokens: must be from 1024 to 62976 for claude-haiku-4-5');
  });

  it('a budget the default model cannot take (1,000,000) is 400', async () => {
    const { field } = await createRejected({ thinking: { budgetTokens: 1_000_000 } });
    expect(field).toBe('thinking.budgetTokens');
  });

  it('a budget for a model that thinks adaptively is 400', async () => {
    const { field, message } = await createRejected({
      model: 'claude-opus-5-5',
      thinking: { budgetTokens: 2048 },
    });
    expect(field).toBe('thinking.budgetTokens');
    expect(message).toContain('claude-opus-5-5 takes no thinking budget');
  });

  it('accepts every configured model, and the largest budget each takes', async () => {
    for (const model of DEFAULT_MODELS) {
      const body = model.thinkingBudget
        ? { model: model.id, thinking: { budgetTokens: model.maxOutputTokens - 1024 } }
        : { model: model.id };
      const res = await h.request('POST', '/v1/conversations', { key: t.keys.client, body });
      expect(res.status, model.id).toBe(201);
      expect(res.body.model).toBe(model.id);
    }
  });

  it('GET /v1/models lists the models, their output limits and budget ranges', async () => {
    const res = await h.request('GET', '/v1/models', { key: t.keys.viewer });
    expect(res.status).toBe(200);
    expect(res.body.defaultModel).toBe('claude-sonnet-4-6');
    expect(res.body.models).toContainEqual({
      id: 'claude-sonnet-4-6',
      maxOutputTokens: 128_000,
      thinkingBudget: { min: 1024, max: 126_976 },
    });
    expect(res.body.models).toContainEqual({
      id: 'claude-opus-5-5',
      maxOutputTokens: 128_000,
      thinkingBudget: null,
    });
    expect((await h.request('GET', '/v1/models')).status).toBe(401);
  });

  it('a configured list replaces the defaults', async () => {
    const app = h.build({
      config: { models: parseModelList('claude-tiny:4096:budget'), defaultModel: 'claude-tiny' },
    });
    const ok = await app.inject({
      method: 'POST',
      url: '/v1/conversations',
      headers: { authorization: `Bearer ${t.keys.client}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ thinking: { budgetTokens: 3072 } }),
    });
    expect(ok.statusCode).toBe(201);
    expect(ok.json().model).toBe('claude-tiny');
    const refused = await app.inject({
      method: 'POST',
      url: '/v1/conversations',
      headers: { authorization: `Bearer ${t.keys.client}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ model: 'claude-sonnet-4-6' }),
    });
    expect(refused.statusCode).toBe(400);
  });
});

describe('MODELS and DEFAULT_MODEL in the environment', () => {
  it('defaults to the current Claude models', () => {
    expect(parseEnv({}).MODELS).toBe(DEFAULT_MODELS);
  });

  it('parses id:maxOutputTokens[:budget] entries', () => {
    const env = parseEnv({
      MODELS: 'claude-a:64000:budget, claude-b:128000',
      DEFAULT_MODEL: 'claude-b',
    });
    expect(env.MODELS).toEqual([
      { id: 'claude-a', maxOutputTokens: 64_000, thinkingBudget: true },
      { id: 'claude-b', maxOutputTokens: 128_000, thinkingBudget: false },
    ]);
  });

  it('refuses a malformed list and a default model outside it, naming the variable', () => {
    expect(() => parseEnv({ MODELS: 'claude-a' })).toThrow(/MODELS: "claude-a" is not id:maxOutputTokens/);
    expect(() => parseEnv({ MODELS: 'claude-a:1:budget,claude-a:2' })).toThrow(/listed twice/);
    expect(() => parseEnv({ MODELS: 'claude-a:64000' })).toThrow(
      /DEFAULT_MODEL: "claude-sonnet-4-6" is not one of MODELS/,
    );
  });
});
