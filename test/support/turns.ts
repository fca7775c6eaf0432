import { isTerminalEvent, type TurnEvent } from '@turnstream/contracts';
import { createTurnStreams } from '@turnstream/streams';
import { waitFor } from '@turnstream/testkit';
import type { TestSystem } from './system.ts';

export interface HistoryMessage {
  id: string;
  seq: number;
  role: 'user' | 'assistant' | 'error';
  content: string;
  status: string;
  replyTo: string | null;
  errorCode?: string | null;
  metadata?: Record<string, string> | null;
}

export async function createConversation(
  sys: TestSystem,
  body: Record<string, unknown> = {},
): Promise<string> {
  const res = await sys.api('POST', '/v1/conversations', body);
  if (res.status !== 201) throw new Error(`create conversation: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id;
}

export async function postMessage(
  sys: TestSystem,
  conversationId: string,
  content: string,
  extra: Record<string, unknown> = {},
  apiIndex = 0,
): Promise<string> {
  const res = await sys.api(
    'POST',
    `/v1/conversations/${conversationId}/messages`,
    { content, ...extra },
    apiIndex,
  );
  if (res.status !== 202) throw new Error(`post message: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.messageId;
}

export async function history(sys: TestSystem, conversationId: string): Promise<HistoryMessage[]> {
  const res = await sys.api('GET', `/v1/conversations/${conversationId}/messages`);
  if (res.status !== 200) throw new Error(`history: ${res.status}`);
  return res.body.messages;
}

const FINAL = new Set(['completed', 'failed', 'cancelled']);

/** Wait until the user message's turn is final; returns the message and its reply row. */
export async function waitForTurn(
  sys: TestSystem,
  conversationId: string,
  messageId: string,
  timeoutMs = 30_000,
): Promise<{ user: HistoryMessage; reply: HistoryMessage | undefined }> {
  return waitFor(
    async () => {
      const msgs = await history(sys, conversationId);
      const user = msgs.find((m) => m.id === messageId);
      if (!user || !FINAL.has(user.status)) return null;
      const reply = msgs.find((m) => m.replyTo === messageId);
      if (user.status === 'completed' && reply?.status !== 'completed') return null;
      return { user, reply };
    },
    { timeoutMs, intervalMs: 50, message: `turn of ${messageId} to finish` },
  );
}

export async function session(sys: TestSystem, conversationId: string) {
  const res = await sys.api('GET', `/v1/conversations/${conversationId}`);
  return res.body.session as { id: string; assistantSessionId: string | null; version: number };
}

/**
 * A turn's events from the durable log, once its terminal event is there (the worker publishes it right
 * after the database commit, so `waitForTurn` can return a moment before it).
 */
export async function loggedTurn(
  sys: TestSystem,
  conversationId: string,
  messageId: string,
): Promise<TurnEvent[]> {
  const streams = createTurnStreams({ redis: sys.redis, keyPrefix: sys.redisPrefix });
  return waitFor(
    async () => {
      const events = (await streams.read(conversationId))
        .map((e) => e.event)
        .filter((e) => e.messageId === messageId);
      return events.some(isTerminalEvent) ? events : null;
    },
    { message: `terminal event of ${messageId} in the log` },
  );
}
