import type { ConversationJson, MessageJson, SessionHistoryJson, SessionJson, TurnMode } from './types.ts';

/** An error answer of the API (`{ error: { code, message } }`), or a network failure (`status` 0). */
export class ApiRequestError extends Error {
  override name = 'ApiRequestError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The API as the signed-in user: every request carries the key in the Authorization header (never in
 * a URL). The key lives in this object only: nothing stores it.
 */
export class ApiClient {
  constructor(private readonly key: string) {}

  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.key}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(path, {
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        cache: 'no-store',
      });
    } catch {
      throw new ApiRequestError(0, 'network', 'The API did not answer.');
    }
    const text = await res.text();
    const json = text ? (JSON.parse(text) as unknown) : undefined;
    if (!res.ok) {
      const error = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ApiRequestError(res.status, error?.code ?? 'http_error', error?.message ?? res.statusText);
    }
    return json as T;
  }

  listConversations(
    cursor: string | null,
  ): Promise<{ conversations: ConversationJson[]; nextCursor: string | null }> {
    const query = new URLSearchParams({ limit: '30' });
    if (cursor) query.set('cursor', cursor);
    return this.request('GET', `/v1/conversations?${query}`);
  }

  createConversation(input: { title?: string; mode: TurnMode }): Promise<ConversationJson> {
    return this.request('POST', '/v1/conversations', input);
  }

  getConversation(id: string): Promise<ConversationJson & { session: SessionJson | null }> {
    return this.request('GET', `/v1/conversations/${id}`);
  }

  /** The whole stored history, page by page (by the user message's seq). */
  async listMessages(id: string): Promise<MessageJson[]> {
    const all: MessageJson[] = [];
    let afterSeq: number | null = null;
    for (;;) {
      const query = new URLSearchParams({ limit: '500' });
      if (afterSeq !== null) query.set('afterSeq', String(afterSeq));
      const page = await this.request<{ messages: MessageJson[] }>(
        'GET',
        `/v1/conversations/${id}/messages?${query}`,
      );
      all.push(...page.messages);
      const lastUser = page.messages.filter((m) => m.role === 'user').at(-1);
      if (page.messages.length < 500 || !lastUser) return all;
      afterSeq = lastUser.seq;
    }
  }

  getMessage(id: string, messageId: string): Promise<{ message: MessageJson; reply: MessageJson | null }> {
    return this.request('GET', `/v1/conversations/${id}/messages/${messageId}`);
  }

  postMessage(id: string, content: string, mode: TurnMode): Promise<{ messageId: string }> {
    return this.request('POST', `/v1/conversations/${id}/messages`, { content, mode });
  }

  cancel(id: string, messageId: string): Promise<{ status: string }> {
    return this.request('POST', `/v1/conversations/${id}/messages/${messageId}/cancel`);
  }

  reset(id: string): Promise<{ session: SessionJson }> {
    return this.request('POST', `/v1/conversations/${id}/reset`);
  }

  sessionHistory(id: string): Promise<SessionHistoryJson> {
    return this.request('GET', `/v1/conversations/${id}/sessions`);
  }

  /** A read-only token for this conversation's event stream: what EventSource uses instead of the key. */
  streamToken(id: string): Promise<{ eventsUrl: string; expiresAt: string }> {
    return this.request('POST', `/v1/conversations/${id}/stream-tokens`);
  }
}
