import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import {
  type ClaudeProvider,
  classifyClaudeError,
  createClaudeProvider,
  type StreamRequest,
} from '@turnstream/claude';
import { createLogger } from '@turnstream/logger';
import { waitFor } from '@turnstream/testkit';
import { ClaudeRateGate, gateProvider } from '@turnstream/worker';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { collect, completed, MODEL, type RunningSimulator, startSimulator } from './support/sim.ts';

/**
 * The rate gate is checked again right before a request leaves the worker (in the SDK's HTTP layer):
 * a 429 that closes the gate after a call passed it, but before its request went out, still holds that
 * request back. Real Redis, the real SDK over HTTP to the simulator.
 */

const GATE_MS = 1500;
// Shorter than the gate's wait: a request held at the send is not the API being idle.
const IDLE_MS = 1000;

let sim: RunningSimulator;
let redis: Redis;
let provider: ClaudeProvider;
const prefix = `tsgs${randomBytes(4).toString('hex')}`;
const events: string[] = [];
const log = createLogger({
  name: 'rate-gate-send-test',
  destination: new Writable({
    write(chunk, _enc, done) {
      events.push(String(JSON.parse(String(chunk)).event));
      done();
    },
  }),
});

beforeAll(async () => {
  sim = await startSimulator({ tokenDelayMs: 0, replyWords: 6 });
  redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  provider = createClaudeProvider({ apiKey: 'sk-test', baseURL: sim.url, idleTimeoutMs: IDLE_MS });
});
afterEach(() => {
  sim.clearRequests();
  events.length = 0;
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
  await sim.close();
});

/**
 * The provider with the gate closed on the way: after the call passed the gate, before its request
 * is sent (as another worker's 429 would close it in that instant). Returns when it closed.
 */
function closingOnTheWay(
  gate: ClaudeRateGate,
  ms = GATE_MS,
): { provider: ClaudeProvider; closedAt: () => number } {
  let closedAt = 0;
  const close = async () => {
    closedAt = Date.now();
    await gate.close(ms);
  };
  return {
    closedAt: () => closedAt,
    provider: {
      stream: async function* (req: StreamRequest) {
        await close();
        yield* provider.stream(req);
      },
      countTokens: async (req) => {
        await close();
        return provider.countTokens(req);
      },
    },
  };
}

function newGate(): ClaudeRateGate {
  return new ClaudeRateGate(redis, { redisPrefix: prefix, keyId: randomBytes(4).toString('hex') });
}

const hello = { model: MODEL, messages: [{ role: 'user' as const, content: 'Hello' }], maxTokens: 200 };

describe('the rate gate at the send', () => {
  it('holds a stream whose gate closed after it passed the gate until the gate opens; the stream completes', async () => {
    const gate = newGate();
    const onTheWay = closingOnTheWay(gate);
    const { chunks, error } = await collect(gateProvider(onTheWay.provider, gate, log), hello);
    expect(error).toBeUndefined();
    expect(completed(chunks).text.length).toBeGreaterThan(0);
    const [request, ...more] = sim.requests();
    expect(more).toEqual([]);
    // The gate was closed for GATE_MS from (after) closedAt: the request left only once it opened.
    expect(Date.parse(request!.time) - onTheWay.closedAt()).toBeGreaterThanOrEqual(GATE_MS);
    expect(events).toContain('claude.send_held');
  });

  it('lets a request whose gate stays open go at once, holding nothing', async () => {
    const gate = newGate();
    const { chunks, error } = await collect(gateProvider(provider, gate, log), hello);
    expect(error).toBeUndefined();
    expect(completed(chunks).text.length).toBeGreaterThan(0);
    expect(sim.requests()).toHaveLength(1);
    expect(events).not.toContain('claude.send_held');
  });

  it('with the check header on, each request carries the check that let it go, over either HTTP client', async () => {
    for (const httpClient of ['node', 'fetch'] as const) {
      const gate = newGate();
      const closed = await gate.close(1);
      const before = Date.now();
      const direct = createClaudeProvider({ apiKey: 'sk-test', baseURL: sim.url, httpClient });
      const { error } = await collect(gateProvider(direct, gate, log, { checkHeader: true }), hello);
      expect(error).toBeUndefined();
      const [request, ...more] = sim.requests();
      expect(more).toEqual([]);
      // Stamped by Redis after the close, and (one host, one clock) before the request arrived.
      const atUs = request!.gateCheck?.atUs ?? 0;
      expect(atUs).toBeGreaterThan(closed.atUs);
      expect(atUs / 1000).toBeGreaterThanOrEqual(before - 1);
      expect(atUs / 1000).toBeLessThanOrEqual(Date.parse(request!.time) + 1);
      sim.clearRequests();
    }
  });

  it('with the check header off (the default), requests carry none', async () => {
    const gate = newGate();
    await gate.close(1);
    const { error } = await collect(gateProvider(provider, gate, log), hello);
    expect(error).toBeUndefined();
    const [request] = sim.requests();
    expect(request).toBeDefined();
    expect(request!.gateCheck).toBeUndefined();
  });

  it('holds a token count the same way', async () => {
    const gate = newGate();
    const onTheWay = closingOnTheWay(gate);
    const tokens = await gateProvider(onTheWay.provider, gate, log).countTokens(hello);
    expect(tokens).toBeGreaterThan(0);
    expect(Date.now() - onTheWay.closedAt()).toBeGreaterThanOrEqual(GATE_MS);
    expect(events).toContain('claude.send_held');
  });

  it('a call cancelled while held at the send ends cancelled, and nothing reaches the simulator', async () => {
    const gate = newGate();
    const onTheWay = closingOnTheWay(gate, 60_000);
    const controller = new AbortController();
    const call = collect(gateProvider(onTheWay.provider, gate, log), { ...hello, signal: controller.signal });
    await waitFor(() => onTheWay.closedAt() > 0, { message: 'the gate closed on the way' });
    controller.abort();
    const { error } = await call;
    expect(classifyClaudeError(error).kind).toBe('cancelled');
    expect(Date.now() - onTheWay.closedAt()).toBeLessThan(60_000);
    expect(sim.requests()).toEqual([]);
  });
});
