import { describe, expect, it } from 'vitest';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, postMessage, waitForTurn } from '../support/turns.ts';

// A model's output limit holds for every request a turn sends: the API lets a conversation take the
// largest thinking budget the model allows, the worker's reply budget comes on top of it, and the
// request still stays within the limit the (simulated) provider enforces, with a 400 past it.
const LIMIT = 8000;
const MODELS = `claude-sonnet-4-6:${LIMIT}:budget`;
const sys = systemFixture({
  apiEnv: { MODELS },
  workerEnv: { MODELS, MAX_TOKENS: '20000' },
  simEnv: { SIM_MAX_OUTPUT_TOKENS: String(LIMIT) },
});

describe('output limits', () => {
  it("a turn's max_tokens never passes its model's limit, thinking budget included", async () => {
    const models = await sys.api('GET', '/v1/models');
    const budget = models.body.models[0].thinkingBudget.max as number;
    expect(budget + 20_000).toBeGreaterThan(LIMIT);
    const conv = await createConversation(sys, {
      model: 'claude-sonnet-4-6',
      thinking: { budgetTokens: budget },
    });
    const id = await postMessage(sys, conv, 'think hard [[sim words=5]]');
    const turn = await waitForTurn(sys, conv, id);
    expect(turn.user.status).toBe('completed');
    expect(turn.reply?.status).toBe('completed');
    expect((await sys.simRequests()).map((r) => r.status)).toEqual([200]);
  });

  it('without thinking, a reply budget larger than the model limit is cut to it', async () => {
    const conv = await createConversation(sys, { model: 'claude-sonnet-4-6' });
    const id = await postMessage(sys, conv, 'plain [[sim words=5]]');
    expect((await waitForTurn(sys, conv, id)).user.status).toBe('completed');
    expect((await sys.simRequests()).map((r) => r.status)).toEqual([200, 200]);
  });
});
