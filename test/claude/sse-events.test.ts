import Anthropic from '@anthropic-ai/sdk';
import { Stream } from '@anthropic-ai/sdk/core/streaming';
import { buildParams, type ClaudeChunk, createClaudeProvider, sseEvents } from '@turnstream/claude';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, completed, MODEL, type RunningSimulator, startSimulator } from './support/sim.ts';

/**
 * The provider decodes the SSE body of a streamed create itself (`packages/claude/src/sse-events.ts`);
 * the SDK makes the request. Against the simulator over HTTP: the SDK's `Stream` is never built, and
 * the events decoded are the SDK's, whatever byte the wire is split at.
 */

let sim: RunningSimulator;

beforeAll(async () => {
  sim = await startSimulator({ tokenDelayMs: 0, replyWords: 40, seed: 'sse-events' });
});
afterAll(async () => {
  await sim.close();
});

const request = {
  model: MODEL,
  messages: [{ role: 'user' as const, content: 'Décris un café — naïvement ✓ 日本語 🎉' }],
  maxTokens: 4096,
  thinking: { budgetTokens: 1024 },
};

describe('the provider reads the SSE body itself', () => {
  it('streams and completes with the SDK Stream decoding disabled, under both HTTP clients', async () => {
    const original = Stream.fromSSEResponse;
    let sdkStreams = 0;
    Stream.fromSSEResponse = (() => {
      sdkStreams++;
      throw new Error('the SDK Stream was built');
    }) as typeof Stream.fromSSEResponse;
    try {
      const results: ClaudeChunk[][] = [];
      for (const httpClient of ['node', 'fetch'] as const) {
        const provider = createClaudeProvider({ apiKey: 'sk-test', baseURL: sim.url, httpClient });
        const { chunks, error } = await collect(provider, request);
        expect(error).toBeUndefined();
        expect(completed(chunks).requestId).toBe(sim.requests().at(-1)?.requestId);
        results.push(chunks.map((c) => (c.type === 'message_completed' ? { ...c, requestId: null } : c)));
      }
      expect(results[0]).toEqual(results[1]);
      expect(sdkStreams).toBe(0);
    } finally {
      Stream.fromSSEResponse = original;
    }
  });

  it('decodes the simulator wire as the SDK does, whatever byte it is split at', async () => {
    const client = new Anthropic({ apiKey: 'sk-test', baseURL: sim.url, maxRetries: 0 });
    const response = await client.messages.create(buildParams(request)).asResponse();
    const wire = new Uint8Array(await response.arrayBuffer());
    const sdk = await eventsOf(
      Stream.fromSSEResponse(
        { body: chunked(wire, []), headers: response.headers } as unknown as Response,
        new AbortController(),
      )[Symbol.asyncIterator](),
    );
    expect(sdk.map((e) => (e as { type: string }).type)).toContain('message_stop');
    // Splits around every byte of the first 600 (the message start, the first deltas), then every 13th.
    for (let at = 1; at < wire.length; at += at < 600 ? 1 : 13) {
      const ours = await eventsOf(
        sseEvents({ body: chunked(wire, [at]), headers: response.headers }, new AbortController()),
      );
      expect(ours, `split at ${at}`).toEqual(sdk);
    }
  });
});

async function* chunked(bytes: Uint8Array, cuts: number[]): AsyncGenerator<Uint8Array> {
  let from = 0;
  for (const cut of cuts) {
    yield bytes.subarray(from, cut);
    from = cut;
  }
  yield bytes.subarray(from);
}

async function eventsOf(events: AsyncIterator<unknown>): Promise<unknown[]> {
  const out: unknown[] = [];
  for (let step = await events.next(); !step.done; step = await events.next()) out.push(step.value);
  return out;
}
