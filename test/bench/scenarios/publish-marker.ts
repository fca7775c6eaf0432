import { performance } from 'node:perf_hooks';
import { BATCH_MARKER_TTL_SECONDS, PUBLISH_KEY_COUNT, PUBLISH_LUA } from '@turnstream/streams';
import { Redis } from 'ioredis';
import type { BenchContext } from '../lib/context.ts';
import { cpuSeconds } from '../lib/proc.ts';

/**
 * The cost of the per-batch marker of the publish script (a key per batch, written with it, kept
 * `BATCH_MARKER_TTL_SECONDS`, that makes a re-sent publish apply once): the same script with and without
 * the marker, on the same Redis in the same run, alternated (with, without, without, with) so that load
 * drifting during the run weighs on both alike. One event per batch, each conversation publishing one
 * batch at a time (the fan-out shape).
 */
export interface MarkerRun {
  marker: boolean;
  publishes: number;
  publishesPerSec: number;
  /** Redis CPU per publish, microseconds. */
  redisCpuUsPerPublish: number;
  /** Growth of Redis `used_memory` per publish, bytes (the markers stay for their TTL). */
  memoryBytesPerPublish: number;
}

export interface MarkerResult {
  conversations: number;
  publishesPerConversation: number;
  runs: MarkerRun[];
  /** With over without: publishes/s, Redis CPU per publish (means of the two runs of each). */
  ratio: { publishesPerSec: number | null; redisCpuPerPublish: number | null };
  markerBytes: number;
  markerTtlSeconds: number;
}

const MARKER_READ = `local applied = redis.call('GET', KEYS[3])
if applied then
  return {1, cjson.decode(applied), replicas()}
end
`;
const MARKER_WRITE = `redis.call('SET', KEYS[3], cjson.encode(ids), 'EX', ${BATCH_MARKER_TTL_SECONDS})
`;

/** The publish script without its marker (the script as it was before the marker). */
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
        // KEYS: log, fence, marker, ends, released; ARGV: fence, maxLen, ttl, channel, sharded, ending ('' = none), events.
        await publish(
          `${tag}:log`,
          `${tag}:fence`,
          `${tag}:batch:${i}`,
          `${tag}:ends`,
          `${tag}:released`,
          '1',
          '1000',
          '3600',
          `${tag}:ch`,
          '0',
          '',
          event,
        );
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = (cpuSeconds(redisPid) ?? 0) - cpuBefore;
  const memAfter = await usedMemory(redis);
  const publishes = conversations * perConversation;
  return {
    marker,
    publishes,
    publishesPerSec: Math.round(publishes / seconds),
    redisCpuUsPerPublish: Math.round((cpu / publishes) * 1e7) / 10,
    memoryBytesPerPublish: Math.round((memAfter - memBefore) / publishes),
  };
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
    const markerBytes = Math.round(
      mean(true, (r) => r.memoryBytesPerPublish) - mean(false, (r) => r.memoryBytesPerPublish),
    );
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
      markerBytes,
      markerTtlSeconds: BATCH_MARKER_TTL_SECONDS,
    };
    ctx.log(
      `publish marker: ${result.ratio.publishesPerSec}x publishes/s, ${result.ratio.redisCpuPerPublish}x Redis CPU per publish, ${markerBytes} bytes per marker`,
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
export function renderMarker(m: MarkerResult, heldBatchesPerSec?: number): string[] {
  const rows = m.runs.map(
    (r) =>
      `| ${r.marker ? 'with marker' : 'without'} | ${r.publishesPerSec} | ${r.redisCpuUsPerPublish} | ${r.memoryBytesPerPublish} |`,
  );
  const held =
    heldBatchesPerSec === undefined
      ? []
      : [
          `At ${Math.round(heldBatchesPerSec)} publish batches/s (500 held streams in this run), the markers kept for ${m.markerTtlSeconds} s come to about ${Math.round((heldBatchesPerSec * m.markerTtlSeconds * m.markerBytes) / 1024 / 1024)} MB of Redis memory.`,
          '',
        ];
  return [
    `## 6. Publish marker (${m.conversations} conversations x ${m.publishesPerConversation} one-event batches, the publish script with and without its per-batch marker, alternated)`,
    '',
    '| script | publishes/s | Redis CPU µs per publish | Redis memory bytes per publish |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
    `With the marker over without: ${m.ratio.publishesPerSec}x publishes/s, ${m.ratio.redisCpuPerPublish}x Redis CPU per publish; each marker holds about ${m.markerBytes} bytes for ${m.markerTtlSeconds} s.`,
    '',
    ...held,
  ];
}
