import { listSessions, listTranscriptClears } from '@turnstream/db';
import type { FastifyInstance } from 'fastify';
import { requirePermission } from '../auth.ts';
import type { RouteContext } from '../context.ts';
import { loadConversation } from '../lookups.ts';
import { sessionHistoryQuery } from '../schemas.ts';
import { sessionClearJson, sessionRecordJson } from '../serialize.ts';
import { parseInput } from '../validation.ts';

interface IdParams {
  id: string;
}

/**
 * A conversation's session history (read-only): its sessions in order (the active one last), and the
 * assistant session ids that were cleared, with the reason (a recovery's classification, `user_reset`).
 */
export function sessionRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { db } = ctx;

  app.get<{ Params: IdParams }>('/v1/conversations/:id/sessions', async (request) => {
    const auth = requirePermission(request, 'read');
    const query = parseInput(sessionHistoryQuery, request.query, 'query');
    const conversation = await loadConversation(db, auth.tenantId, request.params.id);
    const [sessions, clears] = await Promise.all([
      listSessions(db, auth.tenantId, conversation.id, { limit: query.limit }),
      listTranscriptClears(db, auth.tenantId, conversation.id, query.limit),
    ]);
    return { sessions: sessions.map(sessionRecordJson), clears: clears.map(sessionClearJson) };
  });
}
