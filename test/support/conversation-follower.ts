import { SseReader, WaitTimeoutError } from '@turnstream/testkit';
import { isTerminal, parseSse, type ReceivedEvent } from './stream-events.ts';
import type { TestSystem } from './system.ts';

/**
 * A client following one conversation's events over SSE for as long as a test needs, as a browser
 * would: when a response ends it reconnects with `Last-Event-ID` (to the other API replica, so every
 * resume crosses replicas), and `switchApi()` drops the connection on purpose to resume elsewhere.
 * It stops once `finish()` was called and every expected message has a terminal event.
 */
export class ConversationFollower {
  readonly events: ReceivedEvent[] = [];
  /** Connections opened (the first one included). */
  connections = 0;
  /** Connections the server ended (or that failed) before the follower was done. */
  drops = 0;
  private readonly expected = new Set<string>();
  private finishing = false;
  /** Errors that ended a connection early (a reset socket, say); each was followed by a resume. */
  readonly dropErrors: string[] = [];
  private reader: SseReader | null = null;
  private readonly closedByUs = new WeakSet<SseReader>();
  private running: Promise<void> | null = null;
  private connected: (() => void) | null = null;

  constructor(
    private readonly sys: TestSystem,
    readonly conversationId: string,
    public apiIndex: number,
    private readonly opts: { maxConnections?: number; idleTimeoutMs?: number } = {},
  ) {}

  /** The id of the last event received (what a reconnect sends as `Last-Event-ID`). */
  get lastEventId(): string | undefined {
    return this.events.at(-1)?.id;
  }

  /** Start following; resolves once the first response answered 200 (its subscription exists). */
  start(): Promise<void> {
    const opened = new Promise<void>((resolve) => {
      this.connected = resolve;
    });
    this.running = this.loop();
    return Promise.race([opened, this.running]);
  }

  /** A message whose turn the follower must see end. */
  expect(messageId: string): void {
    this.expected.add(messageId);
  }

  /** No more messages will be expected: stop once every expected turn ended. Resolves when stopped. */
  async finish(): Promise<ReceivedEvent[]> {
    this.finishing = true;
    if (this.done()) this.close();
    await this.running;
    return this.events;
  }

  /** Drop the current connection and resume (with `Last-Event-ID`) on the other API replica. */
  switchApi(): void {
    this.apiIndex = 1 - this.apiIndex;
    this.close();
  }

  private close(): void {
    if (!this.reader) return;
    this.closedByUs.add(this.reader);
    this.reader.close();
  }

  /** The events of one message, in the order received. */
  eventsOf(messageId: string): ReceivedEvent[] {
    return this.events.filter((e) => e.data?.messageId === messageId);
  }

  private done(): boolean {
    if (!this.finishing) return false;
    for (const id of this.expected) if (!this.eventsOf(id).some(isTerminal)) return false;
    return true;
  }

  private url(): string {
    return `${this.sys.apis[this.apiIndex]!.url}/v1/conversations/${this.conversationId}/events`;
  }

  private async loop(): Promise<void> {
    const max = this.opts.maxConnections ?? 30;
    while (!this.done()) {
      if (this.connections >= max) {
        throw new Error(`${this.conversationId}: still not done after ${max} connections`);
      }
      const reader = new SseReader(this.url(), {
        headers: { authorization: `Bearer ${this.sys.apiKey}` },
        ...(this.lastEventId ? { lastEventId: this.lastEventId } : {}),
        idleTimeoutMs: this.opts.idleTimeoutMs ?? 25_000,
      });
      this.reader = reader;
      this.connections++;
      await this.follow(reader);
      if (this.closedByUs.has(reader) || this.done()) continue;
      // The server ended the response (or the connection failed): resume on the other replica.
      this.drops++;
      this.apiIndex = 1 - this.apiIndex;
    }
    this.close();
  }

  /**
   * Read one response to its end. A connection that fails is a drop (resumed by the caller); no event
   * for `idleTimeoutMs` is not (live delivery stopped: a resume would hide it), nor is a non-200.
   */
  private async follow(reader: SseReader): Promise<void> {
    try {
      const status = await reader.open();
      if (status !== 200) throw new FollowError(`SSE ${reader.url} answered ${status}: ${reader.errorBody}`);
      this.connected?.();
      for (let frame = await reader.next(); frame; frame = await reader.next()) {
        const event = parseSse(frame);
        if (event.type === 'stream.gap') {
          throw new FollowError(`${this.conversationId}: stream.gap ${JSON.stringify(event.data)}`);
        }
        if (event.type === 'stream.error') {
          // The server could not go on (Redis unreadable past its retries): a drop, resumed like one.
          this.dropErrors.push(`stream.error ${JSON.stringify(event.data)}`);
          return;
        }
        this.events.push(event);
        if (this.done()) return;
      }
    } catch (err) {
      if (this.closedByUs.has(reader)) return;
      if (err instanceof FollowError || err instanceof WaitTimeoutError) throw err;
      this.dropErrors.push(String(err));
    }
  }
}

class FollowError extends Error {
  override name = 'FollowError';
}
