import { sumUsage, type UsageGroup } from '@turnstream/db';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseInput } from '../validation.ts';
import type { AdminContext } from './context.ts';
import { html, page } from './html.ts';
import type { AdminIdentity } from './identity.ts';
import { identityOf, tenantFilter } from './inspector-routes.ts';
import { costUsd } from './pricing.ts';

const DAY_MS = 86_400_000;

const usageQuery = z.strictObject({
  group: z.enum(['day', 'tenant', 'conversation']).default('day'),
  from: z.iso.date().optional(),
  to: z.iso.date().optional(),
  tenant: z.uuid().optional(),
  conversation: z.uuid().optional(),
});

/**
 * Token usage and cost per day, tenant or conversation (one row per group and model) between `from`
 * and `to` (UTC dates, `to` inclusive; default the last 30 days).
 */
export async function usageReport(ctx: AdminContext, who: AdminIdentity, rawQuery: unknown) {
  const q = parseInput(usageQuery, rawQuery ?? {}, 'query');
  const to = q.to ? new Date(Date.parse(q.to) + DAY_MS) : new Date(Math.ceil(Date.now() / DAY_MS) * DAY_MS);
  const from = q.from ? new Date(Date.parse(q.from)) : new Date(to.getTime() - 30 * DAY_MS);
  const tenantId = tenantFilter(who, rawQuery);
  const rows = await sumUsage(ctx.db, {
    group: q.group as UsageGroup,
    from,
    to,
    ...(tenantId ? { tenantId } : {}),
    ...(q.conversation ? { conversationId: q.conversation } : {}),
  });
  const priced = rows.map((r) => ({ ...r, costUsd: costUsd(ctx.config.prices, r.model, r) }));
  const total = priced.reduce(
    (sum, r) => ({
      turns: sum.turns + r.turns,
      inputTokens: sum.inputTokens + r.inputTokens,
      outputTokens: sum.outputTokens + r.outputTokens,
      cacheReadInputTokens: sum.cacheReadInputTokens + r.cacheReadInputTokens,
      cacheCreationInputTokens: sum.cacheCreationInputTokens + r.cacheCreationInputTokens,
      costUsd: Math.round((sum.costUsd + (r.costUsd ?? 0)) * 1e6) / 1e6,
      unpricedModels:
        r.costUsd === null ? [...new Set([...sum.unpricedModels, r.model])] : sum.unpricedModels,
    }),
    {
      turns: 0,
      inputTokens: 0,
      outputTokens: 0,
      cacheReadInputTokens: 0,
      cacheCreationInputTokens: 0,
      costUsd: 0,
      unpricedModels: [] as string[],
    },
  );
  return {
    group: q.group,
    from: from.toISOString(),
    to: to.toISOString(),
    tenantId: tenantId ?? null,
    conversationId: q.conversation ?? null,
    rows: priced,
    total,
  };
}

/** `/admin/usage` (page) and `/admin/api/usage` (JSON). */
export function usageRoutes(app: FastifyInstance, ctx: AdminContext): void {
  app.get('/admin/api/usage', async (request) => usageReport(ctx, identityOf(request), request.query));
  app.get('/admin/usage', async (request, reply) => {
    const who = identityOf(request);
    const r = await usageReport(ctx, who, request.query);
    const groupLink = (g: string) => html`<a href="/admin/usage?group=${g}">${g}</a>`;
    const keyCell = (key: string) =>
      r.group === 'conversation'
        ? html`<a href="/admin/conversations/${key}"><code>${key}</code></a>`
        : html`<code>${key}</code>`;
    const body = html`<p>By ${groupLink('day')} · ${groupLink('tenant')} · ${groupLink('conversation')}
      · ${r.from.slice(0, 10)} to ${r.to.slice(0, 10)} (UTC, end exclusive) · <a href="/admin/api/usage?group=${r.group}">JSON</a></p>
<table id="usage"><tr><th>${r.group}</th><th>model</th><th>turns</th><th>input</th><th>output</th><th>cache read</th><th>cache write</th><th>cost (USD)</th></tr>
${r.rows.map((x) => html`<tr><td>${keyCell(x.key)}</td><td><code>${x.model}</code></td><td>${x.turns}</td><td>${x.inputTokens}</td><td>${x.outputTokens}</td><td>${x.cacheReadInputTokens}</td><td>${x.cacheCreationInputTokens}</td><td>${x.costUsd === null ? 'no price' : x.costUsd.toFixed(4)}</td></tr>`)}
<tr><th>total</th><th></th><th>${r.total.turns}</th><th>${r.total.inputTokens}</th><th>${r.total.outputTokens}</th><th>${r.total.cacheReadInputTokens}</th><th>${r.total.cacheCreationInputTokens}</th><th>${r.total.costUsd.toFixed(4)}</th></tr></table>`;
    return reply.type('text/html; charset=utf-8').send(page('Token usage and cost', who, body));
  });
}
