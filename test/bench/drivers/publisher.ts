/**
 * Stands in for the workers' publishing side in the delivery scenarios: chunk events published
 * through Turnstream's streams package, through raw Redis PUBLISH, or through `resumable-stream`.
 */
import { performance } from 'node:perf_hooks';
import type { TurnEvent } from '@turnstream/contracts';
import { createTurnStreams, type TurnStreams } from '@turnstream/streams';
import { Redis } from 'ioredis';
import { createResumableStreamContext, type ResumableStreamContext } from 'resumable-stream/ioredis';
import { serveDriver } from '../lib/driver.ts';

type Mode = 'turnstream' | 'raw' | 'resumable';

let mode: Mode;
let redis: Redis;
let subscriber: Redis | undefined;
let streams: TurnStreams;
let resumable: ResumableStreamContext;
const sources = new Map<string, ReadableStreamDefaultController<string>>();
const drains: Promise<void>[] = [];
/** Chunks the producer of each resumable stream has taken in (its local consumer saw them). */
const produced = new Map<string, number>();

const now = () => performance.timeOrigin + performance.now();
const WORDS = ['river ', 'stone ', 'light ', 'over ', 'the ', 'quiet ', 'field ', 'and '];

function chunkEvent(conversationId: string, i: number): TurnEvent {
  return { type: 'chunk', messageId: conversationId, text: WORDS[i % WORDS.length]! };
}

/** The SSE frame a relay forwards as is (raw and resumable-stream carry frames, not events). */
function frame(conversationId: string, i: number): string {
  return `event: chunk\ndata: ${JSON.stringify({ i, event: chunkEvent(conversationId, i) })}\n\n`;
}

/** Open a resumable stream per conversation (its producer stays here), not yet producing. */
async function openResumable(conversationId: string): Promise<void> {
  let controller!: ReadableStreamDefaultController<string>;
  const source = new ReadableStream<string>({
    start(c) {
      controller = c;
    },
  });
  sources.set(conversationId, controller);
  const local = await resumable.createNewResumableStream(conversationId, () => source);
  // The producer's own consumer (the request that started the stream): drained here.
  produced.set(conversationId, 0);
  const counter = new WritableStream<string>({
    write() {
      produced.set(conversationId, (produced.get(conversationId) ?? 0) + 1);
    },
  });
  if (local) drains.push(local.pipeTo(counter).catch(() => undefined));
}

serveDriver(
  {
    async init(p: { mode: Mode; redisUrl: string; keyPrefix: string }) {
      mode = p.mode;
      redis = new Redis(p.redisUrl);
      if (mode === 'turnstream') streams = createTurnStreams({ redis, keyPrefix: p.keyPrefix });
      if (mode === 'resumable') {
        subscriber = redis.duplicate();
        resumable = createResumableStreamContext({
          waitUntil: null,
          publisher: redis,
          subscriber,
          keyPrefix: p.keyPrefix,
        });
      }
    },

    /** Resumable streams must exist before clients resume them. */
    async prepare(p: { conversationIds: string[] }) {
      if (mode === 'resumable') for (const id of p.conversationIds) await openResumable(id);
    },

    /** Each conversation publishes `events` chunks one at a time (all conversations in parallel). */
    async publish(p: { conversationIds: string[]; events: number; close?: boolean }) {
      const startedAt = now();
      await Promise.all(
        p.conversationIds.map(async (id) => {
          if (mode === 'turnstream') {
            for (let i = 0; i < p.events; i++) {
              const res = await streams.publish(id, 1, [chunkEvent(id, i)]);
              if (!res.ok) throw new Error('stale fence');
            }
          } else if (mode === 'raw') {
            for (let i = 0; i < p.events; i++) await redis.publish(`bench:raw:${id}`, frame(id, i));
          } else {
            // resumable-stream reads the source and publishes each chunk to each listener in turn.
            const controller = sources.get(id)!;
            for (let i = 0; i < p.events; i++) controller.enqueue(frame(id, i));
            if (p.close) controller.close();
          }
        }),
      );
      return { startedAt, publishedAt: now() };
    },

    /** Setup for resume: `events` chunks in the log (or held by the producer), quickly. */
    async fill(p: { conversationId: string; events: number }) {
      const id = p.conversationId;
      if (mode === 'turnstream') {
        const ids: string[] = [];
        for (let i = 0; i < p.events; i += 100) {
          const batch = Array.from({ length: Math.min(100, p.events - i) }, (_, k) => chunkEvent(id, i + k));
          const res = await streams.publish(id, 1, batch);
          if (!res.ok) throw new Error('stale fence');
          ids.push(...res.ids);
        }
        return { firstId: ids[0], firstLength: 0 };
      }
      await openResumable(id);
      const controller = sources.get(id)!;
      for (let i = 0; i < p.events; i++) controller.enqueue(frame(id, i));
      while ((produced.get(id) ?? 0) < p.events) await new Promise((r) => setTimeout(r, 5));
      return { firstId: null, firstLength: frame(id, 0).length };
    },

    async closeAll() {
      for (const controller of sources.values()) {
        try {
          controller.close();
        } catch {}
      }
      sources.clear();
      await Promise.all(drains.splice(0));
    },
  },
  async () => {
    subscriber?.disconnect();
    redis?.disconnect();
  },
);
