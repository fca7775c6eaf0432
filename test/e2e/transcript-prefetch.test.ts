import { waitFor } from '@turnstream/testkit';
import { describe, expect, it } from 'vitest';
import { systemFixture } from '../support/system-fixture.ts';
import { createConversation, postMessage, waitForTurn } from '../support/turns.ts';

// A follow-up's transcript read (for the early Claude request) is sent alongside the tenant slot and
// the conversation lease, not after the lease. Here another owner holds the lease and reads of the
// transcripts table wait on a lock: the read must already be under way.
describe("a follow-up's transcript read does not wait for the conversation lease", () => {
  const sys = systemFixture({ workers: 1 });

  /** Worker reads waiting on the lock of the transcripts table, in this system's database. */
  const waitingTranscriptReads = async (): Promise<number> => {
    const rows = await sys.tdb.sql<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity
      where datname = current_database() and pid <> pg_backend_pid() and wait_event_type = 'Lock'
        and query ilike '%assistant_transcripts%'`;
    return rows[0]?.n ?? 0;
  };

  it('is under way while the lease is held elsewhere; the follow-up then runs with its history', async () => {
    const conv = await createConversation(sys);
    const first = await postMessage(sys, conv, 'prefetch-first [[sim words=5 delay=0]]');
    await waitForTurn(sys, conv, first);

    const leaseKey = `${sys.redisPrefix}:{conv:${conv}}:lease`;
    await sys.redis.set(leaseKey, 'elsewhere:999', 'PX', 60_000);
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => {
      locked = resolve;
    });
    const lock = sys.tdb.sql.begin(async (tx) => {
      await tx`lock table assistant_transcripts in access exclusive mode`;
      locked();
      await released;
    });
    await isLocked;
    let second: string;
    try {
      second = await postMessage(sys, conv, 'prefetch-second [[sim words=5 delay=0]]');
      await waitFor(async () => (await waitingTranscriptReads()) > 0, {
        message: 'the transcript read to be sent while the lease is held elsewhere',
      });
      // The lease was never this worker's: the read went out before it.
      expect(await sys.redis.get(leaseKey)).toBe('elsewhere:999');
    } finally {
      release();
      await lock;
    }
    await sys.redis.del(leaseKey);
    const { user, reply } = await waitForTurn(sys, conv, second);
    expect(user.status).toBe('completed');
    expect(reply?.content.length).toBeGreaterThan(0);
    // The follow-up's Claude request carried the first exchange (its transcript).
    const requests = (await sys.simRequests()).filter((r) => JSON.stringify(r).includes('prefetch-second'));
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.every((r) => JSON.stringify(r).includes('prefetch-first'))).toBe(true);
  });
});
