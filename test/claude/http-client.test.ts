import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { APIConnectionError, APIUserAbortError } from '@anthropic-ai/sdk';
import {
  type ClaudeChunk,
  type ClaudeHttpClient,
  type ClaudeProvider,
  ClaudeStreamIdleError,
  ClaudeStreamIncompleteError,
  classifyClaudeError,
  claudeRequestIdOf,
  createClaudeProvider,
  type TranscriptMessage,
} from '@turnstream/claude';
import { createSimulator } from '@turnstream/claude-sim';
import { waitFor } from '@turnstream/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { abortMidStream, collect, type FaultRule, MODEL, type RunningSimulator } from './support/sim.ts';

/**
 * The provider's two HTTP clients, `node` (node:http, the default) and `fetch` (the platform's), driven
 * through the real SDK over HTTP: the same chunks, the same errors, the same classification.
 */

const CLIENTS: ClaudeHttpClient[] = ['node', 'fetch'];
// Long enough that a loaded machine never idles that long between chunks of a healthy stream.
const IDLE_MS = 1500;
const hello: TranscriptMessage[] = [{ role: 'user', content: 'Hello' }];

let sim: RunningSimulator;
let simConnections = 0;
const providers = {} as Record<ClaudeHttpClient, ClaudeProvider>;

beforeAll(async () => {
  const simulator = createSimulator({ tokenDelayMs: 0, replyWords: 10, seed: 'http-client' });
  simulator.server.on('connection', () => simConnections++);
  sim = await simulator.listen();
  for (const httpClient of CLIENTS) {
    providers[httpClient] = createClaudeProvider({
      apiKey: 'sk-test',
      baseURL: sim.url,
      idleTimeoutMs: IDLE_MS,
      httpClient,
    });
  }
});
afterEach(() => {
  sim.clearFaults();
});
afterAll(async () => {
  await sim.close();
});

/** Runs `run` with each client in turn; returns what each produced. */
async function underBoth<T>(
  run: (provider: ClaudeProvider) => Promise<T>,
): Promise<Record<ClaudeHttpClient, T>> {
  const out = {} as Record<ClaudeHttpClient, T>;
  for (const client of CLIENTS) out[client] = await run(providers[client]);
  return out;
}

const withoutRequestId = (chunks: ClaudeChunk[]) =>
  chunks.map((c) => (c.type === 'message_completed' ? { ...c, requestId: null } : c));

describe('streaming', () => {
  it('yields identical chunks under both clients', async () => {
    const seen = await underBoth(async (provider) => {
      const { chunks, error } = await collect(provider, {
        model: MODEL,
        messages: [{ role: 'user', content: 'Same reply please, ünïcode ✓' }],
        maxTokens: 4096,
        thinking: { budgetTokens: 1024 },
      });
      expect(error).toBeUndefined();
      const done = chunks.at(-1);
      expect(done?.type === 'message_completed' && done.requestId).toBe(sim.requests().at(-1)?.requestId);
      return chunks;
    });
    expect(seen.node.some((c) => c.type === 'thinking_delta')).toBe(true);
    expect(seen.node.at(-1)).toMatchObject({ type: 'message_completed', stopReason: 'end_turn' });
    expect(withoutRequestId(seen.node)).toEqual(withoutRequestId(seen.fetch));
  });

  it('countTokens answers the same under both clients', async () => {
    const counts = await underBoth((p) =>
      p.countTokens({ model: MODEL, system: 'Be brief.', messages: hello }),
    );
    expect(counts.node).toBeGreaterThan(0);
    expect(counts.node).toBe(counts.fetch);
  });

  it('the node client keeps its connection alive between requests', async () => {
    const fresh = createClaudeProvider({ apiKey: 'sk-test', baseURL: sim.url, httpClient: 'node' });
    const before = simConnections;
    for (let i = 0; i < 3; i++) {
      const { error } = await collect(fresh, { model: MODEL, messages: hello, maxTokens: 100 });
      expect(error).toBeUndefined();
    }
    expect(await fresh.countTokens({ model: MODEL, messages: hello })).toBeGreaterThan(0);
    expect(simConnections - before).toBe(1);
  });
});

