import type { AddressInfo } from 'node:net';
import { createServer, type Socket } from 'node:net';
import {
  type ClaudeProvider,
  ClaudeStreamIdleError,
  classifyClaudeError,
  createClaudeProvider,
} from '@turnstream/claude';
import { waitFor } from '@turnstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODEL, type RunningSimulator, startSimulator } from './support/sim.ts';

// Long enough that a loaded 2-core machine never idles that long between chunks of a healthy stream.
const IDLE_MS = 1500;
let sim: RunningSimulator;
let provider: ClaudeProvider;

beforeAll(async () => {
  sim = await startSimulator({ tokenDelayMs: 0, replyWords: 10 });
  provider = createClaudeProvider({ apiKey: 'sk-test', baseURL: sim.url, idleTimeoutMs: IDLE_MS });
});
afterAll(async () => {
  await sim.close();
});

describe('idle watchdog', () => {
  it('detects a stall within the idle limit and classifies it transient', async () => {
    sim.addFaults([{ fault: 'stall', afterChunks: 4, times: 1 }]);
    const received: string[] = [];
    let lastChunkAt = 0;
    let caught: unknown;
    try {
      for await (const chunk of provider.stream({
        model: MODEL,
        messages: [{ role: 'user', content: 'hi' }],
        maxTokens: 500,
      })) {
        received.push(chunk.type);
        lastChunkAt = performance.now();
      }
    } catch (err) {
      caught = err;
    }
    const detectedAfter = performance.now() - lastChunkAt;
    expect(received).toEqual(['text_delta', 'text_delta', 'text_delta', 'text_delta']);
    expect(caught).toBeInstanceOf(ClaudeStreamIdleError);
    expect((caught as ClaudeStreamIdleError).name).toBe('ClaudeStreamIdleError');
    expect(detectedAfter).toBeGreaterThanOrEqual(IDLE_MS - 5);
    expect(classifyClaudeError(caught)).toEqual({
      kind: 'transient',
      backoffMs: 1000,
      reason: 'stream_idle',
    });
    // The watchdog aborted the request: the simulator saw the connection close.
    await waitFor(() => sim.requests().at(-1)?.closedEarly === true);
    expect(sim.requests().at(-1)).toMatchObject({ fault: 'stall', status: 200 });
  });

  it('does not fire on a slow but steady stream', async () => {
    const chunks: string[] = [];
    for await (const chunk of provider.stream({
      model: MODEL,
      // 500ms between chunks, a third of the idle limit, for ~3s in total: longer than the limit.
      messages: [{ role: 'user', content: 'steady [[sim words=6 delay=500]]' }],
      maxTokens: 500,
    })) {
      chunks.push(chunk.type);
    }
    expect(chunks.at(-1)).toBe('message_completed');
    expect(chunks.filter((c) => c === 'text_delta')).toHaveLength(6);
  });

  it('also covers the wait for the response: a server that accepts and never answers', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.resume(); // read the request, never answer
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      const quiet = createClaudeProvider({
        apiKey: 'k',
        baseURL: `http://127.0.0.1:${port}`,
        idleTimeoutMs: IDLE_MS,
      });
      const started = performance.now();
      let caught: unknown;
      try {
        for await (const _chunk of quiet.stream({
          model: MODEL,
          messages: [{ role: 'user', content: 'hi' }],
          maxTokens: 50,
        })) {
          // no chunk ever arrives
        }
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ClaudeStreamIdleError);
      // Never before the limit (the upper bound is the watchdog firing at all: the server never answers).
      expect(performance.now() - started).toBeGreaterThanOrEqual(IDLE_MS - 5);
      expect(classifyClaudeError(caught)).toMatchObject({ kind: 'transient', reason: 'stream_idle' });
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
