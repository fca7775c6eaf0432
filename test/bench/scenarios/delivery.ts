import type { BenchContext } from '../lib/context.ts';
import { Driver } from '../lib/driver.ts';
import { CpuMeter } from '../lib/proc.ts';
import { ratio, type Summary, summarize } from '../lib/stats.ts';

type Mode = 'turnstream' | 'raw' | 'resumable';

export interface FanoutRun {
  mode: Mode;
  delivered: number;
  expected: number;
  /** Frames delivered to SSE clients per second, first publish to last delivery. */
  eventsPerSec: number;
  wallMs: number;
  cpuSeconds: Record<string, number>;
}

export interface FanoutResult {
  conversations: number;
  clientsPerConversation: number;
  eventsPerConversation: number;
  runs: FanoutRun[];
  ratioToRaw: number | null;
  ratioToResumable: number | null;
}

export interface ResumePoint {
  missed: number;
  turnstreamMs: Summary;
  resumableMs: Summary;
  ratio: number | null;
}

interface Side {
  publisher: Driver;
  relay: Driver | null;
  /** URL of conversation `id`'s event stream for a client of this side. */
  url: (id: string) => string;
  headers: Record<string, string>;
}

async function openSide(ctx: BenchContext, mode: Mode): Promise<Side> {
  const { stack } = ctx;
  const keyPrefix = mode === 'turnstream' ? stack.redisPrefix : `${stack.redisPrefix}${mode}`;
  const publisher = new Driver(`publisher-${mode}`, 'publisher.ts');
  await publisher.call('init', { mode, redisUrl: stack.redis.url, keyPrefix });
  if (mode === 'turnstream') {
    return {
      publisher,
      relay: null,
      url: (id) => `${stack.apiUrl}/v1/conversations/${id}/events`,
      headers: { authorization: `Bearer ${stack.apiKey}` },
    };
  }
  const relay = new Driver(`relay-${mode}`, 'relay.ts');
  const { url } = await relay.call<{ url: string }>('start', { mode, redisUrl: stack.redis.url, keyPrefix });
  return { publisher, relay, url: (id) => `${url}/events/${id}`, headers: {} };
}

async function closeSide(side: Side): Promise<void> {
  await side.publisher.call('closeAll').catch(() => undefined);
  await Promise.all([side.publisher.stop(), side.relay?.stop()]);
}

/**
 * Scenario 4: fan-out. Chunk events published one at a time per conversation (all conversations at
 * once), each conversation followed by several SSE clients: Turnstream (streams package -> API),
 * raw Redis PUBLISH through a minimal relay, and `resumable-stream` through the same relay.
 */
export async function fanout(ctx: BenchContext): Promise<FanoutResult> {
  const { stack, profile } = ctx;
  const { conversations, clientsPerConversation: perConv, eventsPerConversation: events } = profile.fanout;
  const clients = new Driver('sse-clients', 'sse-clients.ts');
  const runs: FanoutRun[] = [];
  try {
    for (const mode of ['raw', 'resumable', 'turnstream'] as Mode[]) {
      const ids = await stack.seedConversations(conversations);
      const side = await openSide(ctx, mode);
      try {
        await side.publisher.call('prepare', { conversationIds: ids });
        const urls = ids.flatMap((id) => Array.from({ length: perConv }, () => side.url(id)));
        await clients.call('connect', { urls, headers: side.headers });
        const groups =
          mode === 'turnstream'
            ? [{ name: 'api', pids: () => [stack.api.pid] }]
            : [{ name: 'relay', pids: () => [side.relay!.pid] }];
        const meter = new CpuMeter([
          ...groups,
          { name: 'publisher', pids: () => [side.publisher.pid] },
          { name: 'redis', pids: () => [stack.redisPid] },
          { name: 'client', pids: () => [clients.pid] },
        ]);
        await meter.begin();
        const [pub, got] = await Promise.all([
          side.publisher.call<{ startedAt: number }>('publish', {
            conversationIds: ids,
            events,
            close: true,
          }),
          clients.call<{ delivered: number; expected: number; lastAt: number }>('collect', {
            perClient: events,
            deadlineMs: 120_000,
          }),
        ]);
        const cpu = await meter.end();
        const wallMs = Math.max(1, got.lastAt - pub.startedAt);
        const run: FanoutRun = {
          mode,
          delivered: got.delivered,
          expected: got.expected,
          eventsPerSec: Math.round((got.delivered / wallMs) * 1000),
          wallMs: Math.round(wallMs),
          cpuSeconds: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, v.cpuSeconds])),
        };
        ctx.log(
          `fan-out ${mode}: ${run.eventsPerSec} events/s (${run.delivered}/${run.expected} in ${run.wallMs} ms)`,
        );
        runs.push(run);
      } finally {
        await closeSide(side);
      }
    }
  } finally {
    await clients.stop();
  }
  const rate = (m: Mode) => runs.find((r) => r.mode === m)?.eventsPerSec;
  return {
    conversations,
    clientsPerConversation: perConv,
    eventsPerConversation: events,
    runs,
    ratioToRaw: ratio(rate('turnstream'), rate('raw')),
    ratioToResumable: ratio(rate('turnstream'), rate('resumable')),
  };
}

/**
 * Scenario 5: resume. A client reconnects having missed N events: Turnstream's SSE with
 * Last-Event-ID (read from the Redis Stream log) against `resumable-stream`'s resume (the producer
 * sends what it holds through pub/sub). Time from the request to the N-th event.
 */
export async function resume(ctx: BenchContext): Promise<ResumePoint[]> {
  const { stack, profile } = ctx;
  const clients = new Driver('sse-clients', 'sse-clients.ts');
  const ts = await openSide(ctx, 'turnstream');
  const rs = await openSide(ctx, 'resumable');
  const points: ResumePoint[] = [];
  try {
    for (const missed of profile.resume.missed) {
      const [id] = await stack.seedConversations(1);
      const tsFill = await ts.publisher.call<{ firstId: string }>('fill', {
        conversationId: id,
        events: missed + 1,
      });
      const rsFill = await rs.publisher.call<{ firstLength: number }>('fill', {
        conversationId: id,
        events: missed + 1,
      });
      const tsTimes: number[] = [];
      const rsTimes: number[] = [];
      for (let r = 0; r < profile.resume.repeats; r++) {
        const a = await clients.call<{ ms: number | null }>('resumeOnce', {
          url: ts.url(id!),
          headers: { ...ts.headers, 'last-event-id': tsFill.firstId },
          frames: missed,
          deadlineMs: 60_000,
        });
        const b = await clients.call<{ ms: number | null }>('resumeOnce', {
          url: `${rs.url(id!)}?skip=${rsFill.firstLength}`,
          headers: {},
          frames: missed,
          deadlineMs: 60_000,
        });
        if (a.ms !== null) tsTimes.push(a.ms);
        if (b.ms !== null) rsTimes.push(b.ms);
      }
      const point = {
        missed,
        turnstreamMs: summarize(tsTimes),
        resumableMs: summarize(rsTimes),
        ratio: null as number | null,
      };
      point.ratio = ratio(point.turnstreamMs.p50, point.resumableMs.p50);
      ctx.log(
        `resume ${missed} missed: turnstream p50 ${point.turnstreamMs.p50} ms, resumable-stream p50 ${point.resumableMs.p50} ms`,
      );
      points.push(point);
    }
  } finally {
    await Promise.all([closeSide(ts), closeSide(rs), clients.stop()]);
  }
  return points;
}
