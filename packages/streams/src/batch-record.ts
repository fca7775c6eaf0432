import { randomBytes } from 'node:crypto';

/** Batches of a writer kept in its record beyond those it still awaits an answer for. */
export const BATCH_RECORD_KEEP = 16;

/** How long a writer's record of a conversation outlives its last batch, in seconds. */
export const BATCH_RECORD_TTL_SECONDS = 300;

/** One publish's place in its writer's record (the publish script's KEYS[3], ARGV[7] and ARGV[8]). */
export interface BatchSlot {
  /** The record: a hash per writer and conversation, batch number -> ids of its first run. */
  key: string;
  /** This batch's number (unique in the record, whatever the conversation). */
  batch: string;
  /** The lowest number this writer still awaits an answer for on the conversation (this batch's at most). */
  floor: string;
  /** Call once the publish settled (answered or failed for good): it will not be sent again. */
  settle: () => void;
}

/**
 * Numbers a writer's batches, and knows which of them are still awaited per conversation: a batch is
 * re-sent (by ioredis after a reconnect, by the replication-wait appender after a lost answer) only
 * while its publish has not settled, so the publish script must keep its record until then, and may
 * forget it afterwards (it keeps the newest {@link BATCH_RECORD_KEEP} anyway). One instance per
 * `TurnStreams`: its id names its records, so two writers never share batch numbers.
 */
export class BatchRecords {
  /** Names this writer's records (12 characters). */
  private readonly writer = randomBytes(9).toString('base64url');
  private last = 0;
  /** Per conversation, the batches not settled yet, in the order they were numbered (lowest first). */
  private readonly awaited = new Map<string, Set<number>>();

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
    return {
      key: `${recordPrefix}:batches:${this.writer}`,
      batch: String(batch),
      floor: String(floor),
      settle: () => {
        awaited.delete(batch);
        if (awaited.size === 0 && this.awaited.get(conversationId) === awaited) {
          this.awaited.delete(conversationId);
        }
      },
    };
  }

  /** Conversations with a batch awaited (for tests). */
  get conversations(): number {
    return this.awaited.size;
  }
}
