import { waitFor } from '@turnstream/testkit';
import { describe, expect, it } from 'vitest';
import { EarlyStream, EarlyStreamStoppedError } from '../src/early-stream.ts';

/** A source of `n` numbers that counts how many were read and whether it was closed. */
function countingSource(n: number) {
  const state = { read: 0, closed: false };
  async function* source() {
    try {
      for (let i = 0; i < n; i++) {
        state.read++;
        yield i;
      }
    } finally {
      state.closed = true;
    }
  }
  return { state, source: source() };
}

/** Let the stream's reading run as far as it will (a few turns of the event loop). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

async function collect(stream: AsyncIterable<number>): Promise<number[]> {
  const out: number[] = [];
  for await (const x of stream) out.push(x);
  return out;
}

describe('EarlyStream', () => {
  it('holds at most maxHeld chunks before the consumer starts, then delivers every chunk in order', async () => {
    const { state, source } = countingSource(100);
    const stream = new EarlyStream(source, { signal: new AbortController().signal, maxHeld: 8 });
    await waitFor(() => stream.pending === 8, { message: 'the stream to fill up to its bound' });
    await settle();
    expect(stream.pending).toBe(8);
    expect(state.read).toBeLessThanOrEqual(9);
    expect(await collect(stream)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(state.closed).toBe(true);
  });

  it('a stop while reading is paused closes the source, and the consumer sees an error', async () => {
    const { state, source } = countingSource(100);
    const controller = new AbortController();
    const stream = new EarlyStream(source, { signal: controller.signal, maxHeld: 4 });
    await waitFor(() => stream.pending === 4, { message: 'the stream to fill up to its bound' });
    controller.abort();
    await waitFor(() => state.closed, { message: 'the source to be closed' });
    expect(state.read).toBeLessThanOrEqual(5);
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const x of stream) seen.push(x);
      })(),
    ).rejects.toBeInstanceOf(EarlyStreamStoppedError);
    expect(seen).toEqual([0, 1, 2, 3]);
  });

  it('a stop before anything was read closes the source without reading it', async () => {
    const { state, source } = countingSource(10);
    const stream = new EarlyStream(source, { signal: AbortSignal.abort(), maxHeld: 4 });
    await expect(collect(stream)).rejects.toBeInstanceOf(EarlyStreamStoppedError);
    expect(state.read).toBe(0);
  });

  it('an error of the source reaches the consumer after the chunks before it', async () => {
    async function* failing() {
      yield 1;
      yield 2;
      throw new Error('connection reset');
    }
    const stream = new EarlyStream(failing(), { signal: new AbortController().signal });
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const x of stream) seen.push(x);
      })(),
    ).rejects.toThrow('connection reset');
    expect(seen).toEqual([1, 2]);
  });
});
