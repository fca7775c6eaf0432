import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance } from 'fastify';
import { boardWriteHooks } from './board-writes.ts';
import type { AdminContext } from './context.ts';
import { adminRefusal, sendError } from './identity.ts';
import { redactJobData, redactReturnValue } from './redact.ts';

export const BOARD_PATH = '/admin/queues';

/**
 * bull-board at `/admin/queues` for every queue Turnstream uses. Fleet-wide, so only the operator
 * tenant's keys open it; its write endpoints (every method but GET/HEAD) answer 403 to viewers, checked
 * here before bull-board's handlers run. Job data goes through a redacting formatter.
 */
export async function boardPlugin(app: FastifyInstance, ctx: AdminContext): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(BOARD_PATH);
  const queues = ctx.boardQueues.map((queue) => {
    const adapter = new BullMQAdapter(queue, { readOnlyMode: false, allowRetries: true });
    adapter.setFormatter('data', redactJobData);
    adapter.setFormatter('returnValue', redactReturnValue);
    return adapter;
  });
  createBullBoard({
    queues,
    serverAdapter,
    options: {
      uiConfig: {
        boardTitle: 'Turnstream queues',
        miscLinks: [{ text: 'Inspector', url: '/admin/trouble' }],
      },
    },
  });

  app.addHook('onRequest', async (request, reply) => {
    const identity = request.admin;
    if (!identity) return;
    const write = request.method !== 'GET' && request.method !== 'HEAD';
    const refused = adminRefusal(identity, write ? ['fleet', 'act'] : ['fleet']);
    if (refused) {
      request.log.info(
        {
          event: 'admin.board_refused',
          method: request.method,
          role: identity.role,
          operator: identity.operator,
        },
        'board request refused',
      );
      return sendError(reply, refused);
    }
  });
  const hooks = boardWriteHooks(ctx);
  app.addHook('preHandler', hooks.preHandler);
  app.addHook('onSend', hooks.onSend);
  await app.register(serverAdapter.registerPlugin(), { prefix: BOARD_PATH });
}
