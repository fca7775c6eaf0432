import type { TurnEvent } from '@turnstream/contracts';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ChunkCoalescer, CoalescerClosedError } from '../src/index.ts';

const chunk = (text: string, messageId = 'm1'): TurnEvent => ({ type: 'chunk', messageId, text });
const thinking = (text: string, messageId = 'm1'): TurnEvent => ({ type: 'thinking', messageId, text });
const completed = (messageId = 'm1'): TurnEvent => ({
  type: 'turn.completed',
  messageId,
  replyId: 'r1',
  content: 'done',
  stopReason: 'end_turn',
});

/** A flush target recording batches; `hold()` makes the next flushes wait until released. */
function recorder() {
  const batches: TurnEvent[][] = [];
  let active = 0;
  let maxActive = 0;
  let gate: Promise<void> | null = null;
  let open: (() => void) | null = null;
  return {
    batches,
    get maxActive() {
      return maxActive;
    },
    hold() {
      gate = new Promise((resolve) => {
        open = resolve;
      });
    },
    release() {
      gate = null;
      open?.();
    },
    flush: async (events: TurnEvent[]) => {
      active++;
      maxActive = Math.max(maxActive, active);
      batches.push(structuredClone(events));
      if (gate) await gate;
      active--;
    },
  };
}

