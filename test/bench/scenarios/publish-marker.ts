import { performance } from 'node:perf_hooks';
import {
  BATCH_RECORD_KEEP,
  BATCH_RECORD_TTL_SECONDS,
  PUBLISH_KEY_COUNT,
  PUBLISH_LUA,
} from '@turnstream/streams';
import { Redis } from 'ioredis';
import type { BenchContext } from '../lib/context.ts';
import { cpuSeconds } from '../lib/proc.ts';

/**
 * The cost of the publish script's batch record (one hash per writer and conversation: the batches the
 * writer awaits an answer for and the newest `BATCH_RECORD_KEEP` others, expiring
 * `BATCH_RECORD_TTL_SECONDS` after the last; it makes a re-sent publish apply once): the same script
 * with and without the record, on the same Redis in the same run, alternated (with, without, without, with) so that load
 * drifting during the run weighs on both alike. One event per batch, each conversation publishing one
 * batch at a time (the fan-out shape).
 */
export interface MarkerRun {
  marker: boolean;
  publishes: number;
  publishesPerSec: number;
  /** Redis CPU per publish, microseconds. */
  redisCpuUsPerPublish: number;
  /** Growth of Redis `used_memory` per publish, bytes (the records stay for their TTL). */
  memoryBytesPerPublish: number;
  /** With the record: its size (`MEMORY USAGE`) per conversation after the run, bytes; 0 without. */
  recordBytes: number;
}

export interface MarkerResult {
  conversations: number;
  publishesPerConversation: number;
  runs: MarkerRun[];
  /** With over without: publishes/s, Redis CPU per publish (means of the two runs of each). */
  ratio: { publishesPerSec: number | null; redisCpuPerPublish: number | null };
  /** Redis memory of the batch record, per conversation (one writer publishing one batch at a time). */
  recordBytesPerConversation: number;
  markerTtlSeconds: number;
}

const MARKER_READ = `local applied = redis.call('HGET', KEYS[3], ARGV[7])
if applied then
  return {1, cjson.decode(applied), replicas()}
end
`;
const MARKER_WRITE = `redis.call('HSET', KEYS[3], ARGV[7], cjson.encode(ids))
redis.call('EXPIRE', KEYS[3], ${BATCH_RECORD_TTL_SECONDS})
if redis.call('HLEN', KEYS[3]) > ${2 * BATCH_RECORD_KEEP} then
  prune(KEYS[3], tonumber(ARGV[8]))
end
`;

/** The publish script without its batch record (the script as it was before the marker). */
export function publishScriptWithoutMarker(): string {
  if (!PUBLISH_LUA.includes(MARKER_READ) || !PUBLISH_LUA.includes(MARKER_WRITE))
    throw new Error('the publish script changed: update the marker bench');
  return PUBLISH_LUA.replace(MARKER_READ, '').replace(MARKER_WRITE, '');
}

type Publish = (...args: string[]) => Promise<unknown>;

const ratioOf = (a: number, b: number): number | null => (b > 0 ? Math.round((a / b) * 100) / 100 : null);

async function usedMemory(redis: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? 0);
}

