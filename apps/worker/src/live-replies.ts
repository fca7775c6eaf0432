import { type Db, type ReplyContentWrite, replyOwners, updateReplyContents } from '@turnstream/db';
import type { Logger } from '@turnstream/logger';

export interface LiveReplyWrite {
  replyId: string;
  fence: number;
  /**
   * The reply's whole partial text so far. Hand the same entry in again as it grows: the writer then
   * sends only what was added since its last write of the entry.
   */
  content: string;
  /** Called when the write finds the reply owned by a newer fence (or gone). */
  onFencedOut: () => void;
}

export interface LiveReplyWriterOptions {
  db: Db;
  /** How long a partial may wait before it is written (`LIVE_PERSIST_INTERVAL_MS`). */
  intervalMs: number;
  logger?: Logger;
  /** Rows per statement. Default 500. */
  maxBatch?: number;
  /**
   * Rows written per second at most, across all of the worker's replies: with more streaming replies
   * than `maxRowsPerSecond x intervalMs` the ticks space out, so each partial waits a little longer
   * instead of Postgres rewriting thousands of growing texts four times a second. Default 2000.
   */
  maxRowsPerSecond?: number;
}

/** The prefix of a reply's partial its row is known to hold (what the writer last stored there). */
interface Stored {
  text: string;
  /** Its length in UTF-8 bytes (as Postgres counts the row's content). */
  bytes: number;
}

/**
 * The wait before the next write: `intervalMs`, or longer when the last tick wrote more rows than the
 * budget allows in that time.
 */
export function nextPersistDelayMs(intervalMs: number, lastRows: number, maxRowsPerSecond: number): number {
  return Math.max(intervalMs, Math.ceil((lastRows / maxRowsPerSecond) * 1000));
}

/**
 * The one writer of streaming replies' partial text in a worker process. Turns hand in their latest
 * partial as often as they like; every `intervalMs` (while anything is waiting) the newest partial of
 * each reply is written, many replies per statement, each fenced and only while `streaming`; a row
 * another transaction holds locked is skipped, not waited for. A reply the statement did not write is
 * looked up: owned by a newer fence (or gone) means its turn is fenced out; its own fence and ended
 * means the turn already ended it (a late write is not a fence loss); its own fence and still
 * `streaming` means the row was busy, and the write is tried again at the next tick.
 *
 * A reply's partial only grows while it streams, so a write sends what is new since the last one that
 * landed (appended to the row when its content is still exactly that long), not the whole text: a
 * content that does not extend what was stored (a restart), a row that was skipped, or a failed
 * statement make the next write send the whole partial again.
 */
export class LiveReplyWriter {
  private pending = new Map<string, LiveReplyWrite>();
  /** The writes of the statement in flight, by reply id (a forgotten reply leaves it). */
  private inFlight = new Map<string, LiveReplyWrite>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private closed = false;
  private readonly maxBatch: number;
  private readonly maxRowsPerSecond: number;
  /** Rows the last tick wrote (what the next wait is measured against). */
  private lastRows = 0;
  /** Per entry, what its row holds (written by this writer); gone with the entry. */
  private readonly stored = new WeakMap<LiveReplyWrite, Stored>();

  constructor(private readonly opts: LiveReplyWriterOptions) {
    this.maxBatch = opts.maxBatch ?? 500;
    this.maxRowsPerSecond = opts.maxRowsPerSecond ?? 2000;
  }

  /** The wait of the next tick, as planned now (ms). */
  get nextDelayMs(): number {
    return nextPersistDelayMs(this.opts.intervalMs, this.lastRows, this.maxRowsPerSecond);
  }

  /** Replies waiting for their next write. */
  get size(): number {
    return this.pending.size;
  }

  /** Record the newest partial of a reply; it is written within about `intervalMs`. */
  write(w: LiveReplyWrite): void {
    if (this.closed) return;
    this.pending.set(w.replyId, w);
    this.arm();
  }

