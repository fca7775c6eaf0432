import { finishAttempt, insertUserMessage, startAttempt } from '@turnstream/db';
import { seedConversation } from '@turnstream/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { costUsd, DEFAULT_PRICES, priceFor } from '../src/admin/pricing.ts';
import { Harness, type Tenant } from './helpers.ts';

describe('pricing', () => {
  it('prices each token kind separately, dated model ids by their family, unknown models as null', () => {
    const prices = { m: { input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75 } };
    expect(
      costUsd(prices, 'm', {
        inputTokens: 1_000_000,
        outputTokens: 100_000,
        cacheReadInputTokens: 1_000_000,
        cacheCreationInputTokens: 200_000,
      }),
    ).toBeCloseTo(3 + 1.5 + 0.3 + 0.75, 6);
    expect(priceFor(DEFAULT_PRICES, 'claude-sonnet-4-5-20250929')).toEqual(
      DEFAULT_PRICES['claude-sonnet-4-5'],
    );
    expect(
      costUsd(prices, 'gpt-x', {
        inputTokens: 1,
        outputTokens: 1,
        cacheReadInputTokens: 0,
        cacheCreationInputTokens: 0,
      }),
    ).toBeNull();
  });
});

describe('/admin/usage', () => {
  const h = new Harness({
    config: {
      prices: {
        ...DEFAULT_PRICES,
        'claude-haiku-4-5': { input: 1, output: 5, cacheRead: 0.1, cacheWrite: 1.25 },
      },
    },
  });
  let ops: Tenant;
  let acme: Tenant;
  beforeAll(async () => {
    await h.start();
    ops = await h.tenant('ops', { operator: true });
    acme = await h.tenant('acme');
  });
  afterAll(() => h.close());

  async function turn(tenantId: string, model: string, usage: Record<string, number> | null) {
    const conv = await seedConversation(h.tdb.db, tenantId, { model });
    const m = await insertUserMessage(h.tdb.db, { tenantId, conversationId: conv.id, content: 'x' });
    if (!m.ok) throw new Error('insert');
    const a = await startAttempt(h.tdb.db, {
      tenantId,
      conversationId: conv.id,
      messageId: m.message.id,
      jobId: null,
      attempt: 1,
      workerId: 'w',
      fence: 1,
      sessionId: null,
      assistantSessionId: null,
    });
    await finishAttempt(h.tdb.db, a.id, { outcome: usage ? 'completed' : 'failed', usage });
    return conv.id;
  }

  it('sums usage per tenant, day and conversation with cost by model', async () => {
    const u = {
      inputTokens: 1000,
      outputTokens: 200,
      cacheReadInputTokens: 5000,
      cacheCreationInputTokens: 300,
    };
    const c1 = await turn(acme.tenantId, 'claude-haiku-4-5', u);
    await turn(acme.tenantId, 'claude-haiku-4-5', u);
    await turn(acme.tenantId, 'claude-haiku-4-5', null); // a failed attempt: no usage, not counted
    await turn(ops.tenantId, 'claude-sonnet-4-6', u);

    const get = async (url: string, key: string) =>
      (await h.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${key}` } })).json();
    const byTenant = await get('/admin/api/usage?group=tenant', ops.keys.viewer);
    const acmeRow = byTenant.rows.find((r: { key: string }) => r.key === acme.tenantId);
    expect(acmeRow).toMatchObject({
      model: 'claude-haiku-4-5',
      turns: 2,
      inputTokens: 2000,
      outputTokens: 400,
      cacheReadInputTokens: 10_000,
      cacheCreationInputTokens: 600,
    });
    expect(acmeRow.costUsd).toBeCloseTo((2000 * 1 + 400 * 5 + 10_000 * 0.1 + 600 * 1.25) / 1e6, 9);
    expect(byTenant.total.turns).toBe(3);

    const byDay = await get('/admin/api/usage?group=day', ops.keys.viewer);
    expect(byDay.rows.map((r: { key: string }) => r.key)).toContain(new Date().toISOString().slice(0, 10));

    const byConv = await get(`/admin/api/usage?group=conversation&conversation=${c1}`, ops.keys.viewer);
    expect(byConv.rows).toHaveLength(1);
    expect(byConv.rows[0]).toMatchObject({ key: c1, turns: 1 });

    // A tenant admin sees its own tenant only, whatever filter it asks for.
    const own = await get(`/admin/api/usage?group=tenant&tenant=${ops.tenantId}`, acme.keys.admin);
    expect(own.rows.map((r: { key: string }) => r.key)).toEqual([acme.tenantId]);

    const bad = await h.app.inject({
      method: 'GET',
      url: '/admin/api/usage?group=week',
      headers: { authorization: `Bearer ${ops.keys.viewer}` },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('validation_failed');

    const page = await h.app.inject({
      method: 'GET',
      url: '/admin/usage?group=tenant',
      headers: { authorization: `Bearer ${ops.keys.viewer}` },
    });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain(acme.tenantId);
  });
});
