import { describe, expect, it } from 'vitest';
import { type ReplicationShort, replicationOptions } from '../src/index.ts';

function recordingLog() {
  const lines: Array<{ obj: object; msg: string }> = [];
  return { lines, warn: (obj: object, msg: string) => lines.push({ obj, msg }) };
}

describe('replicationOptions', () => {
  it('leaves the replica count to the streams default when the environment does not set it', () => {
    const opts = replicationOptions({ REDIS_WAIT_TIMEOUT_MS: 500 }, recordingLog());
    expect('waitReplicas' in opts).toBe(false);
    expect(opts.waitTimeoutMs).toBe(500);
  });

  it('passes a set replica count, 0 included', () => {
    expect(
      replicationOptions({ REDIS_WAIT_REPLICAS: 0, REDIS_WAIT_TIMEOUT_MS: 50 }, recordingLog()),
    ).toMatchObject({
      waitReplicas: 0,
      waitTimeoutMs: 50,
    });
    expect(
      replicationOptions({ REDIS_WAIT_REPLICAS: 2, REDIS_WAIT_TIMEOUT_MS: 50 }, recordingLog()).waitReplicas,
    ).toBe(2);
  });

  it('logs a short wait as stream.replication_wait_timed_out with its details', () => {
    const log = recordingLog();
    const short: ReplicationShort = { log: 'ts:{c1}:log', batches: 3, asked: 1, acknowledged: 0 };
    replicationOptions({ REDIS_WAIT_TIMEOUT_MS: 500 }, log).onReplicationShort?.(short);
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]!.obj).toMatchObject({ event: 'stream.replication_wait_timed_out', ...short });
  });
});
