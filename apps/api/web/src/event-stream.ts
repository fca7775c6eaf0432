import type { ApiClient } from './api.ts';
import { EVENT_TYPES, type StreamEvent } from './types.ts';

export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'closed';

export interface StreamHandlers {
  onEvent(event: StreamEvent): void;
  onState(state: StreamState): void;
  /** The server ended the stream with `stream.error` (its code): the stream resumes by itself. */
  onServerError?(code: string): void;
}

const MAX_BACKOFF_MS = 15_000;

/**
 * Follows one conversation's events with EventSource. EventSource cannot send the key, so it opens the
 * URL of a stream token (read-only, this conversation only). The browser reconnects by itself with
 * Last-Event-ID; when it gives up (the token expired, the server refused), or the server ended the
 * stream with `stream.error` (it could not go on, e.g. it lost Redis), a new token is fetched and the
 * stream resumes after the last event received (`lastEventId`), so nothing is missed or repeated.
 */
export class ConversationStream {
  private source: EventSource | null = null;
  private lastEventId: string | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private failures = 0;
  private closed = false;

  constructor(
    private readonly api: ApiClient,
    private readonly conversationId: string,
    private readonly handlers: StreamHandlers,
  ) {}

  async open(): Promise<void> {
    this.handlers.onState(this.lastEventId ? 'reconnecting' : 'connecting');
    let url: string;
    try {
      url = (await this.api.streamToken(this.conversationId)).eventsUrl;
    } catch {
      this.scheduleReopen();
      return;
    }
    if (this.closed) return;
    if (this.lastEventId) url += `&lastEventId=${encodeURIComponent(this.lastEventId)}`;
    const source = new EventSource(url);
    this.source = source;
    source.onopen = () => {
      this.failures = 0;
      this.handlers.onState('live');
    };
    for (const type of EVENT_TYPES) {
      source.addEventListener(type, (e) => this.receive(type, e as MessageEvent<string>));
    }
    source.addEventListener('stream.error', (e) => this.serverEnded(source, e as MessageEvent<string>));
    source.onerror = () => {
      if (this.closed || this.source !== source) return;
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        this.source = null;
        this.scheduleReopen();
      } else {
        this.handlers.onState('reconnecting');
      }
    };
  }

  private receive(type: string, e: MessageEvent<string>): void {
    if (this.closed) return;
    if (e.lastEventId) this.lastEventId = e.lastEventId;
    let data: Record<string, unknown>;
    try {
      data = JSON.parse(e.data) as Record<string, unknown>;
    } catch {
      return;
    }
    this.handlers.onEvent({ id: e.lastEventId, type, data });
  }

  /**
   * `stream.error`: this replica cannot go on (its last frame). Resume after the id it names, with a
   * new token and backoff (the same replica answers 503 until it is restarted; another may serve).
   */
  private serverEnded(source: EventSource, e: MessageEvent<string>): void {
    if (this.closed || this.source !== source) return;
    let data: { code?: unknown; lastEventId?: unknown } = {};
    try {
      data = JSON.parse(e.data) as typeof data;
    } catch {}
    if (typeof data.lastEventId === 'string') this.lastEventId = data.lastEventId;
    source.close();
    this.source = null;
    this.handlers.onServerError?.(typeof data.code === 'string' ? data.code : 'unknown');
    this.scheduleReopen();
  }

  private scheduleReopen(): void {
    if (this.closed) return;
    this.handlers.onState('reconnecting');
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.failures++);
    this.retryTimer = setTimeout(() => void this.open(), delay);
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.source?.close();
    this.source = null;
    this.handlers.onState('closed');
  }
}
