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

/** A source the test feeds one value at a time (`push`, `end`, `fail`); counts reads, knows if closed. */
function fedSource() {
  const state = { reads: 0, closed: false };
  const queue: Array<IteratorResult<number> | Error> = [];
  let waiting: (() => void) | null = null;
  const deliver = (item: IteratorResult<number> | Error) => {
    queue.push(item);
    waiting?.();
    waiting = null;
  };
  const iterator: AsyncIterator<number> & AsyncIterable<number> = {
    async next() {
      state.reads++;
      while (queue.length === 0) await new Promise<void>((resolve) => (waiting = resolve));
      const item = queue.shift()!;
      if (item instanceof Error) throw item;
      return item;
    },
    async return() {
      state.closed = true;
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  return {
    state,
    source: iterator,
    push: (value: number) => deliver({ done: false, value }),
    end: () => deliver({ done: true, value: undefined }),
    fail: (error: Error) => deliver(error),
  };
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

  it('takeHeld takes the held chunks from the front while accepted; iteration goes on with the rest', async () => {
    const { source } = countingSource(20);
    const stream = new EarlyStream(source, { signal: new AbortController().signal, maxHeld: 8 });
    await waitFor(() => stream.pending === 8, { message: 'the stream to fill up to its bound' });
    const below5 = (x: number): x is number => x < 5;
    expect(stream.takeHeld(below5)).toEqual([0, 1, 2, 3, 4]);
    expect(stream.takeHeld(below5)).toEqual([]);
    expect(await collect(stream)).toEqual(Array.from({ length: 15 }, (_, i) => i + 5));
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

  it('hands the reading over once the consumer caught up: every chunk once, in order, to the end', async () => {
    const fed = fedSource();
    const stream = new EarlyStream(fed.source, { signal: new AbortController().signal });
    fed.push(0);
    fed.push(1);
    await waitFor(() => stream.pending === 2, { message: 'the early chunks to be held' });
    const iterator = stream[Symbol.asyncIterator]();
    expect(await iterator.next()).toEqual({ done: false, value: 0 });
    expect(await iterator.next()).toEqual({ done: false, value: 1 });
    // Caught up: the chunk being read is the pump's last.
    const third = iterator.next();
    fed.push(2);
    expect(await third).toEqual({ done: false, value: 2 });
    expect(stream.handedOver).toBe(true);
    const readsBefore = fed.state.reads;
    for (let i = 3; i < 10; i++) {
      const next = iterator.next();
      fed.push(i);
      expect(await next).toEqual({ done: false, value: i });
    }
    // One read of the source per chunk from then on: the consumer's own.
    expect(fed.state.reads - readsBefore).toBe(7);
    const last = iterator.next();
    fed.end();
    expect(await last).toEqual({ done: true, value: undefined });
  });

  it('a stop after the hand-over closes the source, and the consumer sees an error', async () => {
    const fed = fedSource();
    const controller = new AbortController();
    const stream = new EarlyStream(fed.source, { signal: controller.signal });
    const iterator = stream[Symbol.asyncIterator]();
    const first = iterator.next();
    fed.push(0);
    expect(await first).toEqual({ done: false, value: 0 });
    expect(stream.handedOver).toBe(true);
    controller.abort();
    await expect(iterator.next()).rejects.toBeInstanceOf(EarlyStreamStoppedError);
    expect(fed.state.closed).toBe(true);
  });

  it('an error of the source after the hand-over reaches the consumer', async () => {
    const fed = fedSource();
    const stream = new EarlyStream(fed.source, { signal: new AbortController().signal });
    const seen: number[] = [];
    const consuming = (async () => {
      for await (const x of stream) seen.push(x);
    })();
    fed.push(1);
    await waitFor(() => stream.handedOver, { message: 'the reading to be handed over' });
    fed.push(2);
    fed.fail(new Error('connection reset'));
    await expect(consuming).rejects.toThrow('connection reset');
    expect(seen).toEqual([1, 2]);
  });

  it('a consumer stopping early after the hand-over closes the source', async () => {
    const fed = fedSource();
    const stream = new EarlyStream(fed.source, { signal: new AbortController().signal });
    const consuming = (async () => {
      for await (const x of stream) if (x === 1) break;
    })();
    fed.push(0);
    await waitFor(() => stream.handedOver, { message: 'the reading to be handed over' });
    fed.push(1);
    await consuming;
    expect(fed.state.closed).toBe(true);
  });
});