  /**
   * Stop writing a reply's partial (its turn is ending): drop what waits, and wait for a write of it
   * that is in flight, so nothing of this turn is written afterwards.
   */
  async forget(replyId: string, fence: number): Promise<void> {
    if (this.pending.get(replyId)?.fence === fence) this.pending.delete(replyId);
    if (this.inFlight.get(replyId)?.fence === fence) this.inFlight.delete(replyId);
    await this.flushing;
  }

  /** Stop the timer and wait for the write in flight (turns forget their replies before this). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
    await this.flushing;
  }

  private arm(): void {
    if (this.timer || this.flushing || this.pending.size === 0 || this.closed) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.flushing = this.flush().finally(() => {
          this.flushing = undefined;
          this.arm();
        });
      },
      nextPersistDelayMs(this.opts.intervalMs, this.lastRows, this.maxRowsPerSecond),
    );
  }

  private async flush(): Promise<void> {
    const batch = [...this.pending.values()];
    this.lastRows = batch.length;
    this.inFlight = this.pending;
    this.pending = new Map();
    try {
      for (let i = 0; i < batch.length; i += this.maxBatch) {
        await this.writeBatch(batch.slice(i, i + this.maxBatch));
      }
    } finally {
      this.inFlight = new Map();
    }
  }

  private async writeBatch(batch: LiveReplyWrite[]): Promise<void> {
    const plans = batch.map((w) => this.plan(w));
    try {
      const written = await updateReplyContents(
        this.opts.db,
        plans.map((p) => p.write),
      );
      const missed: LiveReplyWrite[] = [];
      batch.forEach((w, i) => {
        if (written.has(w.replyId)) this.stored.set(w, plans[i]!.stored);
        else missed.push(w);
      });
      if (missed.length === 0) return;
      const owners = await replyOwners(
        this.opts.db,
        missed.map((w) => w.replyId),
      );
      for (const w of missed) {
        // Not written: whatever the row holds, the next write sends the whole partial.
        this.stored.delete(w);
        const owner = owners.get(w.replyId);
        if (!owner || owner.fence !== w.fence) w.onFencedOut();
        // Still ours and streaming: the row was busy (locked); written at the next tick.
        else if (owner.status === 'streaming') this.retry(w);
      }
    } catch (err) {
      // Written again at the next tick (whole), unless a newer partial of the reply is waiting already.
      for (const w of batch) {
        this.stored.delete(w);
        this.retry(w);
      }
      this.opts.logger?.warn(
        { event: 'reply.persist_failed', replies: batch.length, err: String(err) },
        'could not write streaming partials',
      );
    }
  }

  /**
   * The write of an entry's partial: what is new since the prefix its row holds, or the whole partial.
   * A high surrogate at the end waits for its other half (a character is never split across writes).
   */
  private plan(w: LiveReplyWrite): { write: ReplyContentWrite; stored: Stored } {
    const { content } = w;
    const end = content.length > 0 && isHighSurrogate(content.charCodeAt(content.length - 1));
    const text = end ? content.slice(0, -1) : content;
    const prev = this.stored.get(w);
    if (prev && prev.bytes > 0 && text.startsWith(prev.text)) {
      const added = text.slice(prev.text.length);
      return {
        write: { replyId: w.replyId, fence: w.fence, fromBytes: prev.bytes, text: added },
        stored: { text, bytes: prev.bytes + Buffer.byteLength(added) },
      };
    }
    return {
      write: { replyId: w.replyId, fence: w.fence, fromBytes: 0, text },
      stored: { text, bytes: Buffer.byteLength(text) },
    };
  }

  /** Put a write of the statement in flight back for the next tick (not when forgotten or superseded). */
  private retry(w: LiveReplyWrite): void {
    if (this.inFlight.get(w.replyId) === w && !this.pending.has(w.replyId) && !this.closed) {
      this.pending.set(w.replyId, w);
    }
  }
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
