/**
 * CPU and bytes allocated per SSE event of the SDK's `Stream` (`Stream.fromSSEResponse`) against the
 * provider's `sseEvents`, on the same recorded simulator wire: a 200-word reply with thinking, one
 * event per chunk as the simulator writes them, fed to a Node body one chunk at a time while the
 * decoder's `next()` waits (as a held stream reads). Each decoder runs in a child process of its own
 * with `--trace-gc-nvp` (V8's `allocated=` summed over the measured window); rounds alternate.
 *
 *   flock <cpu lock> node --import tsx test/bench/sse-decoding.ts [--streams=2000] [--rounds=3]
 */
import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import Anthropic from '@anthropic-ai/sdk';
import { Stream } from '@anthropic-ai/sdk/core/streaming';
import { buildParams, sseEvents } from '@turnstream/claude';
import { startSimulator } from '@turnstream/claude-sim';
import { parseGcLine } from './lib/gc.ts';
import { MODEL } from './lib/stack.ts';

type Decoder = 'sdk' | 'ours';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]),
);
const STREAMS = Number(args.streams ?? 2000);
const ROUNDS = Number(args.rounds ?? 3);

/** The wire of one reply, cut where the simulator's writes end (one event each), pings left out. */
async function recordWire(): Promise<Buffer[]> {
  const sim = await startSimulator({ tokenDelayMs: 0, replyWords: 200, seed: 'sse-decoding' });
  try {
    const client = new Anthropic({ apiKey: 'sk-bench', baseURL: sim.url, maxRetries: 0 });
    const response = await client.messages
      .create(
        buildParams({
          model: MODEL,
          messages: [{ role: 'user', content: 'Tell me about rivers.' }],
          maxTokens: 4096,
          thinking: { budgetTokens: 1024 },
        }),
      )
      .asResponse();
    const text = await response.text();
    return text
      .split(/(?<=\n\n)/)
      .filter((e) => e.trim() && !e.startsWith('event: ping'))
      .map((e) => Buffer.from(e));
  } finally {
    await sim.close();
  }
}

function iterate(decoder: Decoder, body: PassThrough): AsyncIterator<unknown> {
  const response = { body, headers: new Headers() };
  if (decoder === 'ours') return sseEvents(response, new AbortController());
  return Stream.fromSSEResponse(response as unknown as Response, new AbortController())[
    Symbol.asyncIterator
  ]();
}

async function runStreams(decoder: Decoder, wire: Buffer[], streams: number): Promise<number> {
  let events = 0;
  for (let s = 0; s < streams; s++) {
    const body = new PassThrough();
    const it = iterate(decoder, body);
    for (const chunk of wire) {
      body.write(chunk);
      if ((await it.next()).done) throw new Error('ended early');
      events++;
    }
    body.end();
    if (!(await it.next()).done) throw new Error('did not end');
  }
  return events;
}

/** Child: warm up, then measure `STREAMS` streams between two markers on stdout. */
async function child(decoder: Decoder, wirePath: string): Promise<void> {
  const { readFile } = await import('node:fs/promises');
  const wire = (JSON.parse(await readFile(wirePath, 'utf8')) as string[]).map((c) => Buffer.from(c));
  await runStreams(decoder, wire, Math.ceil(STREAMS / 4));
  console.log('MEASURE_BEGIN');
  const cpu = process.cpuUsage();
  const events = await runStreams(decoder, wire, STREAMS);
  const used = process.cpuUsage(cpu);
  console.log('MEASURE_END');
  console.log(JSON.stringify({ events, cpuUs: used.user + used.system }));
}

async function measure(
  decoder: Decoder,
  wirePath: string,
): Promise<{ usPerEvent: number; bytesPerEvent: number }> {
  const proc = spawn(
    process.execPath,
    [
      '--trace-gc-nvp',
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      `--child=${decoder}`,
      `--wire=${wirePath}`,
      `--streams=${STREAMS}`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  await new Promise((resolve) => proc.on('exit', resolve));
  const lines = out.split('\n');
  const begin = lines.indexOf('MEASURE_BEGIN');
  const end = lines.indexOf('MEASURE_END');
  let allocated = 0;
  for (const line of lines.slice(begin + 1, end)) allocated += parseGcLine(line, 0)?.allocatedBytes ?? 0;
  const result = JSON.parse(lines.slice(end + 1).find((l) => l.startsWith('{'))!) as {
    events: number;
    cpuUs: number;
  };
  return { usPerEvent: result.cpuUs / result.events, bytesPerEvent: allocated / result.events };
}

async function main(): Promise<void> {
  if (args.child) return child(args.child as Decoder, args.wire!);
  const { writeFile, mkdtemp } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const wire = await recordWire();
  const wirePath = join(await mkdtemp(join(tmpdir(), 'sse-decoding-')), 'wire.json');
  await writeFile(wirePath, JSON.stringify(wire.map((c) => c.toString())));
  console.log(`[sse-decoding] ${wire.length} events per stream, ${STREAMS} streams per round`);
  for (let r = 0; r < ROUNDS; r++) {
    const order: Decoder[] = r % 2 === 0 ? ['sdk', 'ours'] : ['ours', 'sdk'];
    for (const decoder of order) {
      const m = await measure(decoder, wirePath);
      console.log(
        `[sse-decoding] round ${r + 1} ${decoder.padEnd(4)} ${m.usPerEvent.toFixed(2)} µs CPU/event, ${Math.round(m.bytesPerEvent)} bytes/event`,
      );
    }
  }
}

await main();
