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
 * request back. Both with the gate read from Redis and with the worker's local mirror of it (kept
 * current by the closes published on the gate's channel). Real Redis, the real SDK over HTTP to the
 * simulator.
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
const gates: ClaudeRateGate[] = [];
const connections: Redis[] = [];
afterAll(async () => {
  await Promise.all(gates.map((g) => g.stopMirror()));
  await Promise.all(connections.map((c) => c.quit()));
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

type GateFactory = (keyId?: string) => Promise<ClaudeRateGate>;

/** A gate read from Redis at every check. */
const readGate: GateFactory = async (keyId = randomBytes(4).toString('hex')) =>
  new ClaudeRateGate(redis, { redisPrefix: prefix, keyId });

/** A gate with its local mirror (as a worker keeps it): the check reads no Redis while it is current. */
const mirroredGate: GateFactory = async (keyId = randomBytes(4).toString('hex')) => {
  const connection = redis.duplicate();
  connections.push(connection);
  const gate = new ClaudeRateGate(connection, { redisPrefix: prefix, keyId });
  gates.push(gate);
  // Reads the gate again only every minute: a close here reaches it published (or made by itself).
  await gate.startMirror(log, { checkMs: 60_000 });
  return gate;
};

const hello = { model: MODEL, messages: [{ role: 'user' as const, content: 'Hello' }], maxTokens: 200 };

describe.each([
  ['read from Redis', readGate],
  ['mirrored locally', mirroredGate],
])('the rate gate at the send, %s', (_name, newGate) => {
  it('holds a stream whose gate closed after it passed the gate until the gate opens; the stream completes', async () => {
    const gate = await newGate();
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
    const gate = await newGate();
    const { chunks, error } = await collect(gateProvider(provider, gate, log), hello);
    expect(error).toBeUndefined();
    expect(completed(chunks).text.length).toBeGreaterThan(0);
    expect(sim.requests()).toHaveLength(1);
    expect(events).not.toContain('claude.send_held');
  });

  it('holds a token count the same way', async () => {
    const gate = await newGate();
    const onTheWay = closingOnTheWay(gate);
    const tokens = await gateProvider(onTheWay.provider, gate, log).countTokens(hello);
    expect(tokens).toBeGreaterThan(0);
    expect(Date.now() - onTheWay.closedAt()).toBeGreaterThanOrEqual(GATE_MS);
    expect(events).toContain('claude.send_held');
  });

  it('a call cancelled while held at the send ends cancelled, and nothing reaches the simulator', async () => {
    const gate = await newGate();
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

describe('the mirrored gate at the send', () => {
  it("holds a request when another worker's 429 closed the gate after the request passed it", async () => {
    const keyId = randomBytes(4).toString('hex');
    const gate = await mirroredGate(keyId);
    // Another worker: its own gate on its own connection, closing the shared gate as its 429 would.
    const other = new ClaudeRateGate(redis, { redisPrefix: prefix, keyId });
    let closedAt = 0;
    const onTheWay: ClaudeProvider = {
      stream: async function* (req: StreamRequest) {
        closedAt = Date.now();
        await other.close(GATE_MS);
        // The close reaches this worker published (its mirror reads the gate only every minute).
        await waitFor(async () => (await gate.remainingMs()) > 0, { message: 'the close to be published' });
        yield* provider.stream(req);
      },
      countTokens: (req) => provider.countTokens(req),
    };
    const { chunks, error } = await collect(gateProvider(onTheWay, gate, log), hello);
    expect(error).toBeUndefined();
    expect(completed(chunks).text.length).toBeGreaterThan(0);
    const [request] = sim.requests();
    expect(Date.parse(request!.time) - closedAt).toBeGreaterThanOrEqual(GATE_MS);
    expect(events).toContain('claude.send_held');
  });
});
