import { isTerminalEvent, type TurnEvent } from '@turnstream/contracts';
import { SseReader, sleepMs } from '@turnstream/testkit';
import { compareEventIds } from '../support/stream-events.ts';

export interface FollowedEvent {
  id: string;
  event: TurnEvent;
}

interface Waiter {
  messageId: string;
  match: (e: TurnEvent) => boolean;
  resolve: (e: TurnEvent | null) => void;
  timer: NodeJS.Timeout;
}

/**
 * A client following one conversation's whole event stream over SSE, as a browser would: when the
 * connection ends or fails, it reconnects with `Last-Event-ID`. It keeps every event per message and
 * counts what a client must never see (an id twice or out of order, a gap).
 */
export class ConversationFollower {
  readonly byMessage = new Map<string, FollowedEvent[]>();
  connections = 0;
  /** Events whose id was not after the previous one (a duplicate or a reordering). */
  outOfOrder = 0;
  /** `stream.gap` announcements (the log no longer reached the resume id). */
  gaps = 0;
  private readonly reader: SseReader;
  private readonly waiters = new Set<Waiter>();
  private closed = false;
  private readonly done: Promise<void>;

  constructor(url: string, apiKey: string) {
    this.reader = new SseReader(url, {
      headers: { authorization: `Bearer ${apiKey}` },
      idleTimeoutMs: 120_000,
    });
    this.done = this.run();
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      try {
        const status = this.connections === 0 ? await this.reader.open() : await this.reader.reconnect();
        this.connections++;
        if (status !== 200) throw new Error(`events answered ${status}`);
        for (let f = await this.reader.next(); f && !this.closed; f = await this.reader.next()) {
          this.onFrame(f.id, f.event, f.data);
        }
      } catch {
        // dropped (an API or Redis fault): reconnect below
      }
      if (!this.closed) await sleepMs(100);
    }
  }

  private lastId: string | undefined;

  private onFrame(id: string | undefined, type: string | undefined, data: string | undefined): void {
    if (type === 'stream.gap') this.gaps++;
    if (!id || !data) return;
    if (this.lastId && compareEventIds(this.lastId, id) >= 0) {
      this.outOfOrder++;
      return;
    }
    this.lastId = id;
    const event = JSON.parse(data) as TurnEvent;
    if (!event.messageId) return;
    const list = this.byMessage.get(event.messageId) ?? [];
    list.push({ id, event });
    this.byMessage.set(event.messageId, list);
    for (const w of this.waiters) {
      if (w.messageId === event.messageId && w.match(event)) this.settle(w, event);
    }
  }

  private settle(w: Waiter, value: TurnEvent | null): void {
    clearTimeout(w.timer);
    this.waiters.delete(w);
    w.resolve(value);
  }

  /** The first event of `messageId` matching `match` (seen or future); null after `timeoutMs`. */
  waitFor(messageId: string, match: (e: TurnEvent) => boolean, timeoutMs: number): Promise<TurnEvent | null> {
    const seen = this.byMessage.get(messageId)?.find((e) => match(e.event));
    if (seen) return Promise.resolve(seen.event);
    return new Promise((resolve) => {
      const w: Waiter = {
        messageId,
        match,
        resolve,
        timer: setTimeout(() => this.settle(w, null), timeoutMs),
      };
      this.waiters.add(w);
    });
  }

  /** The message's terminal event, or null after `timeoutMs`. */
  terminal(messageId: string, timeoutMs: number): Promise<TurnEvent | null> {
    return this.waitFor(messageId, isTerminalEvent, timeoutMs);
  }

  events(messageId: string): TurnEvent[] {
    return (this.byMessage.get(messageId) ?? []).map((e) => e.event);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.reader.close();
    for (const w of this.waiters) this.settle(w, null);
    await this.done;
  }
}
