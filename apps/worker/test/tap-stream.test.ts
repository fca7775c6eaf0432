import { describe, expect, it } from 'vitest';
import { tapStream } from '../src/tap-stream.ts';

/** A source that records what was asked of it; fails after its chunks when `failWith` is given. */
function source(chunks: number[], failWith?: Error) {
  const log: string[] = [];
  async function* gen() {
    log.push('opened');
    try {
      for (const c of chunks) yield c;
      if (failWith) throw failWith;
    } finally {
      log.push('closed');
    }
  }
  return { log, open: () => gen() };
}

function recorder() {
  const seen: string[] = [];
  return {
    seen,
    tap: {
      chunk: (c: number) => seen.push(`chunk ${c}`),
      done: () => seen.push('done'),
      error: async (err: unknown) => {
        await Promise.resolve();
        seen.push(`error ${(err as Error).message}`);
      },
      end: () => seen.push('end'),
    },
  };
}

describe('tapStream', () => {
  it('passes the chunks through and reports each, then the end once', async () => {
    const src = source([1, 2, 3]);
    const r = recorder();
    const got: number[] = [];
    for await (const c of tapStream(src.open, r.tap)) got.push(c);
    expect(got).toEqual([1, 2, 3]);
    expect(r.seen).toEqual(['chunk 1', 'chunk 2', 'chunk 3', 'done', 'end']);
    expect(src.log).toEqual(['opened', 'closed']);
  });

  it("awaits the error hook before the consumer gets the source's error", async () => {
    const boom = new Error('boom');
    const r = recorder();
    const got: number[] = [];
    const consume = async () => {
      for await (const c of tapStream(source([1], boom).open, r.tap)) got.push(c);
    };
    await expect(consume()).rejects.toBe(boom);
    expect(got).toEqual([1]);
    expect(r.seen).toEqual(['chunk 1', 'error boom', 'end']);
  });

  it('opens nothing until iterated; a consumer that stops closes the source and ends the tap', async () => {
    const src = source([1, 2, 3]);
    const r = recorder();
    const stream = tapStream(src.open, r.tap);
    const unused = stream[Symbol.asyncIterator]();
    await unused.return?.();
    expect(src.log).toEqual([]);
    for await (const c of stream) if (c === 2) break;
    expect(src.log).toEqual(['opened', 'closed']);
    expect(r.seen).toEqual(['chunk 1', 'chunk 2', 'end']);
  });

  it('a throwing chunk hook fails the stream and closes the source', async () => {
    const src = source([1, 2, 3]);
    const bad = new Error('hook');
    const seen: string[] = [];
    const stream = tapStream(src.open, {
      chunk: (c) => {
        if (c === 2) throw bad;
      },
      error: (err) => {
        seen.push(`error ${(err as Error).message}`);
      },
      end: () => seen.push('end'),
    });
    const got: number[] = [];
    const consume = async () => {
      for await (const c of stream) got.push(c);
    };
    await expect(consume()).rejects.toBe(bad);
    expect(got).toEqual([1]);
    expect(src.log).toEqual(['opened', 'closed']);
    expect(seen).toEqual(['error hook', 'end']);
  });
});
