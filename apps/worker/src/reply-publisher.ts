import type { TurnEvent } from '@turnstream/contracts';
import { type Db, getReply, updateReplyContent } from '@turnstream/db';
import { ChunkCoalescer, type TurnStreams } from '@turnstream/streams';
import { FencedOutError } from './errors.ts';

export interface ReplyPublisherOptions {
  db: Db;
  streams: TurnStreams;
  conversationId: string;
  messageId: string;
  replyId: string;
  fence: number;
  mode: 'stream' | 'batch';
  coalesceWindowMs: number;
  livePersistIntervalMs: number;
  /** Called once when a write finds this turn fenced out. */
  onFencedOut: (err: FencedOutError) => void;
}

/**
 * Everything a running turn writes while it streams: coalesced chunk events to the durable log
 * (fenced), and the partial reply to Postgres at a bounded rate (fenced). A fenced-out write
 * stops the turn: a zombie writes nothing.
 */
export class ReplyPublisher {
  private readonly coalescer: ChunkCoalescer;
  private text = '';
  private persisted = '';
  private persistTimer: NodeJS.Timeout | undefined;
  private persisting: Promise<void> = Promise.resolve();
  private fencedOut = false;
  /** true once any chunk of this attempt reached the log (a retry must publish turn.reset). */
  chunksPublished = false;

  constructor(private readonly opts: ReplyPublisherOptions) {
    this.coalescer = new ChunkCoalescer({
      windowMs: opts.coalesceWindowMs,
      flush: async (events) => {
        await this.publish(events);
        if (events.some((e) => e.type === 'chunk' || e.type === 'thinking')) this.chunksPublished = true;
      },
    });
  }

  get content(): string {
    return this.text;
  }

  /** Publish events now, with this turn's fence. */
  async publish(events: TurnEvent[]): Promise<void> {
    if (this.fencedOut) throw new FencedOutError('turn is fenced out');
    const res = await this.opts.streams.publish(this.opts.conversationId, this.opts.fence, events);
    if (!res.ok) this.fenceLost(`stream fence ${res.currentFence} is newer than ${this.opts.fence}`);
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
      await this.publish([{ type: 'turn.reset', messageId: this.opts.messageId, reason }]);
    }
    this.chunksPublished = false;
    this.text = '';
    this.schedulePersist();
  }

  /** Stop timers and wait for in-flight writes. Pending chunks are flushed unless `discard`. */
  async close(opts: { discard?: boolean } = {}): Promise<void> {
    clearTimeout(this.persistTimer);
    this.persistTimer = undefined;
    if (!opts.discard) await this.coalescer.flush().catch(() => undefined);
    await this.coalescer.close().catch(() => undefined);
    await this.persisting.catch(() => undefined);
  }

  private schedulePersist(): void {
    if (this.persistTimer || this.fencedOut) return;
    this.persistTimer = setTimeout(() => {
      this.persistTimer = undefined;
      this.persisting = this.persisting.then(() => this.persistNow()).catch(() => undefined);
    }, this.opts.livePersistIntervalMs);
  }

  private async persistNow(): Promise<void> {
    if (this.fencedOut || this.text === this.persisted) return;
    const content = this.text;
    const ok = await updateReplyContent(this.opts.db, {
      replyId: this.opts.replyId,
      fence: this.opts.fence,
      content,
    });
    if (!ok) {
      // Not written: a newer fence owns the reply (fenced out), or this turn has already ended it
      // (cancelled, failed, ...) and the write came due in between. Only the first is a fence loss.
      const reply = await getReply(this.opts.db, this.opts.messageId);
      if (reply?.id === this.opts.replyId && reply.fence === this.opts.fence) return;
      return this.fenceLost('reply row is owned by a newer fence');
    }
    this.persisted = content;
  }

  private fenceLost(message: string): never {
    const err = new FencedOutError(message);
    if (!this.fencedOut) {
      this.fencedOut = true;
      this.opts.onFencedOut(err);
    }
    throw err;
  }
}