describe('errors', () => {
  const statusFaults: Array<[FaultRule, unknown]> = [
    [
      { fault: 'rate_limited', retryAfterMs: 1500 },
      { kind: 'rate_limited', retryAfterMs: 1500 },
    ],
    [{ fault: 'overloaded' }, { kind: 'transient', backoffMs: 2000, reason: 'overloaded' }],
    [{ fault: 'server_error' }, { kind: 'transient', backoffMs: 1000, reason: 'http_500' }],
  ];

  it.each(statusFaults)(
    'a status error (%j) is classified the same under both clients',
    async (rule, expected) => {
      const classes = await underBoth(async (provider) => {
        sim.addFaults([{ ...rule, times: 1 }]);
        const { error } = await collect(provider, { model: MODEL, messages: hello, maxTokens: 100 });
        expect(claudeRequestIdOf(error)).toBe(sim.requests().at(-1)?.requestId);
        return classifyClaudeError(error);
      });
      expect(classes).toEqual({ node: expected, fetch: expected });
    },
  );

  it("a caller's abort mid-stream ends with APIUserAbortError and closes the connection", async () => {
    await underBoth(async (provider) => {
      const { received, caught } = await abortMidStream(provider);
      expect(received).toHaveLength(2);
      expect(caught).toBeInstanceOf(APIUserAbortError);
      await waitFor(() => sim.requests().at(-1)?.closedEarly === true);
    });
  });

  it('a stalled stream trips the idle watchdog, which closes the connection', async () => {
    const errors = await underBoth(async (provider) => {
      sim.addFaults([{ fault: 'stall', afterChunks: 2, times: 1 }]);
      const { chunks, error } = await collect(provider, { model: MODEL, messages: hello, maxTokens: 100 });
      expect(chunks.map((c) => c.type)).toEqual(['text_delta', 'text_delta']);
      await waitFor(() => sim.requests().at(-1)?.closedEarly === true);
      return error;
    });
    for (const error of Object.values(errors)) {
      expect(error).toBeInstanceOf(ClaudeStreamIdleError);
      expect(classifyClaudeError(error)).toEqual({
        kind: 'transient',
        backoffMs: 1000,
        reason: 'stream_idle',
      });
    }
  });

  it('a connection the server kills mid-body ends incomplete', async () => {
    const errors = await underBoth(async (provider) => {
      sim.addFaults([{ fault: 'disconnect_midstream', afterChunks: 3, times: 1 }]);
      const { chunks, error } = await collect(provider, { model: MODEL, messages: hello, maxTokens: 100 });
      expect(chunks).toHaveLength(3);
      return error;
    });
    for (const error of Object.values(errors)) {
      expect(error).toBeInstanceOf(ClaudeStreamIncompleteError);
      expect((error as ClaudeStreamIncompleteError).lastEvent).toBe('content_block_delta');
      expect(classifyClaudeError(error)).toEqual({
        kind: 'transient',
        backoffMs: 500,
        reason: 'stream_incomplete',
      });
    }
  });

  it('a refused connection is a retryable connection error', async () => {
    const dead = createServer();
    await listen(dead);
    const url = urlOf(dead);
    await new Promise<void>((resolve) => dead.close(() => resolve()));
    for (const httpClient of CLIENTS) {
      const offline = createClaudeProvider({ apiKey: 'k', baseURL: url, httpClient });
      const { error } = await collect(offline, { model: MODEL, messages: hello, maxTokens: 100 });
      expect(error).toBeInstanceOf(APIConnectionError);
      expect(classifyClaudeError(error)).toEqual({ kind: 'transient', backoffMs: 500, reason: 'connection' });
    }
  });
});

/** A bare HTTP server answering with whatever the test sets, recording what it was asked. */
describe('against a plain HTTP server', () => {
  let server: Server;
  const sockets = new Set<Socket>();
  const acceptEncodings: Array<string | undefined> = [];
  let answer: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end();

  beforeAll(async () => {
    server = createServer((req, res) => {
      acceptEncodings.push(req.headers['accept-encoding']);
      req.resume();
      req.on('end', () => answer(req, res));
    });
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await listen(server);
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const providerFor = (httpClient?: ClaudeHttpClient) =>
    createClaudeProvider({
      apiKey: 'k',
      baseURL: urlOf(server),
      idleTimeoutMs: IDLE_MS,
      ...(httpClient ? { httpClient } : {}),
    });

  const compress: Record<string, (body: string) => Promise<Buffer>> = {
    gzip: (b) => promisify(zlib.gzip)(b),
    deflate: (b) => promisify(zlib.deflate)(b),
    br: (b) => promisify(zlib.brotliCompress)(b),
  };

  function answerCompressed(status: number, encoding: string, body: unknown): void {
    answer = (_req, res) => {
      void compress[encoding]!(JSON.stringify(body)).then((bytes) => {
        res.writeHead(status, {
          'content-type': 'application/json',
          'content-encoding': encoding,
          'content-length': bytes.length,
          'request-id': 'req_compressed',
        });
        res.end(bytes);
      });
    };
  }

  it.each(Object.keys(compress))(
    'reads a %s-compressed JSON error body under both clients',
    async (encoding) => {
      answerCompressed(400, encoding, {
        type: 'error',
        error: {
          type: 'invalid_request_error',
          message: 'messages.3.content.0: Invalid `signature` in `thinking` block',
        },
      });
      for (const httpClient of CLIENTS) {
        const { error } = await collect(providerFor(httpClient), {
          model: MODEL,
          messages: hello,
          maxTokens: 100,
        });
        expect(claudeRequestIdOf(error)).toBe('req_compressed');
        expect(classifyClaudeError(error)).toEqual({
          kind: 'session_invalid',
          reason: 'thinking_signature_invalid',
        });
      }
    },
  );

  it('reads a gzip-compressed countTokens answer under both clients', async () => {
    answerCompressed(200, 'gzip', { input_tokens: 42 });
    for (const httpClient of CLIENTS) {
      expect(await providerFor(httpClient).countTokens({ model: MODEL, messages: hello })).toBe(42);
    }
  });

  it('the default client is node:http, which asks for an uncompressed body', async () => {
    answer = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ input_tokens: 7 }));
    };
    acceptEncodings.length = 0;
    expect(await providerFor().countTokens({ model: MODEL, messages: hello })).toBe(7);
    expect(await providerFor('fetch').countTokens({ model: MODEL, messages: hello })).toBe(7);
    expect(acceptEncodings[0]).toBe('identity');
    expect(acceptEncodings[1]).toMatch(/gzip/);
  });

  it('a connection closed before any answer is a retryable connection error under both clients', async () => {
    answer = (req) => req.socket.destroy();
    for (const httpClient of CLIENTS) {
      const { error } = await collect(providerFor(httpClient), {
        model: MODEL,
        messages: hello,
        maxTokens: 100,
      });
      expect(error).toBeInstanceOf(APIConnectionError);
      expect(classifyClaudeError(error)).toEqual({ kind: 'transient', backoffMs: 500, reason: 'connection' });
    }
  });
});

function listen(server: Server): Promise<void> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
}

function urlOf(server: Server): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