async function runOnce(
  redis: Redis,
  redisPid: number,
  marker: boolean,
  prefix: string,
  conversations: number,
  perConversation: number,
): Promise<MarkerRun> {
  const command = (marker ? 'benchPublishMarked' : 'benchPublishUnmarked') as 'benchPublishMarked';
  const publish = (redis as unknown as Record<string, Publish>)[command]!.bind(redis);
  const event = JSON.stringify({ type: 'chunk', messageId: 'm', text: 'river ' });
  const memBefore = await usedMemory(redis);
  const cpuBefore = cpuSeconds(redisPid) ?? 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: conversations }, async (_, c) => {
      const tag = `${prefix}:${marker ? 'm' : 'u'}:{c${c}}`;
      for (let i = 0; i < perConversation; i++) {
        // KEYS: log, fence, record, ends, released; ARGV: fence, maxLen, ttl, channel, sharded, ending ('' = none),
        // batch number, lowest awaited (this one: each publish is answered before the next), events.
        await publish(
          `${tag}:log`,
          `${tag}:fence`,
          `${tag}:batches:bench`,
          `${tag}:ends`,
          `${tag}:released`,
          '1',
          '1000',
          '3600',
          `${tag}:ch`,
          '0',
          '',
          String(i + 1),
          String(i + 1),
          event,
        );
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = (cpuSeconds(redisPid) ?? 0) - cpuBefore;
  const memAfter = await usedMemory(redis);
  const publishes = conversations * perConversation;
  const recordBytes = marker ? await meanRecordBytes(redis, prefix, conversations) : 0;
  return {
    marker,
    publishes,
    publishesPerSec: Math.round(publishes / seconds),
    redisCpuUsPerPublish: Math.round((cpu / publishes) * 1e7) / 10,
    memoryBytesPerPublish: Math.round((memAfter - memBefore) / publishes),
    recordBytes,
  };
}

/** Mean `MEMORY USAGE` of the conversations' batch records: measured on the keys themselves, since
 * `used_memory` deltas of a few KB are allocator noise (a second run reuses the first run's records). */
async function meanRecordBytes(redis: Redis, prefix: string, conversations: number): Promise<number> {
  let total = 0;
  for (let c = 0; c < conversations; c++) {
    total += Number((await redis.call('MEMORY', 'USAGE', `${prefix}:m:{c${c}}:batches:bench`)) ?? 0);
  }
  return Math.round(total / conversations);
}

export async function publishMarker(ctx: BenchContext): Promise<MarkerResult> {
  const { stack } = ctx;
  const conversations = ctx.profile.fanout.conversations;
  const perConversation = ctx.profile.fanout.eventsPerConversation * 5;
  const redis = new Redis(stack.redis.url);
  const prefix = `${stack.redisPrefix}marker`;
  try {
    redis.defineCommand('benchPublishMarked', { numberOfKeys: PUBLISH_KEY_COUNT, lua: PUBLISH_LUA });
    redis.defineCommand('benchPublishUnmarked', {
      numberOfKeys: PUBLISH_KEY_COUNT,
      lua: publishScriptWithoutMarker(),
    });
    const runs: MarkerRun[] = [];
    for (const marker of [true, false, false, true]) {
      runs.push(await runOnce(redis, stack.redisPid, marker, prefix, conversations, perConversation));
    }
    const mean = (m: boolean, pick: (r: MarkerRun) => number) => {
      const of = runs.filter((r) => r.marker === m);
      return of.reduce((s, r) => s + pick(r), 0) / of.length;
    };
    const recordBytesPerConversation = Math.round(mean(true, (r) => r.recordBytes));
    const result: MarkerResult = {
      conversations,
      publishesPerConversation: perConversation,
      runs,
      ratio: {
        publishesPerSec: ratioOf(
          mean(true, (r) => r.publishesPerSec),
          mean(false, (r) => r.publishesPerSec),
        ),
        redisCpuPerPublish: ratioOf(
          mean(true, (r) => r.redisCpuUsPerPublish),
          mean(false, (r) => r.redisCpuUsPerPublish),
        ),
      },
      recordBytesPerConversation,
      markerTtlSeconds: BATCH_RECORD_TTL_SECONDS,
    };
    ctx.log(
      `publish marker: ${result.ratio.publishesPerSec}x publishes/s, ${result.ratio.redisCpuPerPublish}x Redis CPU per publish, ${recordBytesPerConversation} bytes of batch record per conversation`,
    );
    return result;
  } finally {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
    redis.disconnect();
  }
}

/** The markdown section of the marker bench. */
export function renderMarker(m: MarkerResult, heldStreams?: number): string[] {
  const rows = m.runs.map(
    (r) =>
      `| ${r.marker ? 'with record' : 'without'} | ${r.publishesPerSec} | ${r.redisCpuUsPerPublish} | ${r.memoryBytesPerPublish} |`,
  );
  const held =
    heldStreams === undefined
      ? []
      : [
          `At ${heldStreams} held streams (one record each, whatever their length) the records come to about ${Math.round((heldStreams * m.recordBytesPerConversation) / 1024)} KB of Redis memory.`,
          '',
        ];
  return [
    `## 6. Publish marker (${m.conversations} conversations x ${m.publishesPerConversation} one-event batches, the publish script with and without its batch record, alternated)`,
    '',
    '| script | publishes/s | Redis CPU µs per publish | Redis memory bytes per publish |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
    `With the record over without: ${m.ratio.publishesPerSec}x publishes/s, ${m.ratio.redisCpuPerPublish}x Redis CPU per publish; each conversation's record holds about ${m.recordBytesPerConversation} bytes, for ${m.markerTtlSeconds} s after its last publish.`,
    '',
    ...held,
  ];
}
