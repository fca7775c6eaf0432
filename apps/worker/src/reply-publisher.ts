import { type DeltaEvent, isDeltaEvent, type TurnEvent } from '@turnstream/contracts';
import { ChunkCoalescer, type PublishResult, type TurnStreams } from '@turnstream/streams';
import { FencedOutError } from './errors.ts';
import type { LiveReplyWrite, LiveReplyWriter } from './live-replies.ts';

/** A delta received before the turn's opening events were published. */
export interface HeldDelta {
  type: 'text_delta' | 'thinking_delta';
  text: string;
}

/** Longest text of one merged opening delta (as the coalescer's default `maxChars`). */
const MAX_OPENING_DELTA_CHARS = 2048;

/** Append a delta event, merged into the previous one when that is of the same kind and not full. */
function appendDelta(events: TurnEvent[], delta: DeltaEvent): void {
  const last = events.at(-1);
  if (
    last &&
    last.type === delta.type &&
    isDeltaEvent(last) &&
    last.text.length + delta.text.length <= MAX_OPENING_DELTA_CHARS
  ) {
    events[events.length - 1] = { ...last, text: last.text + delta.text };
    return;
  }
  events.push(delta);
}

export interface ReplyPublisherOptions {
  streams: TurnStreams;
  /** The process's writer of streaming partials (one batched, fenced statement per tick). */
  liveReplies: LiveReplyWriter;
  conversationId: string;
  messageId: string;
  replyId: string;
  fence: number;
  mode: 'stream' | 'batch';
  /** The merge window of text deltas, asked each time a merge starts (it follows the worker's load). */
  coalesceWindowMs: () => number;
  /** Called once when a write finds this turn fenced out. */
  onFencedOut: (err: FencedOutError) => void;
}

/**
 * Everything a running turn writes while it streams: coalesced chunk events to the durable log
 * (fenced), and the partial reply to Postgres at a bounded rate through the process's
 * {@link LiveReplyWriter} (fenced). A fenced-out write stops the turn: a zombie writes nothing.
 */
export class ReplyPublisher {
  private readonly coalescer: ChunkCoalescer;
  private text = '';
  private fencedOut = false;
  private closed = false;
  /** This turn's entry in the process's live writer (its content is the newest partial). */
  private readonly live: LiveReplyWrite;
  /** true once any chunk of this attempt reached the log (a retry must publish turn.reset). */
  chunksPublished = false;

  constructor(private readonly opts: ReplyPublisherOptions) {
    this.live = {
      replyId: opts.replyId,
      fence: opts.fence,
      content: '',
      onFencedOut: () => this.markFencedOut(new FencedOutError('reply row is owned by a newer fence')),
    };
    this.coalescer = new ChunkCoalescer({
      windowMs: opts.coalesceWindowMs,
      flush: (events) => this.publish(events, events.some(isDeltaEvent)),
    });
  }

  get content(): string {
    return this.text;
  }

  /**
   * Publish events now, with this turn's fence. With `chunks` (the batch carries deltas), a publish
   * the log accepted marks {@link chunksPublished}.
   */
  publish(events: TurnEvent[], chunks = false): Promise<void> {
    if (this.fencedOut) return Promise.reject(new FencedOutError('turn is fenced out'));
    // A plain promise chain, not an async function: a held stream publishes nearly every delta on its own.
    return this.opts.streams
      .publish(this.opts.conversationId, this.opts.fence, events)
      .then(chunks ? this.onChunksPublished : this.onPublished);
  }

  private readonly onPublished = (res: PublishResult): void => {
    if (!res.ok) this.fenceLost(`stream fence ${res.currentFence} is newer than ${this.opts.fence}`);
  };

  private readonly onChunksPublished = (res: PublishResult): void => {
    this.onPublished(res);
    this.chunksPublished = true;
  };

  /**
   * Publish the turn's opening events (`turn.started`, ...) now, followed in the same batch by `deltas`
   * the turn already holds (an early Claude request that answered before the fence was confirmed): the
   * first chunk then costs no publish of its own. Later deltas go through the coalescer as usual.
   */
  async open(opening: TurnEvent[], deltas: readonly HeldDelta[] = []): Promise<void> {
    const events: TurnEvent[] = [...opening];
    for (const delta of deltas) {
      if (delta.type === 'text_delta') this.text += delta.text;
      if (this.opts.mode !== 'stream') continue;
      const type = delta.type === 'text_delta' ? 'chunk' : 'thinking';
      appendDelta(events, { type, messageId: this.opts.messageId, text: delta.text });
    }
    if (this.text !== '') this.schedulePersist();
    await this.publish(events);
    if (events.length > opening.length) this.chunksPublished = true;
  }

  textDelta(text: string): void {
    this.text += text;
    if (this.opts.mode === 'stream')
      this.coalescer.push({ type: 'chunk', messageId: this.opts.messageId, text });
    this.schedulePersist();
  }

  thinkingDelta(text: string): void {
    if (this.opts.mode === 'stream')
      this.coalescer.push({ type: 'thinking', messageId: this.opts.messageId, text });
  }

  /** Flush pending chunks (before a terminal or reset event). */
  async flush(): Promise<void> {
    await this.coalescer.flush();
  }

  /** Start over (a retry within the attempt): the client is told to drop what it has. */
  async reset(reason: string): Promise<void> {
    await this.coalescer.flush();
    if (this.chunksPublished) {
      // Through the coalescer: it then shows the first delta after the reset at once again.
      this.coalescer.push({ type: 'turn.reset', messageId: this.opts.messageId, reason });
      await this.coalescer.flush();
    }
    this.chunksPublished = false;
    this.text = '';
    this.schedulePersist();
  }

  /** Stop timers and wait for in-flight writes. Pending chunks are flushed unless `discard`. */
  async close(opts: { discard?: boolean } = {}): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      await this.opts.liveReplies.forget(this.opts.replyId, this.opts.fence);
    }
    if (!opts.discard) await this.coalescer.flush().catch(() => undefined);
    await this.coalescer.close().catch(() => undefined);
  }

  /**
   * Hand the partial to the process's writer. A write that comes due after this turn ended its reply
   * (cancelled, failed, ...) writes nothing and is not a fence loss; one refused by a newer fence is.
   */
  private schedulePersist(): void {
    if (this.fencedOut || this.closed) return;
    this.live.content = this.text;
    this.opts.liveReplies.write(this.live);
  }

  private markFencedOut(err: FencedOutError): void {
    if (this.fencedOut) return;
    this.fencedOut = true;
    this.opts.onFencedOut(err);
  }

  private fenceLost(message: string): never {
    const err = new FencedOutError(message);
    this.markFencedOut(err);
    throw err;
  }
}