const settle = () => vi.advanceTimersByTimeAsync(0);
const summary = (batches: TurnEvent[][]) =>
  batches.map((batch) => batch.map((e) => ('text' in e ? `${e.type}:${e.text}` : e.type)));

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('ChunkCoalescer', () => {
  it('flushes the first delta at once and merges later ones within the window', async () => {
    const target = recorder();
    const coalescer = new ChunkCoalescer({ flush: target.flush });
    coalescer.push(chunk('Hel'));
    await settle();
    expect(summary(target.batches)).toEqual([['chunk:Hel']]);
    coalescer.push(chunk('lo'));
    coalescer.push(chunk(', wor'));
    await vi.advanceTimersByTimeAsync(29);
    expect(target.batches).toHaveLength(1);
    coalescer.push(chunk('ld'));
    await vi.advanceTimersByTimeAsync(1);
    expect(summary(target.batches)).toEqual([['chunk:Hel'], ['chunk:lo, world']]);
    await coalescer.close();
    expect(target.batches).toHaveLength(2);
  });

  it('asks a window function at each merge start, so a later merge can wait longer', async () => {
    const target = recorder();
    let windowMs = 10;
    const coalescer = new ChunkCoalescer({ flush: target.flush, windowMs: () => windowMs });
    coalescer.push(chunk('a'));
    await settle();
    coalescer.push(chunk('b'));
    await vi.advanceTimersByTimeAsync(10);
    expect(summary(target.batches)).toEqual([['chunk:a'], ['chunk:b']]);
    // The worker now holds more streams: the next merge waits 50 ms, and takes what came meanwhile.
    windowMs = 50;
    coalescer.push(chunk('c'));
    await vi.advanceTimersByTimeAsync(10);
    coalescer.push(chunk('d'));
    await vi.advanceTimersByTimeAsync(39);
    expect(target.batches).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(summary(target.batches)).toEqual([['chunk:a'], ['chunk:b'], ['chunk:cd']]);
    await coalescer.close();
  });

  it('flushes pending text before a non-delta event, in one ordered batch', async () => {
    const target = recorder();
    const coalescer = new ChunkCoalescer({ flush: target.flush });
    coalescer.push({ type: 'turn.started', messageId: 'm1', replyId: 'r1', attempt: 1 });
    coalescer.push(chunk('a'));
    await settle();
    coalescer.push(chunk('b'));
    coalescer.push(chunk('c'));
    coalescer.push(completed());
    await settle();
    expect(summary(target.batches)).toEqual([
      ['turn.started', 'chunk:a'],
      ['chunk:bc', 'turn.completed'],
    ]);
  });

  it('merges thinking and chunk separately and keeps their order', async () => {
    const target = recorder();
    const coalescer = new ChunkCoalescer({ windowMs: 20, flush: target.flush });
    coalescer.push(thinking('t1'));
    await settle();
    coalescer.push(thinking('t2'));
    coalescer.push(thinking('t3'));
    coalescer.push(chunk('x1')); // the first text delta: flushed at once, after the pending thinking
    await settle();
    coalescer.push(chunk('x2'));
    coalescer.push(thinking('t4'));
    coalescer.push(chunk('x3'));
    coalescer.push(chunk('x4'));
    await vi.advanceTimersByTimeAsync(20);
    expect(summary(target.batches)).toEqual([
      ['thinking:t1'],
      ['thinking:t2t3', 'chunk:x1'],
      ['chunk:x2', 'thinking:t4', 'chunk:x3x4'],
    ]);
  });

  it('does not merge deltas of different messages', async () => {
    const target = recorder();
    const coalescer = new ChunkCoalescer({ flush: target.flush });
    coalescer.push(chunk('a', 'm1'));
    coalescer.push(chunk('b', 'm2'));
    await settle();
    coalescer.push(chunk('c', 'm1'));
    coalescer.push(chunk('d', 'm2'));
    coalescer.push(chunk('e', 'm2'));
    await coalescer.flush();
    expect(summary(target.batches)).toEqual([
      ['chunk:a', 'chunk:b'],
      ['chunk:c', 'chunk:de'],
    ]);
  });

  it('caps merged text at maxChars and flushes a full delta without waiting', async () => {
    const target = recorder();
    const coalescer = new ChunkCoalescer({ maxChars: 5, flush: target.flush });
    coalescer.push(chunk('x'));
    await settle();
    coalescer.push(chunk('abc'));
    coalescer.push(chunk('de')); // reaches 5: flushed now
    await settle();
    expect(summary(target.batches)).toEqual([['chunk:x'], ['chunk:abcde']]);
    coalescer.push(chunk('fgh'));
    coalescer.push(chunk('ijk')); // would exceed 5: a new delta, the full one is flushed now
    await settle();
    expect(summary(target.batches).at(-1)).toEqual(['chunk:fgh', 'chunk:ijk']);
    coalescer.push(chunk('a-single-delta-longer-than-the-cap')); // never split
    await settle();
    expect(summary(target.batches).at(-1)).toEqual(['chunk:a-single-delta-longer-than-the-cap']);
    for (const batch of target.batches) {
      for (const event of batch) {
        if (event.type === 'chunk' && event.text.length > 5) expect(batch).toHaveLength(1);
      }
    }
  });

  it('shows the first delta after a reset at once, even when the reset was flushed on its own', async () => {
    const target = recorder();
    const coalescer = new ChunkCoalescer({ flush: target.flush, windowMs: 60_000 });
    coalescer.push(chunk('a'));
    await settle();
    coalescer.push(chunk('a2'));
    await vi.advanceTimersByTimeAsync(60_000);
    coalescer.push({ type: 'turn.reset', messageId: 'm1', reason: 'retry' });
    await settle();
    expect(summary(target.batches)).toEqual([['chunk:a'], ['chunk:a2'], ['turn.reset']]);
    coalescer.push(chunk('b'));
    await settle();
    // No window waited: the first delta of the new attempt is out at once.
    expect(summary(target.batches).at(-1)).toEqual(['chunk:b']);
  });

  it('shows the first delta at once again after a reset', async () => {
    const target = recorder();
    const coalescer = new ChunkCoalescer({ flush: target.flush });
    coalescer.push(chunk('a'));
    coalescer.push({ type: 'turn.reset', messageId: 'm1', reason: 'retry' });
    coalescer.push(chunk('b'));
    await settle();
    coalescer.push(chunk('c'));
    await settle();
    expect(summary(target.batches)).toEqual([['chunk:a', 'turn.reset', 'chunk:b']]);
    await vi.advanceTimersByTimeAsync(30);
    expect(summary(target.batches).at(-1)).toEqual(['chunk:c']);
  });

  it('never runs two flushes at once; deltas keep merging while one is in flight', async () => {
    const target = recorder();
    const coalescer = new ChunkCoalescer({ flush: target.flush });
    target.hold();
    coalescer.push(chunk('1'));
    await settle();
    expect(target.batches).toHaveLength(1);
    coalescer.push(chunk('2'));
    coalescer.push(chunk('3'));
    await vi.advanceTimersByTimeAsync(100);
    coalescer.push(completed());
    coalescer.push(chunk('4', 'm2'));
    await vi.advanceTimersByTimeAsync(100);
    expect(target.batches).toHaveLength(1); // still waiting for the first flush
    target.release();
    await coalescer.flush();
    expect(target.maxActive).toBe(1);
    expect(summary(target.batches)).toEqual([['chunk:1'], ['chunk:23', 'turn.completed', 'chunk:4']]);
  });

  it('propagates a flush error to the next push, flush and close, and stops', async () => {
    const failure = new Error('redis down');
    const batches: TurnEvent[][] = [];
    const coalescer = new ChunkCoalescer({
      flush: async (events) => {
        batches.push(events);
        throw failure;
      },
    });
    coalescer.push(chunk('a'));
    await settle();
    expect(() => coalescer.push(chunk('b'))).toThrow(failure);
    await expect(coalescer.flush()).rejects.toBe(failure);
    await expect(coalescer.close()).rejects.toBe(failure);
    expect(batches).toHaveLength(1);
  });

  it('stops the same way when the flush throws instead of rejecting', async () => {
    const failure = new Error('fenced out');
    let calls = 0;
    const coalescer = new ChunkCoalescer({
      flush: () => {
        calls++;
        throw failure;
      },
    });
    coalescer.push(chunk('a'));
    await settle();
    expect(() => coalescer.push(chunk('b'))).toThrow(failure);
    await expect(coalescer.flush()).rejects.toBe(failure);
    expect(calls).toBe(1);
  });

  it('close() flushes what is pending; push afterwards throws', async () => {
    const target = recorder();
    const coalescer = new ChunkCoalescer({ flush: target.flush });
    const events = [chunk('a'), chunk('b'), chunk('c')];
    for (const event of events) coalescer.push(event);
    await coalescer.close();
    expect(summary(target.batches)).toEqual([['chunk:abc']]);
    // The caller's objects are not mutated (the one merged into is copied first).
    expect(events).toEqual([chunk('a'), chunk('b'), chunk('c')]);
    expect(() => coalescer.push(chunk('d'))).toThrow(CoalescerClosedError);
    await coalescer.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('validates its options', () => {
    const flush = async () => {};
    expect(() => new ChunkCoalescer({ flush, maxChars: 0 })).toThrow(RangeError);
    expect(() => new ChunkCoalescer({ flush, windowMs: -1 })).toThrow(RangeError);
  });
});
