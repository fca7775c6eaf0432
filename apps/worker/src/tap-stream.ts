/** What a tapped stream reports (see {@link tapStream}). */
export interface StreamTap<T> {
  /** Each chunk, as the consumer receives it. A throw fails the stream (the source is closed). */
  chunk?: (chunk: T) => void;
  /** The source ended (after its last chunk). */
  done?: () => void;
  /** The source failed: awaited before the consumer gets the same error. */
  error?: (err: unknown) => void | Promise<void>;
  /** Once, however the stream ended: done, failed, or stopped by the consumer (`return`). */
  end?: () => void;
}

/**
 * The stream `open()` returns, with `tap` told of its chunks, its end and its failure: what an
 * `async function*` wrapper (`yield*`, or `for await` and `yield`) does, without its cost on every
 * chunk. Such a layer adds a request, a promise, an await of the source's step and another of the
 * yielded value to each chunk; this adds one `then`. Under a worker holding thousands of streams those
 * per-chunk objects were a good part of the garbage the young generation copied at every scavenge.
 *
 * As with an async generator, nothing is opened until the first `next()`, a `return()` before it opens
 * nothing, and a `return()` later closes the source.
 */
export function tapStream<T>(open: () => AsyncIterable<T>, tap: StreamTap<T>): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      let source: AsyncIterator<T> | undefined;
      let ended = false;
      const end = () => {
        if (ended) return;
        ended = true;
        tap.end?.();
      };
      const failed = async (err: unknown): Promise<never> => {
        if (!ended) {
          try {
            await tap.error?.(err);
          } finally {
            end();
          }
        }
        throw err;
      };
      const step = (result: IteratorResult<T>): IteratorResult<T> | Promise<never> => {
        if (ended) return result;
        try {
          if (result.done) {
            tap.done?.();
            end();
          } else tap.chunk?.(result.value);
        } catch (err) {
          // As a throw in a `for await` body: the source is closed, the consumer gets the error.
          return Promise.resolve(source?.return?.())
            .catch(() => undefined)
            .then(() => failed(err));
        }
        return result;
      };
      return {
        next: () => {
          if (!source) {
            try {
              source = open()[Symbol.asyncIterator]();
            } catch (err) {
              return failed(err);
            }
          }
          return source.next().then(step, failed);
        },
        return: async (value?: unknown): Promise<IteratorResult<T>> => {
          if (!source || ended) {
            ended = true;
            return { done: true, value: value as T };
          }
          try {
            return (await source.return?.(value)) ?? { done: true, value: value as T };
          } finally {
            end();
          }
        },
      };
    },
  };
}
