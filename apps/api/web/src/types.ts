/** The API's JSON shapes the page reads (see apps/api/README.md). */

export type TurnMode = 'stream' | 'batch';

export interface SessionJson {
  id: string;
  assistantSessionId: string | null;
  version: number;
}

export interface ConversationJson {
  id: string;
  title: string | null;
  model: string;
  mode: TurnMode;
  createdAt: string;
  session?: SessionJson | null;
}

export interface MessageJson {
  id: string;
  seq: number;
  role: 'user' | 'assistant' | 'error';
  content: string;
  status: 'pending' | 'streaming' | 'completed' | 'failed' | 'cancelled' | 'interrupted';
  replyTo: string | null;
  mode: TurnMode;
  errorCode: string | null;
  stopReason: string | null;
  usage: { inputTokens: number; outputTokens: number } | null;
}

export interface SessionRecordJson extends SessionJson {
  status: 'active' | 'ended';
  parentSessionId: string | null;
  endedReason: string | null;
  createdAt: string;
  endedAt: string | null;
}

export interface SessionClearJson {
  assistantSessionId: string;
  reason: string | null;
  clearedAt: string;
}

export interface SessionHistoryJson {
  sessions: SessionRecordJson[];
  clears: SessionClearJson[];
}

/** An event as the page receives it over SSE: `type` plus the type's fields (`messageId` on turn events). */
export interface StreamEvent {
  /** The durable log id (`id:`), absent on an event rebuilt from the database. */
  id: string;
  type: string;
  data: Record<string, unknown>;
}

/** Every event type the API sends (named SSE events need one listener each). */
export const EVENT_TYPES = [
  'turn.queued',
  'turn.started',
  'chunk',
  'thinking',
  'turn.reset',
  'session.cleared',
  'turn.completed',
  'turn.failed',
  'turn.retrying',
  'turn.rate_limited',
  'turn.cancelled',
  'stream.gap',
  'stream.overflow',
] as const;
