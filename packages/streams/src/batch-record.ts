import { randomBytes } from 'node:crypto';

/** Batches of a writer kept in its record beyond those it still awaits an answer for. */
export const BATCH_RECORD_KEEP = 16;

/** How long a writer's record of a conversation outlives its last batch, in seconds. */
export const BATCH_RECORD_TTL_SECONDS = 300;

/** One publish's place in its writer's record (the publish script's KEYS[3], ARGV[7] and ARGV[8]). */
export interface BatchSlot {
  /** The record: a hash per writer and conversation, batch number -> ids of its first run. */
  readonly key: string;
  /** This batch's number (unique in the record, whatever the conversation). */
  readonly batch: string;
  /** The lowest number this writer still awaits an answer for on the conversation (this batch's at most). */
  readonly floor: string;
  readonly conversationId: string;
  readonly number: number;
}

/** Record keys cached (one per conversation published to lately; the oldest is dropped beyond). */
const RECORD_KEYS_CACHED = 4096;

/**
 * Numbers a writer's batches, and knows which of them are still awaited per conversation: a batch is
 * re-sent (by ioredis after a reconnect, by the replication-wait appender after a lost answer) only
 * while its publish has not settled, so the publish script must keep its record until then, and may
 * forget it afterwards (it keeps the newest {@link BATCH_RECORD_KEEP} anyway). One instance per
 * `TurnStreams`: its id names its records, so two writers never share batch numbers.
 *
 * A held stream publishes every few tens of milliseconds: a slot is one plain object (no callback of
 * its own), and a conversation's record key is built once, not per publish.
 */
export class BatchRecords {
  /** Names this writer's records (12 characters). */
  private readonly writer = randomBytes(9).toString('base64url');
  private last = 0;
  /** Per conversation, the batches not settled yet, in the order they were numbered (lowest first). */
  private readonly awaited = new Map<string, Set<number>>();
  /** Record key by record prefix. */
  private readonly keys = new Map<string, string>();

  /** A slot for the next batch of `conversationId`, whose records live under `recordPrefix`. */
  open(conversationId: string, recordPrefix: string): BatchSlot {
    const batch = ++this.last;
    let awaited = this.awaited.get(conversationId);
    if (!awaited) {
      awaited = new Set();
      this.awaited.set(conversationId, awaited);
    }
    awaited.add(batch);
    // Numbers only grow, so the oldest awaited batch is the first in insertion order.
    const floor = awaited.values().next().value as number;
    const number = String(batch);
    return {
      key: this.keyOf(recordPrefix),
      batch: number,
      floor: floor === batch ? number : String(floor),
      conversationId,
      number: batch,
    };
  }

  /** The publish of `slot` settled (answered or failed for good): it will not be sent again. */
  settle(slot: BatchSlot): void {
    const awaited = this.awaited.get(slot.conversationId);
    if (!awaited) return;
    awaited.delete(slot.number);
    if (awaited.size === 0) this.awaited.delete(slot.conversationId);
  }

  /** Conversations with a batch awaited (for tests). */
  get conversations(): number {
    return this.awaited.size;
  }

  private keyOf(recordPrefix: string): string {
    let key = this.keys.get(recordPrefix);
    if (key) return key;
    key = `${recordPrefix}:batches:${this.writer}`;
    if (this.keys.size >= RECORD_KEYS_CACHED) this.keys.delete(this.keys.keys().next().value!);
    this.keys.set(recordPrefix, key);
    return key;
  }
}
