import type { DeliveredEvent } from '@turnstream/contracts';
import { createTurnStreams, type TurnStreams } from '@turnstream/streams';
import { type SseFrame, SseReader, withTimeout } from '@turnstream/testkit';
import type { TestSystem } from './system.ts';

/** An SSE event with its body parsed. */
export interface ReceivedEvent {
  id: string;
  type: string;
  // biome-ignore lint/suspicious/noExplicitAny: event bodies are asserted field by field
  data: any;
}

export function parseSse(ev: SseFrame): ReceivedEvent {
  if (!ev.id) throw new Error(`SSE event without an id: ${JSON.stringify(ev)}`);
  return { id: ev.id, type: ev.event ?? 'message', data: JSON.parse(ev.data ?? 'null') };
}

/** A log entry in the same shape as a received SSE event. */
export function fromLog(e: DeliveredEvent): ReceivedEvent {
  return { id: e.id, type: e.event.type, data: e.event };
}

/** Order of two Redis Stream ids (`<ms>-<n>`). */
export function compareEventIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am! - bm! || as! - bs!;
}

/** What a client renders for `messageId`: chunk texts, dropping what it had at every `turn.reset`. */
export function renderReply(events: ReceivedEvent[], messageId: string): string {
  let text = '';
  for (const e of events) {
    if (e.data.messageId !== messageId) continue;
    if (e.type === 'turn.reset') text = '';
    else if (e.type === 'chunk') text += e.data.text as string;
  }
  return text;
}

export function isTerminal(e: ReceivedEvent): boolean {
  return e.type === 'turn.completed' || e.type === 'turn.cancelled' || e.type === 'turn.failed';
}

/** The conversation logs of the system, read directly from Redis (the same keys the processes use). */
export function turnStreams(sys: TestSystem): TurnStreams {
  return createTurnStreams({ redis: sys.redis, keyPrefix: sys.redisPrefix });
}

/** The log's events of one message, in order. */
export async function logOf(streams: TurnStreams, conv: string, messageId: string): Promise<ReceivedEvent[]> {
  return (await streams.read(conv)).filter((e) => e.event.messageId === messageId).map(fromLog);
}

/** An SSE connection to an API replica, optionally resuming after `lastEventId` (the header). */
export class EventStream {
  readonly reader: SseReader;
  private opening: Promise<number> | null = null;

  constructor(
    sys: TestSystem,
    conv: string,
    opts: { messageId?: string; untilTurn?: boolean; lastEventId?: string; apiIndex?: number } = {},
  ) {
    const query = new URLSearchParams();
    if (opts.messageId) query.set('messageId', opts.messageId);
    if (opts.untilTurn) query.set('until', 'turn');
    const qs = query.size ? `?${query}` : '';
    this.reader = new SseReader(`${sys.apis[opts.apiIndex ?? 0]!.url}/v1/conversations/${conv}/events${qs}`, {
      headers: { authorization: `Bearer ${sys.apiKey}` },
      ...(opts.lastEventId ? { lastEventId: opts.lastEventId } : {}),
    });
  }

  /**
   * Connect and resolve once the server answered 200 (it sends the headers after its subscription
   * exists: nothing published from now on can be missed).
   */
  async open(): Promise<this> {
    this.opening ??= this.reader.open();
    const status = await this.opening;
    if (status !== 200)
      throw new Error(`SSE ${this.reader.url} answered ${status}: ${this.reader.errorBody}`);
    return this;
  }

  /**
   * The next event, or null when the server ended the response. Rejects if none arrives within
   * `timeoutMs` (a guard against a hung stream, not a synchronisation point).
   */
  async next(timeoutMs = 20_000): Promise<ReceivedEvent | null> {
    await this.open();
    const frame = await withTimeout(this.reader.next(), timeoutMs, 'an SSE event');
    return frame ? parseSse(frame) : null;
  }

  /** Read until `stop` holds for an event (returned list includes it) or the server ends the stream. */
  async readUntil(stop: (e: ReceivedEvent) => boolean, into: ReceivedEvent[] = []): Promise<ReceivedEvent[]> {
    for (;;) {
      const e = await this.next();
      if (!e) return into;
      into.push(e);
      if (stop(e)) return into;
    }
  }

  close(): void {
    this.reader.close();
  }
}

/**
 * The reply the simulator gives to `userText` as the last user message, uninterrupted (it is
 * deterministic in that text): asked directly, without streaming, so it answers at once.
 */
export async function simReplyTo(sys: TestSystem, userText: string): Promise<string> {
  const res = await sys.sim_('/v1/messages', {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-api-key': 'sim-key',
      'anthropic-version': '2023-06-01',
    },
    body: JSON.stringify({
      model: 'claude-sonnet-4-6',
      max_tokens: 1024,
      messages: [{ role: 'user', content: [{ type: 'text', text: userText }] }],
    }),
  });
  if (!res.ok) throw new Error(`sim reply: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { content: Array<{ type: string; text?: string }> };
  return body.content
    .filter((b) => b.type === 'text')
    .map((b) => b.text)
    .join('');
}

/** The last user message's text of a request body the simulator logged. */
export function lastUserText(body: { messages?: unknown } | undefined): string {
  const msgs = (body?.messages ?? []) as Array<{ role: string; content: unknown }>;
  const last = [...msgs].reverse().find((m) => m.role === 'user');
  if (!last) return '';
  if (typeof last.content === 'string') return last.content;
  return (last.content as Array<{ type: string; text?: string }>)
    .filter((b) => b.type === 'text')
    .map((b) => b.text)
    .join('');
}
