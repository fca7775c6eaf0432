/**
 * The baseline: the Anthropic SDK streaming straight from the simulator, with the same contents,
 * concurrency and spread as the Turnstream client.
 */
import { performance } from 'node:perf_hooks';
import Anthropic from '@anthropic-ai/sdk';
import { serveDriver } from '../lib/driver.ts';
import type { HistoryMessage } from '../lib/history.ts';
import { MODEL } from '../lib/stack.ts';
import { TurnRecorder, type TurnRunSummary } from '../lib/turns.ts';

let client: Anthropic;
const MAX_TOKENS = 1024;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function streamOne(
  recorder: TurnRecorder,
  content: string,
  history: HistoryMessage[] = [],
): Promise<void> {
  const rec = recorder.begin(performance.now());
  try {
    const stream = await client.messages.create({
      model: MODEL,
      max_tokens: MAX_TOKENS,
      messages: [...history, { role: 'user', content }],
      stream: true,
    });
    let stopped = false;
    for await (const event of stream) {
      if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') {
        recorder.chunk(rec, performance.now());
      } else if (event.type === 'message_stop') stopped = true;
    }
    recorder.finish(rec, stopped ? 'completed' : 'incomplete', performance.now());
  } catch (err) {
    recorder.finish(rec, `error:${(err as Error).name}`, performance.now());
  }
}

serveDriver({
  init(p: { simUrl: string }) {
    client = new Anthropic({ apiKey: 'sim-key', baseURL: p.simUrl, maxRetries: 0 });
  },

  async held(p: { contents: string[]; spreadMs: number; deadlineMs: number }): Promise<TurnRunSummary> {
    const recorder = new TurnRecorder();
    const start = performance.now();
    const step = p.contents.length > 1 ? p.spreadMs / (p.contents.length - 1) : 0;
    const all: Promise<void>[] = [];
    for (let i = 0; i < p.contents.length; i++) {
      const due = start + i * step - performance.now();
      if (due > 1) await sleep(due);
      all.push(streamOne(recorder, p.contents[i]!));
    }
    await Promise.race([Promise.all(all), sleep(p.deadlineMs)]);
    return recorder.summary();
  },

  /** The closed loop; `history` (completed exchanges) goes before each request's message. */
  async loop(p: {
    contents: string[];
    concurrency: number;
    durationMs: number;
    history?: HistoryMessage[];
  }): Promise<TurnRunSummary> {
    const recorder = new TurnRecorder();
    let next = 0;
    const stopAt = performance.now() + p.durationMs;
    await Promise.all(
      Array.from({ length: p.concurrency }, async () => {
        while (performance.now() < stopAt) {
          const i = next++;
          await streamOne(recorder, p.contents[i % p.contents.length]!, p.history);
        }
      }),
    );
    return recorder.summary();
  },
});
