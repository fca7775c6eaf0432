/** The simulator in-process, for driving the real SDK and the provider against it over HTTP. */
export {
  type FaultRule,
  type RunningSimulator,
  type SimulatorOptions,
  startSimulator,
} from '@turnstream/claude-sim';

import type { ClaudeChunk, ClaudeProvider, StreamRequest } from '@turnstream/claude';

/** Drains a provider stream; returns the chunks, or the error it threw (never throws). */
export async function collect(
  provider: ClaudeProvider,
  req: StreamRequest,
): Promise<{ chunks: ClaudeChunk[]; error: unknown }> {
  const chunks: ClaudeChunk[] = [];
  try {
    for await (const chunk of provider.stream(req)) chunks.push(chunk);
    return { chunks, error: undefined };
  } catch (error) {
    return { chunks, error };
  }
}

/** The `message_completed` chunk of a drained stream. */
export function completed(chunks: ClaudeChunk[]): Extract<ClaudeChunk, { type: 'message_completed' }> {
  const last = chunks.at(-1);
  if (last?.type !== 'message_completed') throw new Error(`stream did not complete (last: ${last?.type})`);
  return last;
}

export const MODEL = 'claude-sonnet-4-6';

/**
 * Streams a long reply and aborts the caller's signal once `afterChunks` chunks arrived; returns the
 * chunk types received, the error the stream ended with (none if it did not throw), and the signal.
 */
export async function abortMidStream(
  provider: ClaudeProvider,
  afterChunks = 2,
): Promise<{ received: string[]; caught: unknown; signal: AbortSignal }> {
  const controller = new AbortController();
  const received: string[] = [];
  let caught: unknown;
  try {
    for await (const chunk of provider.stream({
      model: MODEL,
      messages: [{ role: 'user', content: 'long one [[sim words=500 delay=2]]' }],
      maxTokens: 4096,
      signal: controller.signal,
    })) {
      received.push(chunk.type);
      if (received.length === afterChunks) controller.abort();
    }
  } catch (err) {
    caught = err;
  }
  return { received, caught, signal: controller.signal };
}
