/**
 * CPU per stream-second of a plain SDK client holding many slow streams, with the platform fetch
 * (undici) and with the provider's node:http fetch, measured in the same run against one simulator
 * process (rounds alternate, so drift in the machine's load hits both alike). `--decoders=sdk,ours`
 * also alternates how the SSE body is decoded: the SDK's `Stream` (iterating what `create` returns) or
 * the provider's `sseEvents` over `create(...).asResponse()`.
 *
 *   flock <cpu lock> node --expose-gc --import tsx test/bench/sdk-client-cpu.ts \
 *     [--streams=300] [--rounds=2] [--clients=fetch,node] [--decoders=sdk]
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import Anthropic from '@anthropic-ai/sdk';
import { type ClaudeHttpClient, createNodeFetch, sseEvents } from '@turnstream/claude';
import { freePort } from '@turnstream/testkit';
import { MODEL } from './lib/stack.ts';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]),
);
const STREAMS = Number(args.streams ?? 300);
const ROUNDS = Number(args.rounds ?? 2);
const CLIENTS = (args.clients ?? 'fetch,node').split(',') as ClaudeHttpClient[];
const DECODERS = (args.decoders ?? 'sdk').split(',') as Decoder[];
const WORDS = 100;
const DELAY_MS = 50; // 20 tokens/s, as the bench's held scenario
const SPREAD_MS = 2000;

type Decoder = 'sdk' | 'ours';

interface Round {
  client: ClaudeHttpClient;
  decoder: Decoder;
  cpuMsPerStreamSecond: number;
  firstChunkP50Ms: number;
  completed: number;
}

/** The events of one streamed create, decoded by the SDK's `Stream` or by `sseEvents`. */
async function eventsOf(
  sdk: Anthropic,
  decoder: Decoder,
  params: Anthropic.MessageCreateParamsStreaming,
): Promise<AsyncIterable<Anthropic.RawMessageStreamEvent>> {
  if (decoder === 'sdk') return sdk.messages.create(params);
  const response = await sdk.messages.create(params).asResponse();
  const events = sseEvents(response, new AbortController());
  return { [Symbol.asyncIterator]: () => events };
}

async function round(client: ClaudeHttpClient, decoder: Decoder, simUrl: string): Promise<Round> {
  const sdk = new Anthropic({
    apiKey: 'sim-key',
    baseURL: simUrl,
    maxRetries: 0,
    ...(client === 'node' ? { fetch: createNodeFetch() } : {}),
  });
  (globalThis as { gc?: () => void }).gc?.();
  const firstChunks: number[] = [];
  let completed = 0;
  const one = async (i: number) => {
    const started = performance.now();
    const stream = await eventsOf(sdk, decoder, {
      model: MODEL,
      max_tokens: 1024,
      messages: [{ role: 'user', content: `cpu ${client} ${i} [[sim words=${WORDS} delay=${DELAY_MS}]]` }],
      stream: true,
    });
    let first = true;
    for await (const event of stream) {
      if (first && event.type === 'content_block_delta') {
        firstChunks.push(performance.now() - started);
        first = false;
      }
      if (event.type === 'message_stop') completed++;
    }
  };
  const cpu = process.cpuUsage();
  const all: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; i < STREAMS; i++) {
    const due = start + (i * SPREAD_MS) / STREAMS - performance.now();
    if (due > 1) await new Promise((r) => setTimeout(r, due));
    all.push(one(i));
  }
  await Promise.all(all);
  const used = process.cpuUsage(cpu);
  const streamSeconds = (STREAMS * WORDS * DELAY_MS) / 1000;
  firstChunks.sort((a, b) => a - b);
  return {
    client,
    decoder,
    cpuMsPerStreamSecond: Math.round(((used.user + used.system) / 1000 / streamSeconds) * 1000) / 1000,
    firstChunkP50Ms: Math.round(firstChunks[Math.floor(firstChunks.length / 2)] ?? Number.NaN),
    completed,
  };
}

async function main(): Promise<void> {
  const port = await freePort();
  const sim = spawn(process.execPath, ['--import', 'tsx', 'apps/claude-sim/src/main.ts'], {
    env: { ...process.env, SIM_PORT: String(port), SIM_TOKEN_DELAY_MS: '0', LOG_LEVEL: 'warn' },
    stdio: 'inherit',
  });
  const simUrl = `http://127.0.0.1:${port}`;
  try {
    for (let i = 0; ; i++) {
      const up = await fetch(`${simUrl}/__sim/health`).then(
        (r) => r.ok,
        () => false,
      );
      if (up) break;
      if (i > 600) throw new Error('simulator did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const decoder of DECODERS) await round(CLIENTS[0]!, decoder, simUrl); // warm-up: JIT, the simulator's first requests
    const rounds: Round[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      // Every other round in reverse order, so a drift of the machine's load hits each alike.
      const decoders = r % 2 === 0 ? DECODERS : [...DECODERS].reverse();
      for (const client of CLIENTS) {
        for (const decoder of decoders) rounds.push(await round(client, decoder, simUrl));
      }
    }
    console.table(rounds);
    const mean = (keep: (r: Round) => boolean) => {
      const own = rounds.filter(keep);
      return own.reduce((s, r) => s + r.cpuMsPerStreamSecond, 0) / own.length;
    };
    if (CLIENTS.includes('node') && CLIENTS.includes('fetch')) {
      const ratio = mean((r) => r.client === 'node') / mean((r) => r.client === 'fetch');
      console.log(`node / fetch CPU per stream-second: ${ratio.toFixed(2)}`);
    }
    if (DECODERS.includes('sdk') && DECODERS.includes('ours')) {
      const ratio = mean((r) => r.decoder === 'ours') / mean((r) => r.decoder === 'sdk');
      console.log(`ours / sdk decoder CPU per stream-second: ${ratio.toFixed(2)}`);
    }
  } finally {
    sim.kill();
  }
}

await main();
